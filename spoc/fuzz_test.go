package spoc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/catest"
	"eacgate/internal/testenv"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
)

// FuzzSPOCService posts SOAP bodies from a registered partner SPOC (ZZ, with the CSN 36 9791
// client usage) to /spoc of a SPOC with a CVCA, on a real store. Whatever the body, the
// endpoint answers (a fault or a result), and the service neither panics (the endpoint
// would log "panic in service") nor produces an answer that does not encode.
func FuzzSPOCService(f *testing.F) {
	ctx := context.Background()
	st := openStore(f)
	cert, fp := certWith(f, OIDTLSClient)
	if err := st.CreateHolder(ctx, &store.Holder{Country: "ZZ", Mnemonic: "SPOC", Role: store.RoleSPOC, Status: store.HolderActive, TLSFingerprint: fp}); err != nil {
		f.Fatal(err)
	}
	ut := catest.CVCA(f, "UTCVCA00001", "brainpoolP256r1")
	reg := ra.NewStoreRegistry(st)
	cvca := &ra.IssuingService{Issuer: ut, Registry: reg, Mode: func(*ra.Holder, msg.Message) ra.Mode { return ra.ModeSync }}
	chain := func(context.Context) ([][]byte, error) { return [][]byte{ut.Certificate().Raw}, nil }
	var logs testenv.Buffer
	cfg := Config{Partners: []Partner{{Country: "ZZ", URL: "https://zz.example/spoc"}}}
	ep := &server.Endpoint{Protocols: server.SPOCProtocols, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Service: &Service{Config: cfg, Store: st, Registry: reg, CVCA: cvca, Chain: chain, Logger: slog.New(slog.DiscardHandler)}}

	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: "UTCVCA00001", CHR: "ZZDVA00001"}, pub, key)
	for _, m := range []msg.Message{
		{Operation: "RequestCertificate", CallerID: "ZZ", MessageID: "r-1", CertReq: req.Raw},
		{Operation: "SendCertificates", CallerID: "ZZ", MessageID: "unknown", StatusInfo: "ok_cert_available", Certificates: [][]byte{ut.Certificate().Raw}},
		{Operation: "SendCertificates", CallerID: "ZZ", StatusInfo: "new_cer_available_notification", Certificates: [][]byte{ut.Certificate().Raw}},
		{Operation: "GetCACertificates", CallerID: "ZZ", MessageID: "c-1"},
		{Operation: "GeneralMessage", CallerID: "ZZ", MessageID: "g-1", Subject: "s", Body: "b"},
	} {
		body, err := server.EncodeRequest(server.SPOCProtocols[0], m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/spoc", bytes.NewReader(body))
		r.Header.Set("Content-Type", "text/xml; charset=utf-8")
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
		w := httptest.NewRecorder()
		ep.ServeHTTP(w, r)
		if out := logs.Take(); strings.Contains(out, "panic in service") || strings.Contains(out, "fill response") {
			t.Fatalf("endpoint log:\n%s", out)
		}
	})
}
