package server

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writePair writes a new self-signed pair and moves the files' modification time forward, so
// that a change is seen even within the file system's timestamp granularity.
func writePair(t *testing.T, certFile, keyFile, cn string, mod time.Time) []byte {
	t.Helper()
	certPEM, keyPEM, err := SelfSignedCertificate(cn, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for f, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert.Certificate[0]
}

// servedCertificate does a TLS handshake with the listener and returns the server's leaf.
func servedCertificate(t *testing.T, addr string) []byte {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}

func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	t0 := time.Now().Add(-time.Hour)
	first := writePair(t, certFile, keyFile, "first", t0)
	var logs bytes.Buffer
	r, err := NewCertReloader(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
			}(c)
		}
	}()
	addr := ln.Addr().String()
	if !bytes.Equal(servedCertificate(t, addr), first) {
		t.Fatal("not serving the first certificate")
	}

	// Replaced files are picked up by the next handshake, without Reload.
	second := writePair(t, certFile, keyFile, "second", t0.Add(time.Minute))
	if !bytes.Equal(servedCertificate(t, addr), second) {
		t.Fatal("changed files not picked up")
	}

	// A broken certificate file keeps the previous certificate; Reload reports the error.
	os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o600)
	os.Chtimes(certFile, t0.Add(2*time.Minute), t0.Add(2*time.Minute))
	if !bytes.Equal(servedCertificate(t, addr), second) {
		t.Fatal("a broken file replaced the certificate")
	}
	if err := r.Reload(); err == nil {
		t.Fatal("Reload of a broken pair succeeded")
	}
	if !bytes.Contains(logs.Bytes(), []byte("keeping the previous one")) {
		t.Fatalf("no log of the failed reload: %s", logs.String())
	}

	// Reload (SIGHUP) reads the files even when their stamps look unchanged.
	third := writePair(t, certFile, keyFile, "third", t0.Add(2*time.Minute))
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(servedCertificate(t, addr), third) {
		t.Fatal("Reload did not take the new pair")
	}
}
