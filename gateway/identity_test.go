package gateway

import (
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"eacgate/server"
)

// The client certificate of outgoing connections (remote CVCA, SPOC partners, callbacks) is
// asked for at every handshake: after a TLS reload the new one is presented.
func TestClientIdentityFollowsReload(t *testing.T) {
	var seen atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			seen.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	identity := func(cn string) *tls.Certificate {
		certPEM, keyPEM, err := server.SelfSignedCertificate(cn, []string{"gw.example"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return &c
	}
	var current atomic.Pointer[tls.Certificate]
	current.Store(identity("first"))
	g := &Gateway{Options: Options{IdentityFunc: current.Load, DVClient: DVClientOptions{CVCAURL: srv.URL, CVCACAFile: caFile}}}
	client, err := g.cvcaClient()
	if err != nil {
		t.Fatal(err)
	}
	get := func() string {
		t.Helper()
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		client.CloseIdleConnections() // the next request makes a new handshake
		cn, _ := seen.Load().(string)
		return cn
	}
	if cn := get(); cn != "first" {
		t.Fatalf("presented %q", cn)
	}
	current.Store(identity("second"))
	if cn := get(); cn != "second" {
		t.Fatalf("after the reload presented %q", cn)
	}
}
