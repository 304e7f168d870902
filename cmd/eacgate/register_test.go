package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/internal/testenv"
)

// writeClientCert writes a self-signed certificate (PEM) valid from notBefore to notAfter.
func writeClientCert(t *testing.T, dir, name string, notBefore, notAfter time.Time, ekus ...x509.ExtKeyUsage) string {
	t.Helper()
	c, _ := testenv.ClientCert(t, name, notBefore, notAfter, ekus)
	path := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Expired and wrong-purpose TLS client certificates cannot be registered for holders or
// operators.
func TestRegisterRefusesUnusableClientCertificates(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	expired := writeClientCert(t, dir, "expired", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	server := writeClientCert(t, dir, "server", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageServerAuth)
	good := writeClientCert(t, dir, "good", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	for i, bad := range []string{expired, server} {
		mn := "ISGATE0" + string(rune('1'+i))
		code, out := runOut(t, "holder", "add", "--data", data, "--country", "UT", "--mnemonic", mn, "--role", "terminal", "--tls-cert", bad)
		if code == 0 || !strings.Contains(out, "TLS client certificate refused") {
			t.Errorf("holder add with %s: exit %d: %s", bad, code, out)
		}
		code, out = runOut(t, "operator", "add", "--data", data, "--name", mn, "--role", "ra_operator", "--tls-cert", bad)
		if code == 0 || !strings.Contains(out, "TLS client certificate refused") {
			t.Errorf("operator add with %s: exit %d: %s", bad, code, out)
		}
	}
	if !strings.Contains(func() string {
		_, out := runOut(t, "holder", "add", "--data", data, "--country", "UT", "--mnemonic", "ISGATE01", "--role", "terminal", "--tls-cert", expired)
		return out
	}(), "expired on 2021-01-01") {
		t.Error("the refusal does not say when the certificate expired")
	}
	if code, out := runOut(t, "holder", "add", "--data", data, "--country", "UT", "--mnemonic", "ISGATE09", "--role", "terminal", "--tls-cert", good); code != 0 {
		t.Fatalf("holder add with a good certificate: exit %d: %s", code, out)
	}
	if code, out := runOut(t, "operator", "add", "--data", data, "--name", "alice", "--role", "ra_operator", "--tls-cert", good); code != 0 {
		t.Fatalf("operator add with a good certificate: exit %d: %s", code, out)
	}
}
