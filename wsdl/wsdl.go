// Package wsdl embeds eacgate's WSDL 1.1 and XSD files so that the server can
// serve them at ?wsdl (see README.md in this directory).
//
// Every WSDL inlines its schema in wsdl:types, so a client needs nothing but the
// WSDL itself; the XSD files are the same schemas, standalone. The
// soap:address location in each WSDL is the placeholder AddressPlaceholder;
// Served replaces it with the endpoint's public URL.
package wsdl

import (
	"bytes"
	"embed"
	"encoding/xml"
	"fmt"
	"io/fs"
	"sort"
)

//go:embed *.wsdl *.xsd
var files embed.FS

// AddressPlaceholder is the soap:address location in the embedded WSDLs.
const AddressPlaceholder = "http://localhost/REPLACE_WITH_ENDPOINT"

// The embedded files.
const (
	CVCA11       = "cvca-1.1.wsdl"       // CVCA interface, TR-03129 v1.1, uri:EAC-PKI-CVCA-Protocol/1.1 (default)
	CVCA10       = "cvca-1.0.wsdl"       // CVCA interface, TR-03129 v1.0, uri:EAC-PKI-CVCA-Protocol/1.0
	DV11         = "dv-1.1.wsdl"         // DV interface, TR-03129 v1.1, uri:EAC-PKI-DV-Protocol/1.1 (default)
	DV10         = "dv-1.0.wsdl"         // DV interface, TR-03129 v1.0, uri:EAC-PKI-DV-Protocol/1.0
	SPOC         = "spoc-csn369791.wsdl" // SPOC interface, CSN 36 9791, http://namespaces.unmz.cz/csn369791
	BasicTypes11 = "eacBT-1.1.xsd"       // uri:eacBT/1.1, inlined in CVCA11 and DV11
	BasicTypes10 = "eacBT-1.0.xsd"       // uri:eacBT/1.0, inlined in CVCA10 and DV10
)

// FS returns the embedded files (flat, no directories).
func FS() fs.FS { return files }

// Names returns the names of the embedded files, sorted.
func Names() []string {
	entries, _ := files.ReadDir(".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// File returns the embedded file name unchanged.
func File(name string) ([]byte, error) {
	return files.ReadFile(name)
}

// Served returns the WSDL name with its soap:address location set to endpoint
// (the URL the service is reachable at, e.g. https://dv.example.org/dv/1.1),
// ready to serve at ?wsdl. XSD files are returned unchanged.
func Served(name, endpoint string) ([]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if !bytes.HasSuffix([]byte(name), []byte(".wsdl")) {
		return b, nil
	}
	if endpoint == "" {
		return nil, fmt.Errorf("wsdl: empty endpoint for %s", name)
	}
	var esc bytes.Buffer
	if err := xml.EscapeText(&esc, []byte(endpoint)); err != nil {
		return nil, err
	}
	if n := bytes.Count(b, []byte(AddressPlaceholder)); n != 1 {
		return nil, fmt.Errorf("wsdl: %s has %d address placeholders, want 1", name, n)
	}
	return bytes.Replace(b, []byte(AddressPlaceholder), esc.Bytes(), 1), nil
}
