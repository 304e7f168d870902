package spoc

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/server"
)

// The partners' clients check the CSN 36 9791 server usage of their TLS certificates unless
// require_eku is off, trust the partner's CA file, and bound each call by its timeout.
func TestClientsCheckPartnerCertificate(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	plain := httptest.NewTLSServer(ok) // httptest's certificate: no CSN 36 9791 usage
	defer plain.Close()
	certPEM, keyPEM, err := server.SelfSignedCertificate("spoc.zz", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	withEKU := httptest.NewUnstartedServer(ok)
	withEKU.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	withEKU.StartTLS()
	defer withEKU.Close()
	dir := t.TempDir()
	plainCA, ekuCA := filepath.Join(dir, "plain.pem"), filepath.Join(dir, "eku.pem")
	if err := os.WriteFile(plainCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: plain.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ekuCA, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Partners: []Partner{{Country: "QQ", URL: plain.URL, CAFile: plainCA, Timeout: 45 * time.Second},
		{Country: "ZZ", URL: withEKU.URL, CAFile: ekuCA}}}
	get := func(c Config, country string) error {
		clients, err := c.Clients(nil)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := c.Partner(country)
		resp, err := clients[country].Get(p.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(c, "QQ"); !errors.Is(err, server.ErrPeerCertificate) {
		t.Fatalf("partner without the server usage: %v", err)
	}
	if err := get(c, "ZZ"); err != nil {
		t.Fatalf("partner with the server usage: %v", err)
	}
	no := false
	c.RequireEKU = &no
	if err := get(c, "QQ"); err != nil {
		t.Fatalf("usage not required: %v", err)
	}
	clients, err := c.Clients(nil)
	if err != nil {
		t.Fatal(err)
	}
	if clients["QQ"].Timeout != 45*time.Second {
		t.Fatalf("timeout %v", clients["QQ"].Timeout)
	}
}

// Every problem of the routing table is reported, not only the first.
func TestConfigValidateReportsAll(t *testing.T) {
	c := Config{Partners: []Partner{{Country: "ZZZ", URL: "https://x"}, {Country: "QQ", URL: "ftp://q", CVCASHA256: []string{"9c1e..."}},
		{Country: "QQ", URL: "https://q", Timeout: -time.Second}}, ForeignDVs: "sometimes"}
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`partner 1 ("ZZZ")`, "partner QQ: url", "cvca_sha256", "QQ listed twice", "negative timeout", "foreign_dvs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q not reported in:\n%v", want, err)
		}
	}
}
