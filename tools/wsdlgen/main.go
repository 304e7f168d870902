// Command wsdlgen is the eacgate code generation pass around gowsdl
// (github.com/hooklift/gowsdl). It is run by go generate in ../../generated:
//
//	wsdlgen prep -in WSDL -out GOWSDL_INPUT     before gowsdl
//	wsdlgen fix  -wsdl WSDL -dir PKGDIR -file GOFILE   after gowsdl
//
// See wsdl/README.md for the defects of gowsdl it works around.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	var err error
	switch os.Args[1] {
	case "prep":
		in := fs.String("in", "", "the WSDL as served (wsdl/*.wsdl)")
		out := fs.String("out", "", "where to write the WSDL gowsdl reads")
		_ = fs.Parse(os.Args[2:])
		if *in == "" || *out == "" {
			usage()
		}
		err = prep(*in, *out, srcName(*in))
	case "fix":
		in := fs.String("wsdl", "", "the WSDL as served (wsdl/*.wsdl)")
		dir := fs.String("dir", "", "the generated package directory")
		file := fs.String("file", "", "the file gowsdl wrote, relative to -dir")
		_ = fs.Parse(os.Args[2:])
		if *in == "" || *dir == "" || *file == "" {
			usage()
		}
		err = fix(*in, *dir, *file, srcName(*in))
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsdlgen:", err)
		os.Exit(1)
	}
}

// srcName is the WSDL path as named in generated headers: slash-separated and
// relative to the module root (go generate runs in generated/).
func srcName(p string) string {
	p = filepath.ToSlash(filepath.Clean(p))
	for strings.HasPrefix(p, "../") {
		p = p[3:]
	}
	return p
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: wsdlgen prep -in WSDL -out FILE | wsdlgen fix -wsdl WSDL -dir DIR -file GOFILE")
	os.Exit(2)
}
