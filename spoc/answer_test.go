package spoc

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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
	"eacgate/trust"
)

// openStore opens an SQLite store in the test's directory, closed at its end.
func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// fakePartner is a partner SPOC that answers GetCACertificates with its CVCA certificates.
type fakePartner struct {
	roots [][]byte
	calls atomic.Int32
}

func (p *fakePartner) Handle(_ context.Context, _ msg.Caller, m msg.Message) msg.Answer {
	if m.Operation != "GetCACertificates" {
		return msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}
	}
	p.calls.Add(1)
	return msg.Answer{ReturnCode: authority.OKCertAvailable, Certificates: p.roots}
}

// The certificates a partner SPOC returns for a forwarded request are relayed only when they
// answer it: the request's CHR and key, signed under the partner country's CVCA (fetched
// from the partner, under its pin, when not yet stored), not expired.
func TestForwardedAnswerChecked(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dv := &store.Holder{Country: "UT", Mnemonic: "DVN", Role: store.RoleDVDomestic, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, dv); err != nil {
		t.Fatal(err)
	}
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	impostor := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1") // same CHR, another key
	partner := &fakePartner{roots: [][]byte{zz.Certificate().Raw}}
	srv := httptest.NewTLSServer(&server.Endpoint{Protocols: server.SPOCProtocols, Service: partner})
	defer srv.Close()
	f := &Forwarder{Country: "UT", Store: st, Registry: ra.NewStoreRegistry(st),
		Config:  Config{Partners: []Partner{{Country: "ZZ", URL: srv.URL, CVCASHA256: []string{trust.CertificateSHA256(zz.Certificate())}}}},
		Clients: map[string]*http.Client{"ZZ": srv.Client()}}

	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: "ZZCVCA00001", CHR: "UTDVN00002"}, pub, key)
	hid := dv.ID
	out := &store.Message{Originator: "self", MessageID: "fwd-1", Operation: "RequestCertificate", Request: req.Raw,
		HolderID: &hid, Direction: store.Outgoing, Peer: Outgoing("ZZ"), State: store.MessageProcessing}
	if err := st.AcceptMessage(ctx, out, nil); err != nil {
		t.Fatal(err)
	}
	app := authority.Applicant{Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVForeign, Status: authority.StatusActive}
	issue := func(is *authority.Issuer, raw []byte) []byte {
		t.Helper()
		c, err := is.Issue(raw, app)
		if err != nil {
			t.Fatal(err)
		}
		return c.Raw
	}
	otherKey, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	otherPub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, otherKey.Public(), true)
	otherReq, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: "ZZCVCA00001", CHR: "UTDVN00002"}, otherPub, otherKey)
	// Issued under the stored root, 200 days ago: expired since.
	expired := &authority.Issuer{Path: zz.Path, Signer: zz.Signer, Policy: zz.Policy,
		Now: func() time.Time { return time.Now().AddDate(0, 0, -200) }}

	for name, certs := range map[string][][]byte{
		"another key":       {issue(zz, otherReq.Raw)},
		"unknown CVCA key":  {issue(impostor, req.Raw)},
		"no certificate":    nil,
		"garbage":           {{0x7f, 0x21, 0x01}},
		"CVCA only":         {zz.Certificate().Raw},
		"expired":           {issue(expired, req.Raw)},
		"answer plus extra": {issue(zz, req.Raw), issue(zz, otherReq.Raw)},
	} {
		if _, _, err := f.AnswerRows(ctx, out, certs); !errors.Is(err, trust.ErrAnswerUnverified) {
			t.Errorf("%s: %v, want ErrAnswerUnverified", name, err)
		}
	}
	good := issue(zz, req.Raw)
	rows, result, err := f.AnswerRows(ctx, out, [][]byte{good, zz.Certificate().Raw})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].CHR != "UTDVN00002" || rows[0].Role != store.RoleDVForeign || *rows[0].HolderID != dv.ID ||
		string(result) != string(good)+string(zz.Certificate().Raw) {
		t.Fatalf("rows %+v", rows)
	}
	if chain, _ := st.CVCAChain(ctx, "ZZ"); len(chain) != 1 {
		t.Fatalf("ZZ chain: %d certificates", len(chain))
	}

	// A partner serving a root other than the pinned one: nothing is stored or relayed.
	st2 := openStore(t)
	if err := st2.CreateHolder(ctx, &store.Holder{Country: "UT", Mnemonic: "DVN", Role: store.RoleDVDomestic, Status: store.HolderActive}); err != nil {
		t.Fatal(err)
	}
	partner.roots = [][]byte{impostor.Certificate().Raw}
	f.Store, f.Registry = st2, ra.NewStoreRegistry(st2)
	if _, _, err := f.AnswerRows(ctx, out, [][]byte{issue(impostor, req.Raw)}); !errors.Is(err, trust.ErrNoCVCAChain) {
		t.Fatalf("unpinned root: %v, want ErrNoCVCAChain", err)
	}
	if chain, _ := st2.CVCAChain(ctx, "ZZ"); len(chain) != 0 {
		t.Fatal("an unpinned root was stored")
	}

	// The partner cannot be reached for its CVCA certificates: the answer is neither taken
	// nor refused (an error the partner is answered failure_internal_error for, and retries).
	srv.Close()
	_, _, err = f.AnswerRows(ctx, out, [][]byte{issue(zz, req.Raw)})
	if err == nil || errors.Is(err, trust.ErrAnswerUnverified) {
		t.Fatalf("partner unreachable: %v, want an error other than ErrAnswerUnverified", err)
	}
}

// A late answer (SendCertificates) whose certificates do not answer the forwarded request is
// refused to the partner with failure_syntax, and the DV that asked is told at its
// responseURL that the foreign request failed, as on the synchronous path, instead of
// waiting for an answer that will not come.
func TestUnverifiedLateAnswerTellsDV(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dv := &store.Holder{Country: "UT", Mnemonic: "DVN", Role: store.RoleDVDomestic, Status: store.HolderActive}
	zzSPOC := &store.Holder{Country: "ZZ", Mnemonic: "SPOC", Role: store.RoleSPOC, Status: store.HolderActive}
	for _, h := range []*store.Holder{dv, zzSPOC} {
		if err := st.CreateHolder(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	impostor := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	reg := ra.NewStoreRegistry(st)
	if _, err := reg.Trust().AddCVCACertificate(ctx, zz.Certificate(), true); err != nil {
		t.Fatal(err)
	}
	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: "ZZCVCA00001", CHR: "UTDVN00002"}, pub, key)
	hid := dv.ID
	in := &store.Message{Originator: ra.Originator(dv.ID), MessageID: "dv-1", Operation: "RequestForeignCertificate",
		Request: req.Raw, HolderID: &hid, ResponseURL: "https://dv.example/cb", State: store.MessageProcessing}
	if err := st.AcceptMessage(ctx, in, nil); err != nil {
		t.Fatal(err)
	}
	out := &store.Message{Originator: "self", MessageID: "fwd-1", Operation: "RequestCertificate", Request: req.Raw,
		HolderID: &hid, Direction: store.Outgoing, Peer: Outgoing("ZZ"), State: store.MessageProcessing, ParentID: &in.ID}
	if err := st.AcceptMessage(ctx, out, nil); err != nil {
		t.Fatal(err)
	}
	app := authority.Applicant{Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVForeign, Status: authority.StatusActive}
	bogus, err := impostor.Issue(req.Raw, app)
	if err != nil {
		t.Fatal(err)
	}
	svc := &Service{Store: st, Registry: reg}
	m := msg.Message{Operation: "SendCertificates", MessageID: "fwd-1", StatusInfo: string(authority.OKCertAvailable),
		Certificates: [][]byte{bogus.Raw}}
	if got := svc.sendCertificates(ctx, svc.logger(), zzSPOC, m).ReturnCode; got != authority.FailureSyntax {
		t.Fatalf("partner answered %s, want failure_syntax", got)
	}
	parent, err := st.MessageByID(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if parent.State != store.MessageAnswered || parent.ReturnCode != string(authority.FailureRequestNotAcceptedForeign) {
		t.Fatalf("DV's request: %s %s", parent.State, parent.ReturnCode)
	}
	items, err := st.ListOutbox(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].TargetURL != "https://dv.example/cb" || items[0].MessageRowID == nil || *items[0].MessageRowID != in.ID {
		t.Fatalf("outbox %+v", items)
	}
	if certs, _ := st.ListCertificatesOfHolder(ctx, dv.ID); len(certs) != 0 {
		t.Fatalf("%d certificates stored for the DV", len(certs))
	}

	// Step 13 for answers that come after the first: the result of the check is the answer.
	// The refused answer sent again, and even a good one after it, are refused (the DV was
	// told already); nothing is relayed.
	good, err := zz.Issue(req.Raw, app)
	if err != nil {
		t.Fatal(err)
	}
	for name, certs := range map[string][][]byte{"the same again": {bogus.Raw}, "a good one late": {good.Raw}} {
		m.Certificates = certs
		if got := svc.sendCertificates(ctx, svc.logger(), zzSPOC, m).ReturnCode; got != authority.FailureSyntax {
			t.Errorf("%s: partner answered %s, want failure_syntax", name, got)
		}
	}
	if certs, _ := st.ListCertificatesOfHolder(ctx, dv.ID); len(certs) != 0 {
		t.Fatalf("%d certificates stored for the DV", len(certs))
	}
}

// A SendCertificates repeated after its certificates were taken is acknowledged again only
// when what it carries answers the request (TR-03139 Table 2 step 13).
func TestRepeatedAnswerChecked(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dv := &store.Holder{Country: "UT", Mnemonic: "DVN", Role: store.RoleDVDomestic, Status: store.HolderActive}
	zzSPOC := &store.Holder{Country: "ZZ", Mnemonic: "SPOC", Role: store.RoleSPOC, Status: store.HolderActive}
	for _, h := range []*store.Holder{dv, zzSPOC} {
		if err := st.CreateHolder(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	impostor := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	reg := ra.NewStoreRegistry(st)
	if _, err := reg.Trust().AddCVCACertificate(ctx, zz.Certificate(), true); err != nil {
		t.Fatal(err)
	}
	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: "ZZCVCA00001", CHR: "UTDVN00002"}, pub, key)
	hid := dv.ID
	in := &store.Message{Originator: ra.Originator(dv.ID), MessageID: "dv-1", Operation: "RequestForeignCertificate",
		Request: req.Raw, HolderID: &hid, State: store.MessageProcessing}
	if err := st.AcceptMessage(ctx, in, nil); err != nil {
		t.Fatal(err)
	}
	out := &store.Message{Originator: "self", MessageID: "fwd-1", Operation: "RequestCertificate", Request: req.Raw,
		HolderID: &hid, Direction: store.Outgoing, Peer: Outgoing("ZZ"), State: store.MessageProcessing, ParentID: &in.ID}
	if err := st.AcceptMessage(ctx, out, nil); err != nil {
		t.Fatal(err)
	}
	app := authority.Applicant{Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVForeign, Status: authority.StatusActive}
	good, err := zz.Issue(req.Raw, app)
	if err != nil {
		t.Fatal(err)
	}
	bogus, err := impostor.Issue(req.Raw, app)
	if err != nil {
		t.Fatal(err)
	}
	svc := &Service{Store: st, Registry: reg}
	send := func(c *cvc.Certificate) authority.ReturnCode {
		return svc.sendCertificates(ctx, svc.logger(), zzSPOC, msg.Message{Operation: "SendCertificates", MessageID: "fwd-1",
			StatusInfo: string(authority.OKCertAvailable), Certificates: [][]byte{c.Raw}}).ReturnCode
	}
	if got := send(good); got != authority.OKReceivedCorrectly {
		t.Fatalf("first answer: %s", got)
	}
	if got := send(good); got != authority.OKReceivedCorrectly {
		t.Fatalf("the same again: %s", got)
	}
	if got := send(bogus); got != authority.FailureSyntax {
		t.Fatalf("another, forged certificate: %s, want failure_syntax", got)
	}
	if certs, _ := st.ListCertificatesOfHolder(ctx, dv.ID); len(certs) != 1 {
		t.Fatalf("%d certificates stored for the DV, want 1", len(certs))
	}
}

// Without a forwarder, the service checks an answer's certificates at its own clock: one
// expired today is taken when the service's clock is still within its validity.
func TestServiceAnswerAtItsClock(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dv := &store.Holder{Country: "UT", Mnemonic: "DVN", Role: store.RoleDVDomestic, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, dv); err != nil {
		t.Fatal(err)
	}
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	if err := st.AddCertificate(ctx, &store.Certificate{CHR: zz.Certificate().CHR, CAR: zz.Certificate().CAR,
		Role: store.RoleCVCA, NotBefore: zz.Certificate().EffectiveDate.Time(), NotAfter: zz.Certificate().ExpirationDate.Time(),
		Raw: zz.Certificate().Raw}); err != nil {
		t.Fatal(err)
	}
	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: "ZZCVCA00001", CHR: "UTDVN00002"}, pub, key)
	hid := dv.ID
	out := &store.Message{Originator: "self", MessageID: "fwd-1", Operation: "RequestCertificate", Request: req.Raw,
		HolderID: &hid, Direction: store.Outgoing, Peer: Outgoing("ZZ"), State: store.MessageProcessing}
	if err := st.AcceptMessage(ctx, out, nil); err != nil {
		t.Fatal(err)
	}
	past := time.Now().AddDate(0, 0, -200)
	expired := &authority.Issuer{Path: zz.Path, Signer: zz.Signer, Policy: zz.Policy, Now: func() time.Time { return past }}
	c, err := expired.Issue(req.Raw, authority.Applicant{Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVForeign, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{Registry: ra.NewStoreRegistry(st)}
	if _, _, err := s.answerRows(ctx, out, [][]byte{c.Raw}); !errors.Is(err, trust.ErrAnswerUnverified) {
		t.Fatalf("today: %v, want ErrAnswerUnverified (expired)", err)
	}
	s.Now = func() time.Time { return past }
	if rows, _, err := s.answerRows(ctx, out, [][]byte{c.Raw}); err != nil || len(rows) != 1 {
		t.Fatalf("at the service's clock: %d rows, %v", len(rows), err)
	}
}
