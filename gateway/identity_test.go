package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"eacgate/config"
	"eacgate/server"
	"eacgate/store"
	"eacgate/trust"
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
	g := &Gateway{Options: Options{IdentityFunc: current.Load, DVClient: config.DVClientOptions{CVCAURL: srv.URL, CVCACAFile: caFile}}}
	client, err := g.cvcaHTTPClient()
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

// A remote CVCA's root is taken only when its SHA-256 is pinned (dv_client.cvca_sha256), and
// on first use when nothing is pinned.
func TestRemoteCVCARootPinning(t *testing.T) {
	ctx := context.Background()
	cvca, err := Open(ctx, Options{DataDir: t.TempDir(), Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cvca.Close()
	srv := httptest.NewUnstartedServer(cvca.Handler)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	// The DV gateway's TLS identity, registered at the CVCA as its DV.
	certPEM, keyPEM, err := server.SelfSignedCertificate("UTDVREMOTE", []string{"dv.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := tls.X509KeyPair(certPEM, keyPEM)
	blk, _ := pem.Decode(certPEM)
	sum := sha256.Sum256(blk.Bytes)
	if err := cvca.Store.CreateHolder(ctx, &store.Holder{Country: "UT", Mnemonic: "DVREMOTE", Role: store.RoleDVDomestic,
		TLSFingerprint: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	root := cvca.CVCA.Path[0]
	for _, tc := range []struct {
		name  string
		pins  []string
		added int
	}{
		{"wrong pin", []string{strings.Repeat("ab", 32)}, 0},
		{"pinned", []string{"  " + strings.ToUpper(trust.CertificateSHA256(root))}, 1},
		{"first use", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dv, err := OpenStores(ctx, Options{DataDir: t.TempDir(), Identity: &id, GenerateKeystorePassphrase: true,
				DVClient: config.DVClientOptions{CVCAURL: srv.URL + "/cvca", CVCACAFile: caFile, CVCASHA256: tc.pins}})
			if err != nil {
				t.Fatal(err)
			}
			defer dv.Close()
			n, err := dv.FetchCVCACertificates(ctx)
			if err != nil || n != tc.added {
				t.Fatalf("added %d (%v), want %d", n, err, tc.added)
			}
			chain, err := dv.Store.CVCAChain(ctx, "UT")
			if err != nil || len(chain) != tc.added || (tc.added == 1 && chain[0].CHR != root.CHR) {
				t.Fatalf("stored %d CVCA certificates (%v)", len(chain), err)
			}
		})
	}
}
