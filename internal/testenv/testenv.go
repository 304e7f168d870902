// Package testenv finds what tests need outside the module: the shared test vectors and
// external tools. A test that needs a missing tool fails under CI=true and skips otherwise.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"eacgate/cvc"
)

// CI reports whether the tests run in CI (environment CI=true), where nothing may be skipped
// for want of a tool.
func CI() bool { return os.Getenv("CI") == "true" }

// RepoRoot returns the module's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedDir returns the shared/ directory beside the checkout ($EACGATE_SHARED overrides).
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("EACGATE_SHARED")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "..", "shared")
	}
	if _, err := os.Stat(filepath.Join(dir, "vectors")); err != nil {
		Missing(t, "shared test vectors (set EACGATE_SHARED): "+err.Error())
	}
	return dir
}

// Vector returns the path of a file under shared/vectors.
func Vector(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(SharedDir(t), "vectors", rel)
}

// Missing skips the test locally and fails it in CI.
func Missing(t testing.TB, what string) {
	t.Helper()
	if CI() {
		t.Fatalf("required for this test but missing: %s", what)
	}
	t.Skipf("skipping: %s is missing (installed by .ci/run)", what)
}

// Tool returns the path of an external command, or skips/fails via Missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "command "+name)
	}
	return p
}

// CVCPrintVerifies checks leaf with openpace's cvc-print against the CV certificates of
// chain (written to a directory under their CHRs, where cvc-print looks them up by CAR).
func CVCPrintVerifies(t testing.TB, chain []*cvc.Certificate, leaf *cvc.Certificate) {
	t.Helper()
	cvcPrint := Tool(t, "cvc-print")
	dir := t.TempDir()
	for _, c := range chain {
		if err := os.WriteFile(filepath.Join(dir, c.CHR), c.Raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	leafFile := filepath.Join(t.TempDir(), "leaf.cvcert")
	if err := os.WriteFile(leafFile, leaf.Raw, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cvcPrint, "--cvc="+leafFile, "--cvc-dir="+dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "certificate verified") || strings.Contains(string(out), "not verified") {
		t.Fatalf("cvc-print: %v\n%s", err, out)
	}
}
