package console

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/ops"
	"eacgate/store"
)

// seedHeld stores a DV and n requests of it held for approval (the first with a real CV
// request of CHR UTDV100001), each with its held outbox item; it returns their IDs.
func (f *fixture) seedHeld(n int) []int64 {
	f.t.Helper()
	ctx := context.Background()
	dv := &store.Holder{Country: "UT", Mnemonic: "DV1", Role: store.RoleDVDomestic, Status: store.HolderActive}
	if err := f.st.CreateHolder(ctx, dv); err != nil {
		f.t.Fatal(err)
	}
	key, err := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	pub, err := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	if err != nil {
		f.t.Fatal(err)
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: "UTCVCA00001", CHR: "UTDV100001"}, pub, key)
	if err != nil {
		f.t.Fatal(err)
	}
	raw, err := req.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	var ids []int64
	for i := range n {
		m := &store.Message{Originator: "UTDV1", MessageID: "held-" + string(rune('a'+i)), Operation: "RequestCertificate", HolderID: &dv.ID,
			Request: raw, Approval: store.ApprovalPending, ResponseURL: "https://dv1.example:8443/callback"}
		if i > 0 {
			m.Request = []byte("not a CV request")
		}
		if err := f.st.AcceptMessage(ctx, m, &store.OutboxItem{TargetURL: m.ResponseURL, State: store.OutboxHeld}); err != nil {
			f.t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

// audited reports whether the audit log holds an event of action whose target contains target.
func (f *fixture) audited(action, target string) bool {
	f.t.Helper()
	evs, err := f.st.ListAudit(context.Background(), 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, e := range evs {
		if e.Action == action && strings.Contains(e.Target, target) {
			return true
		}
	}
	return false
}

func TestHeldRequestsApproveReject(t *testing.T) {
	f := newFixture(t)
	ids := f.seedHeld(2)
	ctx := context.Background()
	b := f.signedIn("rita", store.RoleRAOperator)
	if code := b.get("/console/requests"); code != http.StatusOK {
		t.Fatalf("requests page: %d", code)
	}
	for _, want := range []string{"<title>Held requests", "UTDV1", "UTDV100001", "UTCVCA00001", "dv1.example:8443", ">Approve</button>", ">Reject</button>"} {
		if !strings.Contains(b.last, want) {
			t.Fatalf("requests page lacks %q: %s", want, b.last)
		}
	}
	if code := b.post(pathf("/console/requests/%d/approve", ids[0]), url.Values{"reason": {"known DV"}}); code != http.StatusOK ||
		!strings.Contains(b.last, "approved") {
		t.Fatalf("approve: %d %s", code, b.last)
	}
	m, err := f.st.MessageByID(ctx, ids[0])
	if err != nil || m.Approval != store.ApprovalApproved || !strings.Contains(m.DecidedBy, "rita") {
		t.Fatalf("approved message = %+v, %v", m, err)
	}
	if strings.Contains(b.last, "UTDV100001") {
		t.Fatal("the approved request is still listed")
	}
	// A rejection needs a reason.
	if code := b.post(pathf("/console/requests/%d/reject", ids[1]), nil); code != http.StatusBadRequest {
		t.Fatalf("reject without a reason: %d", code)
	}
	b.get("/console/requests")
	if code := b.post(pathf("/console/requests/%d/reject", ids[1]), url.Values{"reason": {"unknown key"}}); code != http.StatusOK ||
		!strings.Contains(b.last, "rejected") {
		t.Fatalf("reject: %d %s", code, b.last)
	}
	if m, err = f.st.MessageByID(ctx, ids[1]); err != nil || m.Approval != store.ApprovalRejected {
		t.Fatalf("rejected message = %+v, %v", m, err)
	}
	// Deciding again is refused with ops' words.
	if b.post(pathf("/console/requests/%d/reject", ids[1]), url.Values{"reason": {"again"}}); !strings.Contains(b.last, "already rejected") {
		t.Fatalf("second decision: %s", b.last)
	}
	if !f.audited("console.request.approve", pathf("message:%d", ids[0])) || !f.audited("console.request.reject", pathf("message:%d", ids[1])) {
		t.Fatal("decisions not audited as console actions")
	}
}

func TestHeldRequestsReadOnlyAndForged(t *testing.T) {
	f := newFixture(t)
	ids := f.seedHeld(1)
	a := f.signedIn("aude", store.RoleAuditor)
	if a.get("/console/requests"); !strings.Contains(a.last, "UTDV100001") || strings.Contains(a.last, ">Approve</button>") {
		t.Fatalf("auditor's requests page: %s", a.last)
	}
	if code := a.post(pathf("/console/requests/%d/approve", ids[0]), nil); code != http.StatusForbidden {
		t.Fatalf("auditor approves: %d", code)
	}
	b := f.signedIn("rita", store.RoleRAOperator)
	b.get("/console/requests")
	for _, p := range []string{pathf("/console/requests/%d/approve", ids[0]), pathf("/console/requests/%d/reject", ids[0])} {
		if code := b.post(p, url.Values{"csrf": {""}, "reason": {"x"}}); code != http.StatusForbidden || !strings.Contains(b.last, "no CSRF token") {
			t.Fatalf("forged %s: %d %s", p, code, b.last)
		}
	}
	if m, _ := f.st.MessageByID(context.Background(), ids[0]); m.Approval != store.ApprovalPending {
		t.Fatalf("a forged form decided: %+v", m)
	}
}

func TestOutboxRetry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dead := &store.OutboxItem{TargetURL: "https://dv2.example/cb?secret=1", State: store.OutboxDead, Attempts: 8, LastError: "connection refused"}
	if err := f.st.EnqueueOutbox(ctx, dead); err != nil {
		t.Fatal(err)
	}
	if err := f.st.EnqueueOutbox(ctx, &store.OutboxItem{TargetURL: "https://dv3.example/cb", State: store.OutboxPending}); err != nil {
		t.Fatal(err)
	}
	b := f.signedIn("rita", store.RoleRAOperator)
	if code := b.get("/console/outbox?state=dead"); code != http.StatusOK {
		t.Fatalf("outbox: %d", code)
	}
	for _, want := range []string{"<title>Outbox", "dv2.example", "connection refused", ">Retry</button>"} {
		if !strings.Contains(b.last, want) {
			t.Fatalf("outbox page lacks %q: %s", want, b.last)
		}
	}
	if strings.Contains(b.last, "dv3.example") || strings.Contains(b.last, "secret=1") {
		t.Fatalf("the dead filter shows a pending item or the target's query: %s", b.last)
	}
	if code := b.post(pathf("/console/outbox/%d/retry", dead.ID), url.Values{"back": {"/console/outbox?state=dead"}}); code != http.StatusOK ||
		!strings.Contains(b.last, "queued again") {
		t.Fatalf("retry: %d %s", code, b.last)
	}
	if o, err := f.st.OutboxByID(ctx, dead.ID); err != nil || o.State != store.OutboxPending || o.Attempts != 0 {
		t.Fatalf("retried item = %+v, %v", o, err)
	}
	if !f.audited("console.outbox.retry", pathf("outbox:%d", dead.ID)) {
		t.Fatal("retry not audited")
	}
	// Retrying an item that is not dead is refused with the store's words.
	if b.post(pathf("/console/outbox/%d/retry", dead.ID), nil); !strings.Contains(b.last, "is pending") {
		t.Fatalf("retry of a pending item: %s", b.last)
	}
	if code := b.get("/console/outbox?state=bogus"); code != http.StatusBadRequest {
		t.Fatalf("unknown state: %d", code)
	}
	if code := b.post(pathf("/console/outbox/%d/retry", dead.ID), url.Values{"csrf": {"forged"}}); code != http.StatusForbidden {
		t.Fatalf("forged retry: %d", code)
	}
}

// fakeMessenger records the GeneralMessages sent (ops.PartnerMessenger).
type fakeMessenger struct {
	mu       sync.Mutex
	partners []string
	answer   map[string]authority.ReturnCode // by country; default ok
	sent     []string                        // country: subject / body
}

func (m *fakeMessenger) Partners() []string { return m.partners }

func (m *fakeMessenger) SendGeneralMessage(_ context.Context, country, _, subject, body string) (authority.ReturnCode, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, country+": "+subject+" / "+body)
	if rc, ok := m.answer[country]; ok {
		return rc, nil
	}
	return "ok", nil
}

func (m *fakeMessenger) messages() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.sent...)
}

func TestNotifyAndMessages(t *testing.T) {
	f := newFixture(t)
	fake := &fakeMessenger{partners: []string{"FR", "IT"}, answer: map[string]authority.ReturnCode{"IT": "failure_internal_error"}}
	f.h.Partners = fake
	b := f.signedIn("rita", store.RoleRAOperator)
	if code := b.get("/console/notify?to=FR"); code != http.StatusOK {
		t.Fatalf("notify page: %d", code)
	}
	for _, want := range []string{"<title>Notify partners", `<option value="FR" selected>`, "key-compromise", `<label for="notify-chr">`} {
		if !strings.Contains(b.last, want) {
			t.Fatalf("notify page lacks %q: %s", want, b.last)
		}
	}
	// Free text to one partner.
	if code := b.post("/console/notify", url.Values{"to": {"FR"}, "subject": {"Maintenance"}, "body": {"Our SPOC is down on Sunday."}}); code != http.StatusOK ||
		!strings.Contains(b.last, "Taken by FR") {
		t.Fatalf("notify FR: %d %s", code, b.last)
	}
	if got := fake.messages(); len(got) != 1 || got[0] != "FR: Maintenance / Our SPOC is down on Sunday." {
		t.Fatalf("sent = %q", got)
	}
	// The messages page shows it.
	if !strings.Contains(b.last, "<title>Messages") || !strings.Contains(b.last, "Maintenance") || !strings.Contains(b.last, "Our SPOC is down") {
		t.Fatalf("messages page: %s", b.last)
	}
	// A C.4 template with its fields, to all: IT refuses it.
	b.get("/console/notify")
	form := url.Values{"to": {"all"}, "template": {"key-compromise"}, "role": {"DV"}, "loss": {"stolen"}, "chr": {"UTDV100001"}, "date": {"2026-12-01"},
		"subject": {"ignored"}}
	if code := b.post("/console/notify", form); code != http.StatusOK || !strings.Contains(b.last, "Taken by FR") ||
		!strings.Contains(b.last, "NOT taken by IT (answered failure_internal_error)") {
		t.Fatalf("notify all: %d %s", code, b.last)
	}
	got := fake.messages()
	if len(got) != 3 || got[1] != "FR: DV private key stolen / Private key belonging to UTDV100001 was stolen on 2026-12-01." {
		t.Fatalf("sent = %q", got)
	}
	// An incomplete template is shown again with why, nothing sent.
	b.get("/console/notify")
	if code := b.post("/console/notify", url.Values{"to": {"FR"}, "template": {"termination"}, "role": {"IS"}}); code != http.StatusBadRequest ||
		!strings.Contains(b.last, "termination needs") {
		t.Fatalf("incomplete template: %d %s", code, b.last)
	}
	if len(fake.messages()) != 3 {
		t.Fatal("an incomplete notification was sent")
	}
	if !f.audited("console.partner.notify", "spoc:FR") {
		t.Fatal("notification not audited")
	}
	// An auditor reads the messages but may not notify.
	a := f.signedIn("aude", store.RoleAuditor)
	if a.get("/console/messages"); !strings.Contains(a.last, "DV private key stolen") || strings.Contains(a.last, `href="/console/notify"`) {
		t.Fatalf("auditor's messages page: %s", a.last)
	}
	if code := a.get("/console/notify"); code != http.StatusForbidden {
		t.Fatalf("auditor's notify page: %d", code)
	}
	// A forged form is refused.
	if code := b.post("/console/notify", url.Values{"csrf": {""}, "to": {"FR"}, "subject": {"x"}, "body": {"y"}}); code != http.StatusForbidden {
		t.Fatalf("forged notify: %d", code)
	}
}

func TestNotifyWithoutSPOCRole(t *testing.T) {
	f := newFixture(t)
	b := f.signedIn("rita", store.RoleRAOperator)
	if b.get("/console/notify"); !strings.Contains(b.last, "no SPOC role") || strings.Contains(b.last, "Send notification") {
		t.Fatalf("notify page without SPOC role: %s", b.last)
	}
	if code := b.post("/console/notify", url.Values{"to": {"FR"}, "subject": {"x"}, "body": {"y"}}); code != http.StatusConflict ||
		!strings.Contains(b.last, "Not sent: this gateway has no SPOC role") {
		t.Fatalf("notify without SPOC role: %d %s", code, b.last)
	}
	if !f.audited("console.partner.notify", "spoc:FR") {
		t.Fatal("refused notification not audited")
	}
}

var _ ops.PartnerMessenger = (*fakeMessenger)(nil)
