package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/generated/dv11"
	"eacgate/msg"
)

type callerRecorder struct{ got msg.Caller }

func (c *callerRecorder) Handle(_ context.Context, caller msg.Caller, _ msg.Message) msg.Answer {
	c.got = caller
	return msg.Answer{ReturnCode: authority.OKCertAvailable}
}

// The client certificate's fingerprint reaches the service over real mutual TLS.
func TestMutualTLSIdentifiesCaller(t *testing.T) {
	dir := t.TempDir()
	serverCert, err := LoadOrCreateTLSCertificate(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	// A second load reads the same files.
	again, err := LoadOrCreateTLSCertificate(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), []string{"127.0.0.1"})
	if err != nil || string(again.Certificate[0]) != string(serverCert.Certificate[0]) {
		t.Fatalf("reload: %v", err)
	}
	rec := &callerRecorder{}
	srv := httptest.NewUnstartedServer(&Endpoint{Protocols: DVProtocols, Service: rec})
	srv.TLS = TLSConfig(serverCert)
	srv.StartTLS()
	defer srv.Close()

	certPEM, keyPEM, err := SelfSignedCertificate("UTDVA", []string{"dv.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(serverCert.Certificate[0])
	roots.AddCert(leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}}}}
	body := envelope(dv11.Namespace, `<n1:GetCACertificates xmlns:n1="NS"><callbackIndicator>callback_not_possible</callbackIndicator><messageID/><responseURL/></n1:GetCACertificates>`)
	resp, err := client.Post(srv.URL, "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	blk, _ := pem.Decode(certPEM)
	sum := sha256.Sum256(blk.Bytes)
	if rec.got.Fingerprint != hex.EncodeToString(sum[:]) {
		t.Fatalf("fingerprint %q", rec.got.Fingerprint)
	}
}

// The embedded default's certificate is an end-entity certificate whose file also carries
// the (keyless) CA that issued it, so clients can take the file as their trust anchor.
func TestDemoServerCertificateIsNotACA(t *testing.T) {
	dir := t.TempDir()
	certFile := filepath.Join(dir, "tls.crt")
	serverCert, err := LoadOrCreateTLSCertificate(certFile, filepath.Join(dir, "tls.key"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(serverCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.IsCA || leaf.KeyUsage&x509.KeyUsageCertSign != 0 {
		t.Fatalf("default TLS certificate is a CA certificate (IsCA %v, key usage %b)", leaf.IsCA, leaf.KeyUsage)
	}
	roots, err := CertPool(false, certFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.TLS = TLSConfig(serverCert)
	srv.StartTLS()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("a client trusting the certificate file cannot connect: %v", err)
	}
	resp.Body.Close()
}

// TLS 1.2 offers only ECDHE with AES-GCM: a client that offers nothing else but CBC-SHA1
// suites (or RSA key exchange) finds no common suite.
func TestTLSOffersOnlyAEADSuites(t *testing.T) {
	certPEM, keyPEM, err := SelfSignedCertificate("127.0.0.1", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.TLS = TLSConfig(cert)
	srv.StartTLS()
	defer srv.Close()
	for _, tc := range []struct {
		suite uint16
		ok    bool
	}{
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, false},
		{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, true},
	} {
		cfg := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tc.suite}} //nolint:gosec // the test looks at the suite only
		conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), cfg)
		if (err == nil) != tc.ok {
			t.Errorf("%s: handshake error %v, want success %v", tls.CipherSuiteName(tc.suite), err, tc.ok)
		}
		if conn != nil {
			conn.Close()
		}
	}
}
