package spoc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/catest"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
)

// A partner's DV is registered on its first request only under a name that follows
// TR-03139 3.1: a SPOC entered under a country code ISO 3166-1 does not know (before the
// rule, or by hand) gets failure_syntax for its DVs, and nothing is registered.
func TestAutoRegistrationNaming(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	cert, fp := certWith(t, OIDTLSClient)
	if err := st.CreateHolder(ctx, &store.Holder{Country: "YY", Mnemonic: "SPOC", Role: store.RoleSPOC, Status: store.HolderActive, TLSFingerprint: fp}); err != nil {
		t.Fatal(err)
	}
	reg := ra.NewStoreRegistry(st)
	cvca := &ra.IssuingService{Issuer: catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1"), Registry: reg,
		Mode: func(*ra.Holder, msg.Message) ra.Mode { return ra.ModeSync }, Logger: slog.New(slog.DiscardHandler)}
	svc := &Service{Config: Config{Partners: []Partner{{Country: "YY", URL: "https://yy.example/spoc"}}}, Store: st, Registry: reg,
		CVCA: cvca, Logger: slog.New(slog.DiscardHandler)}
	ep := &server.Endpoint{Protocols: server.SPOCProtocols, Logger: slog.New(slog.DiscardHandler), Service: svc}

	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: "UTCVCA00001", CHR: "YYDVA00001"}, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	body, err := server.EncodeRequest(server.SPOCProtocols[0], msg.Message{Operation: "RequestCertificate", CallerID: "YY", MessageID: "r-1", CertReq: req.Raw})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/spoc", bytes.NewReader(body))
	r.Header.Set("Content-Type", "text/xml; charset=utf-8")
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	w := httptest.NewRecorder()
	ep.ServeHTTP(w, r)
	if !strings.Contains(w.Body.String(), "failure_syntax") {
		t.Fatalf("answer %d: %s", w.Code, w.Body)
	}
	if _, err := st.HolderByName(ctx, "YY", "DVA"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the DV was registered: %v", err)
	}
}
