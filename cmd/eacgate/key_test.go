package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"eacgate/hsm/softhsmtest"
)

// runKeyCLI runs "eacgate args..." and returns the exit code and both outputs.
func runKeyCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

var publicKeyLine = regexp.MustCompile(`(?m)^public key:\s+([0-9a-f]+)$`)

func TestKeySoft(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte("a passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runKeyCLI(t, "key", "generate", "--backend", "soft", "--keystore", dir,
		"--passphrase-file", passFile, "--label", "cvca", "--alg", "ECDSA_SHA_256", "--curve", "brainpoolP256r1")
	if code != 0 {
		t.Fatalf("generate: exit %d: %s", code, errOut)
	}
	m := publicKeyLine.FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(m[1], "04") || len(m[1]) != 2*65 {
		t.Fatalf("generate output has no 65-byte public key:\n%s", out)
	}
	if !strings.Contains(out, "id-TA-ECDSA-SHA-256") || !strings.Contains(out, "brainpoolP256r1") {
		t.Fatalf("generate output:\n%s", out)
	}

	t.Setenv("EACGATE_TEST_PASS", "a passphrase")
	code, _, errOut = runKeyCLI(t, "key", "generate", "--backend", "soft", "--keystore", dir,
		"--passphrase-env", "EACGATE_TEST_PASS", "--label", "dv", "--alg", "RSA_PSS_SHA_256", "--rsa-bits", "2048")
	if code != 0 {
		t.Fatalf("generate RSA: exit %d: %s", code, errOut)
	}

	// Duplicate label.
	code, _, errOut = runKeyCLI(t, "key", "generate", "--keystore", dir, "--passphrase-file", passFile,
		"--label", "cvca", "--alg", "ECDSA_SHA_256")
	if code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("duplicate: exit %d: %s", code, errOut)
	}

	// List needs no passphrase.
	code, out, errOut = runKeyCLI(t, "key", "list", "--backend", "soft", "--keystore", dir)
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "cvca ") || !strings.Contains(lines[1], "brainpoolP256r1") ||
		!strings.Contains(lines[1], m[1]) || !strings.HasPrefix(lines[2], "dv ") || !strings.Contains(lines[2], "RSA-2048") ||
		!strings.Contains(lines[2], "RSA_PSS_SHA_256") {
		t.Fatalf("list output:\n%s", out)
	}
}

func TestKeyUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"key"}, 2, "usage"},
		{[]string{"key", "frobnicate"}, 2, "unknown sub-command"},
		{[]string{"key", "generate", "--keystore", dir, "--label", "x"}, 2, "--alg are required"},
		{[]string{"key", "generate", "--keystore", dir, "--label", "x", "--alg", "DSA"}, 2, "unknown algorithm"},
		{[]string{"key", "generate", "--keystore", dir, "--label", "x", "--alg", "ECDSA_SHA_256"}, 1, "no passphrase"},
		{[]string{"key", "generate", "--keystore", dir, "--passphrase-env", "EACGATE_NOT_SET", "--label", "x", "--alg", "ECDSA_SHA_256"}, 1, "EACGATE_NOT_SET"},
		{[]string{"key", "list", "--backend", "hsm"}, 1, "unknown --backend"},
		{[]string{"key", "list", "--backend", "pkcs11", "--module", "/nonexistent.so", "--token", "t"}, 1, "--pin-file FILE or --pin-env VAR"},
		{[]string{"key", "list", "--backend", "pkcs11", "--module", "/nonexistent.so", "--token", "t", "--pin-env", "X"}, 1, "PKCS#11 module"},
		{[]string{"key", "list", "--backend", "soft", "--keystore", dir, "--token", "t"}, 1, "--backend pkcs11"},
		{[]string{"key", "list", "--pin", "1234"}, 2, "flag provided but not defined"},
	} {
		code, _, errOut := runKeyCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut+usageOf(code, tc.args), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// usageOf returns the usage text printed on stdout for "eacgate key" without arguments.
func usageOf(code int, args []string) string {
	if len(args) == 1 && code == 2 {
		return "usage"
	}
	return ""
}

func TestKeyPKCS11(t *testing.T) {
	tok := softhsmtest.NewToken(t, "cli")
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(tok.PIN), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--backend", "pkcs11", "--module", tok.Module, "--token", tok.Label, "--pin-file", pinFile}
	var pubs []string
	for _, k := range [][]string{
		{"--label", "cvca", "--alg", "ECDSA_SHA_256", "--curve", "brainpoolP256r1"},
		{"--label", "dv", "--alg", "ECDSA_SHA_256"},
		{"--label", "rsa", "--alg", "id-TA-RSA-PSS-SHA-256", "--rsa-bits", "2048"},
	} {
		code, out, errOut := runKeyCLI(t, append(append([]string{"key", "generate"}, common...), k...)...)
		if code != 0 {
			t.Fatalf("generate %v: exit %d: %s", k, code, errOut)
		}
		m := publicKeyLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no public key in:\n%s", out)
		}
		if _, err := hex.DecodeString(m[1]); err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^id:\s+[0-9a-f]{32}$`).MatchString(out) {
			t.Fatalf("no CKA_ID in:\n%s", out)
		}
		pubs = append(pubs, m[1])
	}
	t.Setenv("EACGATE_TEST_PIN", tok.PIN)
	code, out, errOut := runKeyCLI(t, "key", "list", "--backend", "pkcs11", "--module", tok.Module,
		"--token", tok.Label, "--pin-env", "EACGATE_TEST_PIN")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("list output:\n%s", out)
	}
	for i, want := range []string{"cvca ", "dv ", "rsa "} {
		if !strings.HasPrefix(lines[i+1], want) || !strings.Contains(lines[i+1], pubs[i]) {
			t.Fatalf("list line %d: %q", i+1, lines[i+1])
		}
	}

	// Wrong PIN and unknown token: clear errors, exit 1, PIN not echoed.
	t.Setenv("EACGATE_TEST_PIN", "77777")
	code, _, errOut = runKeyCLI(t, "key", "list", "--backend", "pkcs11", "--module", tok.Module,
		"--token", tok.Label, "--pin-env", "EACGATE_TEST_PIN")
	if code != 1 || !strings.Contains(errOut, "rejected the PIN") || strings.Contains(errOut, "77777") {
		t.Fatalf("wrong PIN: exit %d: %s", code, errOut)
	}
	code, _, errOut = runKeyCLI(t, "key", "list", "--backend", "pkcs11", "--module", tok.Module,
		"--token", "nope", "--pin-file", pinFile)
	if code != 1 || !strings.Contains(errOut, "token not found") {
		t.Fatalf("unknown token: exit %d: %s", code, errOut)
	}
}
