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
	"eacgate/trust"
)

// A foreign DV registered on its first request whose audit event cannot be written is
// logged as such, not passed over in silence.
func TestAutoRegistrationAuditFailureLogged(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	cert, fp := certWith(t, OIDTLSClient)
	if err := st.CreateHolder(ctx, &store.Holder{Country: "ZZ", Mnemonic: "SPOC", Role: store.RoleSPOC, Status: store.HolderActive, TLSFingerprint: fp}); err != nil {
		t.Fatal(err)
	}
	ut := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1")
	reg := ra.NewStoreRegistry(st)
	cvca := &ra.IssuingService{Issuer: ut, Registry: reg, Mode: func(*ra.Holder, msg.Message) ra.Mode { return ra.ModeSync },
		Logger: slog.New(slog.DiscardHandler)}
	var logs testenv.Buffer
	svc := &Service{Config: Config{Partners: []Partner{{Country: "ZZ", URL: "https://zz.example/spoc"}}}, Store: st, Registry: reg,
		CVCA: cvca, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ep := &server.Endpoint{Protocols: server.SPOCProtocols, Logger: slog.New(slog.DiscardHandler), Service: svc}

	if err := st.DB().Exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END`).Error; err != nil {
		t.Fatal(err)
	}
	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: "UTCVCA00001", CHR: "ZZDVA00001"}, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	// Authenticated by the partner's registered CVCA, as an initial request must be.
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	if _, err := trust.New(st).AddCVCACertificate(ctx, zz.Certificate(), true); err != nil {
		t.Fatal(err)
	}
	if req, err = req.Authenticate("ZZCVCA00001", zz.Signer, cvc.ECDSA_SHA256); err != nil {
		t.Fatal(err)
	}
	body, err := server.EncodeRequest(server.SPOCProtocols[0], msg.Message{Operation: "RequestCertificate", CallerID: "ZZ", MessageID: "r-1", CertReq: req.Raw})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/spoc", bytes.NewReader(body))
	r.Header.Set("Content-Type", "text/xml; charset=utf-8")
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	ep.ServeHTTP(httptest.NewRecorder(), r)

	if _, err := st.HolderByName(ctx, "ZZ", "DVA"); err != nil {
		t.Fatalf("the DV was not registered: %v", err)
	}
	if out := logs.Take(); !strings.Contains(out, "audit foreign DV registration") || !strings.Contains(out, "audit refused") {
		t.Fatalf("the failed audit is not logged:\n%s", out)
	}
}
