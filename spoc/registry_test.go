package spoc

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/catest"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
)

// With foreign_dvs: registered the partner's DV list is the allow-list; its DVs get the
// access rights of its registration; a suspended partner's requests are refused.
func TestRegisteredPartnerAtSPOC(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	cert, fp := certWith(t, OIDTLSClient)
	if err := st.CreateHolder(ctx, &store.Holder{Country: "ZZ", Mnemonic: "SPOC", Role: store.RoleSPOC, Status: store.HolderActive, TLSFingerprint: fp}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePartner(ctx, &store.Partner{Country: "ZZ", URL: "https://zz.example/spoc", Rights: "dg3"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"DVA", "DVC"} {
		if err := st.AddPartnerDV(ctx, &store.Holder{Country: "ZZ", Mnemonic: m, Role: store.RoleDVForeign}, "ZZCVCA00001"); err != nil {
			t.Fatal(err)
		}
	}
	ut := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1")
	reg := ra.NewStoreRegistry(st)
	// ZZ's CVCA, registered here: it authenticates its DVs' initial requests.
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	if _, err := reg.Trust().AddCVCACertificate(ctx, zz.Certificate(), true); err != nil {
		t.Fatal(err)
	}
	cvca := &ra.IssuingService{Issuer: ut, Registry: reg, Mode: func(*ra.Holder, msg.Message) ra.Mode { return ra.ModeSync },
		Logger: slog.New(slog.DiscardHandler)}
	svc := &Service{Config: Config{Partners: []Partner{{Country: "ZZ", URL: "https://zz.example/spoc"}}, ForeignDVs: "registered"},
		Store: st, Registry: reg, CVCA: cvca, Logger: slog.New(slog.DiscardHandler)}
	n := 0
	request := func(mnemonic string) msg.Answer {
		t.Helper()
		n++
		key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
		pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
		req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: "UTCVCA00001", CHR: fmt.Sprintf("ZZ%s%05d", mnemonic, n)}, pub, key)
		if err != nil {
			t.Fatal(err)
		}
		if req, err = req.Authenticate(zz.Certificate().CHR, zz.Signer, cvc.ECDSA_SHA256); err != nil {
			t.Fatal(err)
		}
		return svc.Handle(ctx, msg.Caller{Certificate: cert, Fingerprint: fp},
			msg.Message{Operation: "RequestCertificate", CallerID: "ZZ", MessageID: fmt.Sprintf("r-%d", n), CertReq: req.Raw})
	}
	a := request("DVA")
	if a.ReturnCode != authority.OKCertAvailable || len(a.Certificates) == 0 {
		t.Fatalf("listed DV: %s", a.ReturnCode)
	}
	got, err := cvc.ParseCertificate(a.Certificates[0])
	if err != nil {
		t.Fatal(err)
	}
	if r := got.CHAT.Rights(); len(r) != 1 || r[0] != cvc.ISReadDG3 {
		t.Fatalf("rights %x, want DG3 only (the registration's)", r)
	}
	if a := request("DVB"); a.ReturnCode != authority.FailureRequestNotAccepted {
		t.Fatalf("DV not on the list: %s", a.ReturnCode)
	}
	if err := st.SetPartnerStatus(ctx, "ZZ", store.PartnerSuspended); err != nil {
		t.Fatal(err)
	}
	if a := request("DVC"); a.ReturnCode != authority.FailureRequestNotAccepted {
		t.Fatalf("suspended partner: %s", a.ReturnCode)
	}
	if _, ok := svc.Admit(ctx, msg.Caller{Certificate: cert, Fingerprint: fp}); ok {
		t.Fatal("suspended partner admitted")
	}
	if err := st.SetPartnerStatus(ctx, "ZZ", store.PartnerActive); err != nil {
		t.Fatal(err)
	}
	if a := request("DVC"); a.ReturnCode != authority.OKCertAvailable {
		t.Fatalf("reinstated partner: %s", a.ReturnCode)
	}
}

// Nothing is sent to a suspended partner: a DV's request is refused, a queued one is not
// resent, its CVCA certificates are not fetched.
func TestSuspendedPartnerNotForwardedTo(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	reg := ra.NewStoreRegistry(st)
	dv := &store.Holder{Country: "UT", Mnemonic: "DVN", Role: store.RoleDVDomestic, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, dv); err != nil {
		t.Fatal(err)
	}
	ut := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1")
	if _, err := reg.Trust().AddCVCACertificate(ctx, ut.Certificate(), true); err != nil {
		t.Fatal(err)
	}
	dvKey, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	dvPub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, dvKey.Public(), true)
	dvReq, _ := cvc.NewRequest(cvc.RequestTemplate{CHR: "UTDVN00001"}, dvPub, dvKey)
	dvCert, err := ut.Issue(dvReq.Raw, authority.Applicant{Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVDomestic, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.RecordCertificate(ctx, dv.ID, dvCert); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePartner(ctx, &store.Partner{Country: "ZZ", URL: "https://zz.example/spoc"}); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	partner := httptest.NewTLSServer(&server.Endpoint{Protocols: server.SPOCProtocols,
		Service: serviceFunc(func(context.Context, msg.Caller, msg.Message) msg.Answer {
			calls.Add(1)
			return msg.Answer{ReturnCode: authority.OKReceptionAck}
		})})
	defer partner.Close()
	f := &Forwarder{Country: "UT", Store: st, Registry: reg,
		Config:   Config{Partners: []Partner{{Country: "ZZ", URL: partner.URL}}, ForeignCountries: ForeignCountriesAny},
		CVCA:     func() *authority.Issuer { return ut },
		Clients:  map[string]*http.Client{"ZZ": partner.Client()},
		Domestic: func() []*cvc.Certificate { return ut.Path }}
	h := &ra.Holder{ID: dv.ID, Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVDomestic, Status: authority.StatusActive}
	n := 0
	forward := func() authority.ReturnCode {
		t.Helper()
		n++
		key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
		pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
		req, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: "ZZCVCA00001", CHR: fmt.Sprintf("UTDVN%05d", n+1)}, pub, key)
		req, err := req.Authenticate(dvCert.CHR, dvKey, cvc.ECDSA_SHA256)
		if err != nil {
			t.Fatal(err)
		}
		return f.Forward(ctx, h, msg.Message{Operation: "RequestForeignCertificate", Namespace: server.CVCAProtocols[0].Namespace,
			MessageID: fmt.Sprintf("dv-%d", n), ForeignCAR: "ZZCVCA00001", CertReq: req.Raw}).ReturnCode
	}
	if got := forward(); got != authority.OKRequestForwarded || calls.Load() != 1 {
		t.Fatalf("active partner: %s, called %d times", got, calls.Load())
	}
	if err := st.SetPartnerStatus(ctx, "ZZ", store.PartnerSuspended); err != nil {
		t.Fatal(err)
	}
	if got := forward(); got != authority.FailureRequestNotAccepted {
		t.Fatalf("suspended partner: %s", got)
	}
	// A request queued before the suspension is held back (retried after reinstatement).
	out := &store.Message{Originator: "self", MessageID: "queued-1", Operation: "RequestCertificate", Request: []byte{0x7f},
		HolderID: &dv.ID, Direction: store.Outgoing, Peer: Outgoing("ZZ"), ParentID: &dv.ID, State: store.MessageProcessing}
	parent := &store.Message{Originator: ra.Originator(dv.ID), MessageID: "dv-queued", Operation: "RequestForeignCertificate",
		HolderID: &dv.ID, State: store.MessageProcessing}
	if err := st.AcceptMessage(ctx, parent, nil); err != nil {
		t.Fatal(err)
	}
	out.ParentID = &parent.ID
	if err := st.AcceptMessage(ctx, out, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Resend(ctx, &store.OutboxItem{Kind: store.OutboxForward, MessageRowID: &out.ID}); !errors.Is(err, ErrPartnerSuspended) {
		t.Fatalf("resend to a suspended partner: %v", err)
	}
	if _, err := f.FetchCACertificates(ctx, "ZZ"); !errors.Is(err, ErrPartnerSuspended) {
		t.Fatalf("fetch from a suspended partner: %v", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("the suspended partner was called %d times", calls.Load()-1)
	}
	if err := st.SetPartnerStatus(ctx, "ZZ", store.PartnerActive); err != nil {
		t.Fatal(err)
	}
	if got := forward(); got != authority.OKRequestForwarded || calls.Load() != 2 {
		t.Fatalf("reinstated partner: %s, called %d times", got, calls.Load())
	}
}

// The registry joins the YAML routing table: a YAML entry stays as it is, a partner only
// registered gets its URL and SPOC root (its TLS server's only trust anchor).
func TestConfigWithRegistered(t *testing.T) {
	root, _ := certWith(t)
	rootPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
	yaml := Config{Partners: []Partner{{Country: "ZZ", URL: "https://zz.example/spoc"}}}
	c := yaml.WithRegistered([]store.Partner{{Country: "ZZ", URL: "https://other.example/"}, {Country: "QQ", URL: "https://qq.example/spoc", SPOCRoot: rootPEM}}, time.Minute)
	if len(yaml.Partners) != 1 || len(c.Partners) != 2 {
		t.Fatalf("partners %+v (YAML %+v)", c.Partners, yaml.Partners)
	}
	if zz, _ := c.Partner("ZZ"); zz.URL != "https://zz.example/spoc" {
		t.Fatalf("the YAML entry changed: %+v", zz)
	}
	if qq, _ := c.Partner("QQ"); qq.URL != "https://qq.example/spoc" || qq.Timeout != time.Minute || string(qq.CAPEM) != string(rootPEM) {
		t.Fatalf("registered entry %+v", qq)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	clients, err := c.Clients(nil)
	if err != nil || clients["QQ"] == nil {
		t.Fatalf("clients: %v", err)
	}
	c.Partners[1].CAPEM = []byte("not PEM")
	if _, err := c.Clients(nil); err == nil {
		t.Fatal("a registered root that is no PEM certificate")
	}
}

// A registered partner's SPOC is admitted only with a TLS certificate under the SPOC root CA
// of its registration.
func TestPartnerUnderRegisteredSPOCRoot(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	cert, fp := certWith(t, OIDTLSClient)
	other, _ := certWith(t, OIDTLSClient)
	if err := st.CreateHolder(ctx, &store.Holder{Country: "ZZ", Mnemonic: "SPOC", Role: store.RoleSPOC, Status: store.HolderActive, TLSFingerprint: fp}); err != nil {
		t.Fatal(err)
	}
	pemOf := func(c *x509.Certificate) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if err := st.CreatePartner(ctx, &store.Partner{Country: "ZZ", URL: "https://zz.example/spoc", SPOCRoot: pemOf(other)}); err != nil {
		t.Fatal(err)
	}
	svc := &Service{Config: Config{Partners: []Partner{{Country: "ZZ", URL: "https://zz.example/spoc"}}}, Store: st,
		Registry: ra.NewStoreRegistry(st), Logger: slog.New(slog.DiscardHandler)}
	caller := msg.Caller{Certificate: cert, Fingerprint: fp}
	general := msg.Message{Operation: "GeneralMessage", CallerID: "ZZ", MessageID: "g-1", Subject: "s", Body: "b"}
	if _, ok := svc.Admit(ctx, caller); ok {
		t.Fatal("a SPOC certificate under another root was admitted")
	}
	if got := svc.Handle(ctx, caller, general).ReturnCode; got == "ok" {
		t.Fatalf("GeneralMessage under another root: %s", got)
	}
	if err := st.DB().Model(&store.Partner{}).Where("country = ?", "ZZ").Update("spoc_root", pemOf(cert)).Error; err != nil {
		t.Fatal(err)
	}
	if _, ok := svc.Admit(ctx, caller); !ok {
		t.Fatal("the SPOC under its registered root was refused")
	}
	if got := svc.Handle(ctx, caller, general).ReturnCode; got != "ok" {
		t.Fatalf("GeneralMessage under the registered root: %s", got)
	}
}
