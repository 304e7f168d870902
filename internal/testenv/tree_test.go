package testenv

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// machineRoots are the top-level directories whose paths belong to one machine or one user:
// home directories (Linux, macOS), root's home, removable and network mounts, and /work, where
// this project's development machines keep their checkouts. A string literal naming a path
// under one of them works only where it was written. Paths of a distribution's layout
// (/usr/lib/softhsm/libsofthsm2.so, /usr/lib/postgresql/*/bin, /usr/bin/python3, /etc, /var/lib,
// /opt) are the same on every machine of that distribution and stay allowed as defaults and
// candidates; so do URL paths ("/admin/v1/..."), which never start with these roots, and /tmp
// (os.TempDir and t.TempDir are the right choice there, but a /tmp default is not
// machine-specific).
var machineRoots = []string{"work", "root", "home", "Users", "mnt", "media"}

// machinePath returns the first path under a machineRoot in s: "/<root>" at the start of s or
// after a character that cannot be part of a path name (so "/var/home/x" and
// "https://example.org/home/" do not count), and followed by "/" or the end of the path.
func machinePath(s string) (string, bool) {
	for _, root := range machineRoots {
		needle := "/" + root
		for i := 0; ; {
			j := strings.Index(s[i:], needle)
			if j < 0 {
				break
			}
			start, end := i+j, i+j+len(needle)
			i = end
			if start > 0 && isPathChar(s[start-1]) && s[start-1] != '/' {
				continue
			}
			if end < len(s) && (isPathChar(s[end]) && s[end] != '/') {
				continue
			}
			stop := end
			for stop < len(s) && isPathChar(s[stop]) {
				stop++
			}
			return s[start:stop], true
		}
	}
	return "", false
}

func isPathChar(c byte) bool {
	return c == '/' || c == '.' || c == '_' || c == '-' || c == '~' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// machinePathsIn parses every .go file the go tool would see under root (it skips testdata
// and directories starting with "." or "_", as the go tool does) and lists the string literals
// that name a machine path, as "file:line: path".
func machinePathsIn(root string) ([]string, error) {
	var found []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parsing %s: %w", path, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				s = lit.Value
			}
			if p, ok := machinePath(s); ok {
				rel, _ := filepath.Rel(root, path)
				found = append(found, fmt.Sprintf("%s:%d: %s", filepath.ToSlash(rel), fset.Position(lit.Pos()).Line, p))
			}
			return true
		})
		return nil
	})
	return found, err
}

// No Go file of the module names a path of a particular machine: tests and defaults must
// find what they need from the module (RepoRoot, testdata/) or the environment.
func TestNoMachinePaths(t *testing.T) {
	found, err := machinePathsIn(RepoRoot())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("machine-specific path in a string literal: %s", f)
	}
}

func TestMachinePathRule(t *testing.T) {
	// Built from pieces so that this file's own literals pass TestNoMachinePaths.
	abs := func(s string) string { return "/" + s }
	for s, want := range map[string]string{
		abs("work/shared/vectors"):              abs("work/shared/vectors"),
		abs("work"):                             abs("work"),
		"cd " + abs("root/go/bin") + " && make": abs("root/go/bin"),
		"--dir=" + abs("home/alice/eacgate"):    abs("home/alice/eacgate"),
		"file://" + abs("Users/bob/x.pem"):      abs("Users/bob/x.pem"),
		abs("mnt/data/keys"):                    abs("mnt/data/keys"),
		"/usr/lib/softhsm/libsofthsm2.so":       "",
		"/usr/lib/postgresql/*/bin/initdb":      "",
		"/etc/eacgate/eacgate.yaml":             "",
		"/tmp/eacgate.sock":                     "",
		"/var/home/x":                           "",
		"/admin/v1/holders":                     "",
		"https://example.org/home/":             "",
		abs("workers"):                          "",
		abs("homepage/x"):                       "",
		"../wsdl/cvca-1.1.wsdl":                 "",
	} {
		got, _ := machinePath(s)
		if got != want {
			t.Errorf("machinePath(%q) = %q, want %q", s, got, want)
		}
	}

	// The walk finds such a literal in a Go file, and skips testdata/ as the go tool does.
	dir := t.TempDir()
	src := "package p\n\nconst dir = \"" + abs("home/alice/vectors") + "\"\n"
	for _, f := range []string{"p/p.go", "p/testdata/q.go"} {
		path := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	found, err := machinePathsIn(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"p/p.go:3: " + abs("home/alice/vectors")}; !slices.Equal(found, want) {
		t.Fatalf("found %q, want %q", found, want)
	}
}

// testdata/vectors/README.md ends with the sha256sum of every vector: a vector added, changed
// or removed without its provenance being updated there fails here.
func TestVectorManifest(t *testing.T) {
	dir := Vector(t, "")
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, manifest, ok := strings.Cut(string(readme), "\n## Manifest\n")
	if !ok {
		t.Fatal("README.md has no Manifest section")
	}
	want := map[string]string{}
	inBlock := false
	sc := bufio.NewScanner(strings.NewReader(manifest))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			if inBlock {
				break
			}
			inBlock = true
			continue
		}
		if !inBlock || line == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("manifest line %q is not sha256sum output", line)
		}
		want[name] = sum
	}
	if len(want) == 0 {
		t.Fatal("empty manifest")
	}

	got := map[string]string{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "README.md" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		got[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, sum := range got {
		switch w, ok := want[name]; {
		case !ok:
			t.Errorf("%s is not in README.md's manifest (say where it comes from)", name)
		case w != sum:
			t.Errorf("%s: SHA-256 %s, README.md's manifest says %s", name, sum, w)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("README.md's manifest lists %s, which is missing", name)
		}
	}
}
