package generated_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedUpToDate re-runs the //go:generate pipeline of generate.go into a
// temporary directory and compares the result with the checked-in tree: the
// generated code is reproducible and matches wsdl/ and tools/wsdlgen.
func TestGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go generate's commands (go run, go tool gowsdl)")
	}
	src, err := os.ReadFile("generate.go")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	pkgs := map[string]bool{}
	var cmds [][]string
	for _, line := range strings.Split(string(src), "\n") {
		rest, ok := strings.CutPrefix(line, "//go:generate ")
		if !ok {
			continue
		}
		args := strings.Fields(rest)
		for i, a := range args {
			if a == "-p" && i+1 < len(args) {
				pkgs[args[i+1]] = true
			}
		}
		cmds = append(cmds, args)
	}
	if len(pkgs) != 5 {
		t.Fatalf("found packages %v in generate.go", pkgs)
	}
	for _, args := range cmds {
		// Redirect every output location (-d ., -out PKG/..., -dir PKG, PKG/...) to tmp.
		for i, a := range args {
			first, _, _ := strings.Cut(a, "/")
			switch {
			case a == "." && i > 0 && args[i-1] == "-d":
				args[i] = tmp
			case i > 0 && args[i-1] == "-p":
			case pkgs[first]:
				args[i] = filepath.Join(tmp, a)
			}
		}
		cmd := exec.Command(args[0], args[1:]...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
	for pkg := range pkgs {
		want, _ := filepath.Glob(filepath.Join(tmp, pkg, "*"))
		have, _ := filepath.Glob(filepath.Join(pkg, "*"))
		var haveGen []string
		for _, h := range have {
			if !strings.HasSuffix(h, "_test.go") {
				haveGen = append(haveGen, filepath.Base(h))
			}
		}
		var wantNames []string
		for _, w := range want {
			wantNames = append(wantNames, filepath.Base(w))
		}
		if strings.Join(haveGen, ",") != strings.Join(wantNames, ",") {
			t.Errorf("%s: files %v, regenerated %v", pkg, haveGen, wantNames)
		}
		for _, w := range want {
			a, _ := os.ReadFile(w)
			b, err := os.ReadFile(filepath.Join(pkg, filepath.Base(w)))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s/%s is not up to date: run go generate ./generated/...", pkg, filepath.Base(w))
			}
		}
	}
}
