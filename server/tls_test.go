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
)

type callerRecorder struct{ got Caller }

func (c *callerRecorder) Handle(_ context.Context, caller Caller, _ Message) Answer {
	c.got = caller
	return Answer{ReturnCode: authority.OKCertAvailable}
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
