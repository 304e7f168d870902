// Package softhsmtest sets up SoftHSM2 tokens for tests.
//
// SoftHSM2 reads its configuration file (SOFTHSM2_CONF) when the library is initialised.
// hsm shares one initialised library per process while a keystore is open and finalises it
// when the last one closes; NewToken therefore gives each test its own token directory and
// configuration file (set with t.Setenv, so such tests cannot be parallel), and tests must
// close their keystores before they end (t.Cleanup does).
//
// When SoftHSM2 is not installed, tests are skipped with a message, or fail if the
// environment variable CI is "true" (.ci/run installs the Debian package softhsm2).
package softhsmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// modulePaths are where distributions install the SoftHSM2 PKCS#11 library.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",                   // Debian, Ubuntu
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",  // Debian multiarch
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", // Debian multiarch (arm64)
	"/usr/lib64/pkcs11/libsofthsm2.so",                  // Fedora, RHEL
	"/usr/local/lib/softhsm/libsofthsm2.so",             // source build
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",          // macOS
}

// Module returns the SoftHSM2 library (SOFTHSM2_MODULE overrides the search) or skips
// the test (fails it when CI=true).
func Module(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SOFTHSM2_MODULE"); p != "" {
		return p
	}
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	unavailable(t, "SoftHSM2 library libsofthsm2.so not found (install the Debian package softhsm2 or set SOFTHSM2_MODULE)")
	return ""
}

// Util returns the softhsm2-util program or skips (fails in CI).
func Util(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("softhsm2-util")
	if err != nil {
		unavailable(t, "softhsm2-util not found in PATH (install the Debian package softhsm2)")
	}
	return p
}

func unavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Token is an initialised SoftHSM2 token.
type Token struct {
	Module string // the PKCS#11 library
	Label  string
	PIN    string
	SOPIN  string
	Dir    string // the token directory
	Conf   string // the SOFTHSM2_CONF file
}

// NewToken creates a token directory and configuration file under t.TempDir(), points
// SOFTHSM2_CONF at it for the rest of the test, and initialises a token labelled label
// with user PIN "1234" (SO PIN "123456").
func NewToken(t testing.TB, label string) *Token {
	t.Helper()
	mod, util := Module(t), Util(t)
	base := t.TempDir()
	dir := filepath.Join(base, "tokens")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(base, "softhsm2.conf")
	content := "directories.tokendir = " + dir + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	tok := &Token{Module: mod, Label: label, PIN: "1234", SOPIN: "123456", Dir: dir, Conf: conf}
	tok.init(t, util, label)
	return tok
}

// AddToken initialises another token (same directory, PINs and configuration).
func (tok *Token) AddToken(t testing.TB, label string) *Token {
	t.Helper()
	other := *tok
	other.Label = label
	other.init(t, Util(t), label)
	return &other
}

func (tok *Token) init(t testing.TB, util, label string) {
	t.Helper()
	cmd := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", tok.PIN, "--so-pin", tok.SOPIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+tok.Conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
}
