package ra

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/msg"
)

// memRegistry is an in-memory Registry for the service tests.
type memRegistry struct {
	mu      sync.Mutex
	holders map[string]*Holder
	certs   map[int64][]*cvc.Certificate
	msgs    map[string]*msg.Answer // holderID/messageID -> answer (nil while in progress)
	issued  int
	queued  []queued
}

type queued struct {
	holder int64
	m      msg.Message
	held   bool
}

func newMemRegistry() *memRegistry {
	return &memRegistry{holders: map[string]*Holder{}, certs: map[int64][]*cvc.Certificate{}, msgs: map[string]*msg.Answer{}}
}

func (r *memRegistry) HolderByFingerprint(_ context.Context, fp string) (*Holder, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.holders[fp]; ok {
		cp := *h
		return &cp, nil
	}
	return nil, ErrUnknown
}

func (r *memRegistry) CurrentCertificate(_ context.Context, id int64) (*cvc.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs := r.certs[id]; len(cs) > 0 {
		return cs[len(cs)-1], nil
	}
	return nil, ErrUnknown
}

func (r *memRegistry) CurrentCertificateFrom(_ context.Context, id int64, cars []string) (*cvc.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.certs[id]
	for i := len(cs) - 1; i >= 0; i-- {
		if slices.Contains(cars, cs[i].CAR) {
			return cs[i], nil
		}
	}
	return nil, ErrUnknown
}

func (r *memRegistry) Begin(_ context.Context, id int64, m msg.Message) (*msg.Answer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := fmt.Sprintf("%d/%s", id, m.MessageID)
	if a, ok := r.msgs[key]; ok && m.MessageID != "" {
		return a, ErrDuplicate
	}
	return nil, nil
}

func (r *memRegistry) Finish(_ context.Context, h *Holder, m msg.Message, a msg.Answer, cert *cvc.Certificate) (*msg.Answer, error) {
	id := h.ID
	r.mu.Lock()
	defer r.mu.Unlock()
	key := fmt.Sprintf("%d/%s", id, m.MessageID)
	if prev, ok := r.msgs[key]; ok && m.MessageID != "" && prev != nil {
		return prev, nil
	}
	r.msgs[key] = &a
	if cert != nil {
		r.certs[id] = append(r.certs[id], cert)
		r.issued++
	}
	return nil, nil
}

func (r *memRegistry) Enqueue(_ context.Context, id int64, m msg.Message, held bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := fmt.Sprintf("%d/%s", id, m.MessageID)
	if _, ok := r.msgs[key]; ok {
		return ErrDuplicate
	}
	r.msgs[key] = nil
	r.queued = append(r.queued, queued{id, m, held})
	return nil
}

// newTestCVCA makes a CVCA (UTCVCA00001) and a registry holding one domestic DV (UTDVA,
// TLS fingerprint "fp-dv").
func newTestCVCA(t testing.TB) (*ecc.PrivateKey, *cvc.Certificate, *memRegistry) {
	t.Helper()
	now := time.Now()
	cvcaKey, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	cvcaCert, err := authority.NewCVCA(authority.CVCASpec{CHR: "UTCVCA00001", Algorithm: cvc.ECDSA_SHA256,
		CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3|cvc.ISReadDG4), Effective: cvc.DateOf(now), Expiration: cvc.DateOf(now).AddDays(365)}, cvcaKey)
	if err != nil {
		t.Fatal(err)
	}
	reg := newMemRegistry()
	reg.holders["fp-dv"] = &Holder{ID: 1, Country: "UT", Mnemonic: "DVA", Role: cvc.RoleDVDomestic, Status: authority.StatusActive}
	return cvcaKey, cvcaCert, reg
}

func TestIssuingService(t *testing.T) {
	cvcaKey, cvcaCert, reg := newTestCVCA(t)
	svc := &IssuingService{
		Issuer:   &authority.Issuer{Path: []*cvc.Certificate{cvcaCert}, Signer: cvcaKey, Policy: authority.DefaultPolicy()},
		Registry: reg,
		Chain:    func(context.Context) ([][]byte, error) { return [][]byte{cvcaCert.Raw}, nil },
	}
	dv := msg.Caller{Fingerprint: "fp-dv"}
	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, err := cvc.NewRequest(cvc.RequestTemplate{CHR: "UTDVA00001"}, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	m := msg.Message{Operation: "RequestCertificate", MessageID: "m1", CertReq: req.Raw}
	a := svc.Handle(context.Background(), dv, m)
	if a.ReturnCode != authority.OKCertAvailable || len(a.Certificates) != 1 {
		t.Fatalf("%+v", a)
	}
	// The same messageID again: the first answer, nothing issued twice.
	again := svc.Handle(context.Background(), dv, m)
	if again.ReturnCode != authority.OKCertAvailable || string(again.Certificates[0]) != string(a.Certificates[0]) || reg.issued != 1 {
		t.Fatalf("duplicate: %+v, issued %d", again.ReturnCode, reg.issued)
	}
	// A new unauthenticated request while the certificate is valid is refused.
	m.MessageID = "m2"
	if got := svc.Handle(context.Background(), dv, m).ReturnCode; got != authority.FailureRequestNotAccepted {
		t.Fatalf("unauthenticated renewal: %s", got)
	}
	// Suspended holders and unknown callers are refused.
	reg.holders["fp-dv"].Status = authority.StatusSuspended
	m.MessageID = "m3"
	if got := svc.Handle(context.Background(), dv, m).ReturnCode; got != authority.FailureRequestNotAccepted {
		t.Fatalf("suspended: %s", got)
	}
	if got := svc.Handle(context.Background(), msg.Caller{Fingerprint: "nobody"}, m).ReturnCode; got != authority.FailureRequestNotAccepted {
		t.Fatalf("unregistered: %s", got)
	}
	ca := svc.Handle(context.Background(), dv, msg.Message{Operation: "GetCACertificates"})
	if ca.ReturnCode != authority.OKCertAvailable || len(ca.Certificates) != 1 {
		t.Fatalf("GetCACertificates: %+v", ca)
	}
	if got := svc.Handle(context.Background(), dv, msg.Message{Operation: "RequestCertificate", MessageID: "m4", CertReq: []byte{1, 2}}).ReturnCode; got != authority.FailureRequestNotAccepted {
		// suspended still
		t.Fatalf("garbage while suspended: %s", got)
	}
	// Refusals stay within each operation's return-code enumeration.
	for op, want := range map[string]authority.ReturnCode{
		"SendCertificates":      authority.FailureMessageIDUnknown,
		"GetDocumentSignerList": authority.FailureListNotAvailable,
		"GetCACertificates":     authority.FailureRequestNotAccepted,
	} {
		if got := svc.Handle(context.Background(), msg.Caller{Fingerprint: "nobody"}, msg.Message{Operation: op}).ReturnCode; got != want {
			t.Errorf("unregistered %s: %s, want %s", op, got, want)
		}
	}
	if got := svc.Handle(context.Background(), dv, msg.Message{Operation: "SendCertificates", MessageID: "never-sent"}).ReturnCode; got != authority.FailureMessageIDUnknown {
		t.Fatalf("SendCertificates: %s", got)
	}
	reg.holders["fp-dv"].Status = authority.StatusActive
	if got := svc.Handle(context.Background(), dv, msg.Message{Operation: "RequestCertificate", MessageID: "m5", CertReq: []byte{1, 2}}).ReturnCode; got != authority.FailureSyntax {
		t.Fatalf("garbage: %s", got)
	}
}

func TestIssuingServiceAsync(t *testing.T) {
	cvcaKey, cvcaCert, reg := newTestCVCA(t)
	mode := ModeApproval
	svc := &IssuingService{
		Issuer:   &authority.Issuer{Path: []*cvc.Certificate{cvcaCert}, Signer: cvcaKey, Policy: authority.DefaultPolicy()},
		Registry: reg,
		Mode:     func(*Holder, msg.Message) Mode { return mode },
	}
	dv := msg.Caller{Fingerprint: "fp-dv"}
	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, err := cvc.NewRequest(cvc.RequestTemplate{CHR: "UTDVA00001"}, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := func(id string, callback bool, url string, body []byte) authority.ReturnCode {
		return svc.Handle(ctx, dv, msg.Message{Operation: "RequestCertificate", MessageID: id, CallbackPossible: callback, ResponseURL: url, CertReq: body}).ReturnCode
	}
	// Approval without a callback: cannot be done synchronously.
	if got := call("a1", false, "", req.Raw); got != authority.FailureSynchronousProcessingNotPossible {
		t.Fatalf("approval without callback: %s", got)
	}
	// Approval with a plain-HTTP responseURL: refused, nothing queued.
	if got := call("a2", true, "http://dv.example/cb", req.Raw); got != authority.FailureSynchronousProcessingNotPossible {
		t.Fatalf("http responseURL: %s", got)
	}
	// A bad request is refused at once with its own code, not acknowledged.
	if got := call("a3", true, "https://dv.example/cb", []byte{1, 2, 3}); got != authority.FailureSyntax {
		t.Fatalf("bad request: %s", got)
	}
	if len(reg.queued) != 0 {
		t.Fatalf("queued %d", len(reg.queued))
	}
	// A good one is queued, held, and acknowledged with ok_syntax; its repeat is acknowledged
	// again without a second queue entry.
	for range 2 {
		if got := call("a4", true, "https://dv.example/cb", req.Raw); got != authority.OKSyntax {
			t.Fatalf("async: %s", got)
		}
	}
	if len(reg.queued) != 1 || !reg.queued[0].held || reg.queued[0].m.ResponseURL != "https://dv.example/cb" || reg.issued != 0 {
		t.Fatalf("queued %+v issued %d", reg.queued, reg.issued)
	}
	// ModeAsync: not held; without a callback the request is answered synchronously.
	mode = ModeAsync
	if got := call("a5", true, "https://dv.example/cb", req.Raw); got != authority.OKSyntax || reg.queued[1].held {
		t.Fatalf("async: %s %+v", got, reg.queued)
	}
	if got := call("a6", false, "", req.Raw); got != authority.OKCertAvailable || reg.issued != 1 {
		t.Fatalf("async without callback: %s", got)
	}
}
