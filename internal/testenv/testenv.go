// Package testenv finds what tests need outside the module: the shared test vectors and
// external tools. A test that needs a missing tool fails under CI=true and skips otherwise.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
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
