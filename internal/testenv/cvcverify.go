package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// cvcverifyBuild is the binary CVCVerify compiled, once per test binary: tests of several
// packages drive it many times, and building it takes a second.
var cvcverifyBuild struct {
	once      sync.Once
	path, err string
}

// CVCVerify returns tools/cvcverify compiled against openpace's libeac (a tool not of this
// project: it verifies CV certificates and makes and verifies authenticated requests). Without
// gcc, pkg-config or libeac it is Missing: a skip locally, a failure under CI=true.
func CVCVerify(t testing.TB) string {
	t.Helper()
	gcc := Tool(t, "gcc")
	pkgConfig := Tool(t, "pkg-config")
	cvcverifyBuild.once.Do(func() {
		flags, err := exec.Command(pkgConfig, "--cflags", "--libs", "libeac").Output()
		if err != nil {
			cvcverifyBuild.err = "libeac-dev (pkg-config libeac)"
			return
		}
		dir, err := os.MkdirTemp("", "cvcverify")
		if err != nil {
			cvcverifyBuild.err = err.Error()
			return
		}
		out := filepath.Join(dir, "cvcverify")
		src := filepath.Join(RepoRoot(), "tools", "cvcverify", "cvcverify.c")
		args := append([]string{"-O1", "-Wno-deprecated-declarations", "-o", out, src}, strings.Fields(string(flags))...)
		if b, err := exec.Command(gcc, append(args, "-lcrypto")...).CombinedOutput(); err != nil {
			cvcverifyBuild.err = "building cvcverify: " + string(b)
			return
		}
		cvcverifyBuild.path = out
	})
	if cvcverifyBuild.err != "" {
		Missing(t, cvcverifyBuild.err)
	}
	return cvcverifyBuild.path
}
