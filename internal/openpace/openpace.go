// Package openpace checks CV certificates with openpace's cvc-print, for tests that want a
// second opinion from a tool nobody here wrote.
package openpace

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/cvc"
	"eacgate/internal/testenv"
)

// Verifies checks leaf with openpace's cvc-print against the CV certificates of
// chain (written to a directory under their CHRs, where cvc-print looks them up by CAR).
func Verifies(t testing.TB, chain []*cvc.Certificate, leaf *cvc.Certificate) {
	t.Helper()
	cvcPrint := testenv.Tool(t, "cvc-print")
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
