package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// binaries are the programs GoBinary built in this test process, by package path.
var binaries sync.Map // string -> *goBinary

type goBinary struct {
	once sync.Once
	path string
	err  string
}

// GoBinary builds the main package pkg (a path relative to the repository root, e.g.
// "./cmd/eacgate") once per test process and returns the program's path; a failed build
// fails t with the compiler's output.
func GoBinary(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := binaries.LoadOrStore(pkg, &goBinary{})
	b := v.(*goBinary)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "eacgate-test-bin")
		if err != nil {
			b.err = err.Error()
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = string(out)
		}
	})
	if b.err != "" {
		t.Fatalf("build %s: %s", pkg, b.err)
	}
	return b.path
}
