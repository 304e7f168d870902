package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/testenv"
	"eacgate/msg"
	"eacgate/server"
	"eacgate/store"
)

// FuzzGatewaySOAP posts SOAP bodies to /cvca and /dv of the demo gateway, as everything is
// wired in production (store, issuers, receiver, asynchronous modes), from a registered
// domestic DV that is also registered as a terminal's TLS identity would be. Whatever the
// body, no service panics (the endpoint would log "panic in service") and every answer
// encodes.
func FuzzGatewaySOAP(f *testing.F) {
	var logs testenv.Buffer
	g, err := Open(context.Background(), Options{DataDir: f.TempDir(), Demo: true,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = g.Close() })
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	client, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(der)
	if err := g.Store.CreateHolder(context.Background(), &store.Holder{Country: "UT", Mnemonic: "DVF", Role: store.RoleDVDomestic,
		Status: store.HolderActive, TLSFingerprint: hex.EncodeToString(sum[:])}); err != nil {
		f.Fatal(err)
	}

	ecKey, _ := ecc.GenerateKey(g.CurrentCVCA().Domain(), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, ecKey.Public(), false)
	dvReq, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: "UTCVCA00001", CHR: "UTDVF00001"}, pub, ecKey)
	termReq, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: g.CurrentDV().Certificate().CHR, CHR: "UTDVF00001"}, pub, ecKey)
	for _, p := range []struct {
		path   string
		protos []server.Protocol
	}{{"/cvca", server.CVCAProtocols}, {"/dv", server.DVProtocols}} {
		for _, proto := range p.protos {
			for _, m := range []msg.Message{
				{Operation: "RequestCertificate", MessageID: "s1", CertReq: dvReq.Raw},
				{Operation: "RequestCertificate", MessageID: "s2", CertReq: termReq.Raw, CallbackPossible: true, ResponseURL: "https://dv.example/cb"},
				{Operation: "GetCACertificates"},
				{Operation: "SendCertificates", MessageID: "unknown", StatusInfo: "ok_cert_available", Certificates: [][]byte{g.CurrentCVCA().Certificate().Raw}},
				{Operation: "SendCertificates", StatusInfo: "new_cer_available_notification", Certificates: [][]byte{g.CurrentCVCA().Certificate().Raw}},
				{Operation: "GetDocumentSignerList"},
				{Operation: "RequestForeignCertificate", MessageID: "s3", CertReq: dvReq.Raw, ForeignCAR: "ZZCVCA00001"},
			} {
				if body, err := server.EncodeRequest(proto, m); err == nil {
					f.Add(p.path == "/dv", body)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, dv bool, body []byte) {
		path := "/cvca"
		if dv {
			path = "/dv"
		}
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "text/xml; charset=utf-8")
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{client}}
		w := httptest.NewRecorder()
		g.Handler.ServeHTTP(w, r)
		if out := logs.Take(); strings.Contains(out, "panic in service") || strings.Contains(out, "fill response") {
			t.Fatalf("gateway log:\n%s", out)
		}
	})
}
