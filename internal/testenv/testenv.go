// Package testenv finds what tests need: the test vectors in the module's testdata/ and
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

// Vector returns the path of rel (a file or a filepath.Glob pattern) under the module's
// testdata/vectors, where testdata/vectors/README.md says where each file comes from. The
// vectors are part of the checkout, so a missing one is a failure, which the caller's read
// reports; nothing outside the module is read.
func Vector(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(RepoRoot(), "testdata", "vectors", filepath.FromSlash(rel))
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
