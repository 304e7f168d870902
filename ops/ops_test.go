package ops

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"eacgate/internal/catest"
	"eacgate/store"
	"eacgate/trust"
)

func newService(t *testing.T) *Service {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	return &Service{Store: st, Country: "DE", Now: func() time.Time { return at }, Logger: slog.New(slog.DiscardHandler)}
}

// lastEvent is the newest audit event.
func lastEvent(t *testing.T, s *Service) store.AuditEvent {
	t.Helper()
	evs, err := s.Store.ListAudit(context.Background(), 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("audit log: %v %v", evs, err)
	}
	return evs[0]
}

func countEvents(t *testing.T, s *Service) int {
	t.Helper()
	evs, err := s.Store.ListAudit(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// wantEvent checks the newest event's fields (Details only if want has them).
func wantEvent(t *testing.T, s *Service, want store.AuditEvent) {
	t.Helper()
	got := lastEvent(t, s)
	if got.Actor != want.Actor || got.Action != want.Action || got.Target != want.Target || got.Source != want.Source ||
		got.Outcome != want.Outcome || (want.Details != "" && got.Details != want.Details) {
		t.Fatalf("audit event\n got %+v\nwant %+v", got, want)
	}
}

var (
	rest = Actor{Channel: ChannelREST, Name: "olga", Role: store.RoleRAOperator, Remote: "192.0.2.1"}
	cli  = Actor{Channel: ChannelCLI, Name: "root"}
	emca = Actor{Channel: ChannelEMCA, Name: "ops", Remote: "192.0.2.9", RequestID: "r1"}
)

// The names of the audit events are those each channel wrote before the channels shared
// the service.
func TestEventName(t *testing.T) {
	for _, tc := range []struct {
		a    Action
		ch   Channel
		want string
	}{
		{ActionHolderRegister, ChannelREST, "admin.holder.register"},
		{ActionHolderRegister, ChannelCLI, "holder.add"},
		{ActionHolderSuspend, ChannelREST, "admin.holder.suspend"},
		{ActionHolderSuspend, ChannelCLI, "holder.suspended"},
		{ActionHolderReinstate, ChannelREST, "admin.holder.reinstate"},
		{ActionHolderReinstate, ChannelCLI, "holder.active"},
		{ActionHolderRevoke, ChannelREST, "admin.holder.revoke"},
		{ActionHolderRevoke, ChannelCLI, "holder.revoked"},
		{ActionCertificateSuspend, ChannelREST, "admin.certificate.suspend"},
		{ActionCertificateSuspend, ChannelEMCA, "emca.suspend"},
		{ActionCertificateReinstate, ChannelEMCA, "emca.reinstate"},
		{ActionCertificateRevoke, ChannelEMCA, "emca.revoke"},
		{ActionCertificateRevoke, ChannelREST, "admin.certificate.revoke"},
		{ActionRequestApprove, ChannelREST, "admin.request.approve"},
		{ActionRequestApprove, ChannelCLI, "request.approve"},
		{ActionRequestReject, ChannelCLI, "request.reject"},
		{ActionOutboxRetry, ChannelREST, "admin.outbox.retry"},
		{ActionOutboxRetry, ChannelCLI, "outbox.retry"},
		{ActionOperatorAdd, ChannelCLI, "operator.add"},
		{ActionAPIClientAdd, ChannelCLI, "apiclient.add"},
		{ActionDenied, ChannelREST, "admin.denied"},
		{ActionLockout, ChannelEMCA, "emca.lockout"},
	} {
		if got := tc.a.EventName(tc.ch); got != tc.want {
			t.Errorf("%s via %s = %q, want %q", tc.a, tc.ch, got, tc.want)
		}
	}
}

func TestHolderActions(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	h := &store.Holder{Country: "DE", Mnemonic: "DV01", Role: store.RoleDVDomestic}
	if err := s.RegisterHolder(ctx, rest, h); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "operator:olga", Action: "admin.holder.register", Target: "DEDV01", Source: "192.0.2.1",
		Outcome: "ok", Details: `{"role":"dv_domestic"}`})
	if ev := lastEvent(t, s); !ev.At.Equal(s.Now()) {
		t.Fatalf("event at %v, not the service's clock", ev.At)
	}
	for _, step := range []struct {
		do     func(context.Context, Actor, int64, string) (*store.Holder, error)
		a      Actor
		status store.HolderStatus
		action string
	}{
		{s.SuspendHolder, cli, store.HolderSuspended, "holder.suspended"},
		{s.ReinstateHolder, rest, store.HolderActive, "admin.holder.reinstate"},
		{s.SuspendHolder, rest, store.HolderSuspended, "admin.holder.suspend"},
		{s.RevokeHolder, cli, store.HolderRevoked, "holder.revoked"},
	} {
		got, err := step.do(ctx, step.a, h.ID, "why")
		if err != nil || got.Status != step.status {
			t.Fatalf("%s: %v %v", step.action, got, err)
		}
		stored, _ := s.Store.HolderByID(ctx, h.ID)
		if stored.Status != step.status {
			t.Fatalf("%s: stored status %s", step.action, stored.Status)
		}
		wantEvent(t, s, store.AuditEvent{Actor: step.a.String(), Action: step.action, Target: "DEDV01", Source: step.a.source(),
			Outcome: "ok", Details: `{"reason":"why"}`})
	}
	// Refusals are audited too.
	if _, err := s.ReinstateHolder(ctx, rest, h.ID, "undo"); !errors.Is(err, store.ErrRevokedFinal) {
		t.Fatalf("reinstate revoked: %v", err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "operator:olga", Action: "admin.holder.reinstate", Target: "DEDV01", Source: "192.0.2.1",
		Outcome: "failed: revoked is final", Details: `{"reason":"undo"}`})
	if _, err := s.SuspendHolder(ctx, cli, 777, "who"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("suspend unknown: %v", err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "holder.suspended", Target: "holder:777", Source: "local", Outcome: "failed: not found"})
	if err := s.RegisterHolder(ctx, cli, &store.Holder{Country: "DE", Mnemonic: "DV01", Role: store.RoleTerminal}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("register twice: %v", err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "holder.add", Target: "DEDV01", Source: "local",
		Outcome: "failed: holder DEDV01 already exists"})
}

func TestCertificateActions(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	h := &store.Holder{Country: "DE", Mnemonic: "T1", Role: store.RoleTerminal}
	if err := s.Store.CreateHolder(ctx, h); err != nil {
		t.Fatal(err)
	}
	add := func(chr, car string, raw byte) *store.Certificate {
		c := &store.Certificate{HolderID: &h.ID, CHR: chr, CAR: car, Role: store.RoleTerminal, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), Raw: []byte{raw}}
		if err := s.Store.AddCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	ours, foreign := add("DET100001", "DEDV00001", 1), add("DET100002", "FRDV00001", 2)
	if _, err := s.SuspendCertificate(ctx, emca, ours.ID, "lost"); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "emca:ops", Action: "emca.suspend", Target: "DET100001", Source: "192.0.2.9",
		Outcome: "ok", Details: `{"remarks":"lost","requestId":"r1"}`})
	var te *TransitionError
	_, err := s.SuspendCertificate(ctx, rest, ours.ID, "again")
	if !errors.As(err, &te) || te.From != store.CertSuspended || err.Error() != "DET100001 is already suspended" {
		t.Fatalf("suspend twice: %v", err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "operator:olga", Action: "admin.certificate.suspend", Target: "DET100001", Source: "192.0.2.1",
		Outcome: "failed: DET100001 is already suspended", Details: `{"reason":"again"}`})
	if c, err := s.ReinstateCertificate(ctx, rest, ours.ID, "found"); err != nil || c.Status != store.CertValid {
		t.Fatalf("reinstate: %v %v", c, err)
	}
	if _, err := s.ReinstateCertificate(ctx, rest, ours.ID, "found"); !errors.As(err, &te) || err.Error() != "DET100001 is already valid" {
		t.Fatalf("reinstate valid: %v", err)
	}
	if _, err := s.RevokeCertificate(ctx, rest, ours.ID, "compromised"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SuspendCertificate(ctx, rest, ours.ID, "x"); !errors.Is(err, store.ErrRevokedFinal) {
		t.Fatalf("suspend revoked: %v", err)
	}
	if _, err := s.ReinstateCertificate(ctx, rest, ours.ID, "x"); !errors.As(err, &te) || err.Error() != "DET100001 is revoked, not suspended" {
		t.Fatalf("reinstate revoked: %v", err)
	}
	// An adapter words its refusals its own way.
	words := emca
	words.Words = func(err error) string { return "Certificate already revoked" }
	if _, err := s.RevokeCertificate(ctx, words, ours.ID, "x"); err == nil {
		t.Fatal("revoked twice")
	}
	wantEvent(t, s, store.AuditEvent{Actor: "emca:ops", Action: "emca.revoke", Target: "DET100001", Source: "192.0.2.9",
		Outcome: "failed: Certificate already revoked"})
	// No status is kept for a certificate another country's DV issued.
	n := countEvents(t, s)
	if _, err := s.SuspendCertificate(ctx, rest, foreign.ID, "x"); !errors.As(err, &te) || !te.NoStatus {
		t.Fatalf("suspend foreign: %v", err)
	}
	if got, _ := s.Store.CertificateByID(ctx, foreign.ID); got.Status != store.CertValid {
		t.Fatalf("foreign certificate %s", got.Status)
	}
	if countEvents(t, s) != n+1 || !strings.HasPrefix(lastEvent(t, s).Outcome, "failed: no status is kept for DET100002") {
		t.Fatalf("refusal not audited: %+v", lastEvent(t, s))
	}
	if _, err := s.RevokeCertificate(ctx, rest, 999, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "operator:olga", Action: "admin.certificate.revoke", Target: "certificate:999", Source: "192.0.2.1",
		Outcome: "failed: not found"})
}

func TestQueueActions(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	held := func(id string) int64 {
		m := &store.Message{Originator: "DEDV", MessageID: id, Operation: "RequestCertificate", Request: []byte{1}, Approval: store.ApprovalPending}
		if err := s.Store.AcceptMessage(ctx, m, &store.OutboxItem{State: store.OutboxHeld, Kind: store.OutboxProcess, TargetURL: "https://dv/cb"}); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	a, b := held("m1"), held("m2")
	if err := s.ApproveRequest(ctx, rest, a, ""); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Store.MessageByID(ctx, a); m.Approval != store.ApprovalApproved || m.DecidedBy != "operator:olga" {
		t.Fatalf("approved: %+v", m)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "operator:olga", Action: "admin.request.approve", Target: "message:" + itoa(a), Source: "192.0.2.1", Outcome: "ok"})
	if err := s.RejectRequest(ctx, cli, b, "unknown DV"); err != nil {
		t.Fatal(err)
	}
	m, _ := s.Store.MessageByID(ctx, b)
	if m.Approval != store.ApprovalRejected || m.DecidedBy != "cli:root" || m.ReturnCode != "failure_request_not_accepted" {
		t.Fatalf("rejected: %+v", m)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "request.reject", Target: "message:" + itoa(b), Source: "local",
		Outcome: "ok", Details: `{"reason":"unknown DV"}`})
	if err := s.ApproveRequest(ctx, cli, b, ""); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("approve rejected: %v", err)
	}
	if ev := lastEvent(t, s); ev.Action != "request.approve" || !strings.HasPrefix(ev.Outcome, "failed: ") {
		t.Fatalf("refused approval: %+v", ev)
	}

	o := &store.OutboxItem{TargetURL: "https://dv/cb", Payload: []byte("a")}
	if err := s.Store.EnqueueOutbox(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := s.RetryOutbox(ctx, rest, o.ID); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("retry pending: %v", err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "operator:olga", Action: "admin.outbox.retry", Target: "outbox:" + itoa(o.ID), Source: "192.0.2.1",
		Outcome: "failed: retry dead: conflict: outbox item " + itoa(o.ID) + " is pending"})
	if err := s.Store.DB().Exec("UPDATE outbox SET state = ? WHERE id = ?", store.OutboxDead, o.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.RetryOutbox(ctx, cli, o.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Store.OutboxByID(ctx, o.ID); got.State != store.OutboxPending {
		t.Fatalf("retried: %s", got.State)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "outbox.retry", Target: "outbox:" + itoa(o.ID), Source: "local", Outcome: "ok"})
}

func TestRegistrationActions(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	if err := s.AddOperator(ctx, cli, &store.Operator{Name: "olga", Role: store.RoleRAOperator, TokenHash: "t"}); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "operator.add", Target: "olga", Source: "local", Outcome: "ok"})
	if err := s.AddOperator(ctx, cli, &store.Operator{Name: "olga", Role: store.RoleRAOperator, TokenHash: "u"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("operator twice: %v", err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "operator.add", Target: "olga", Source: "local",
		Outcome: "failed: operator olga already exists"})
	c := &store.APIClient{EMKey: "k", UserName: "ops", AESKey: make([]byte, 32), Certificate: []byte{0x30}}
	if err := s.AddAPIClient(ctx, cli, c); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "apiclient.add", Target: "ops", Source: "local", Outcome: "ok"})
	if _, err := s.Store.APIClientByKey(ctx, "k"); err != nil {
		t.Fatal(err)
	}
}

// Record writes the events adapters decide themselves, in the same vocabulary.
func TestRecord(t *testing.T) {
	s := newService(t)
	if err := s.Record(context.Background(), rest, ActionDenied, "POST /admin/v1/holders", "forbidden", nil); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "operator:olga", Action: "admin.denied", Target: "POST /admin/v1/holders", Source: "192.0.2.1", Outcome: "forbidden"})
	if err := s.Record(context.Background(), emca, ActionLockout, "api_client:ops", "locked", map[string]string{"until": "x"}); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "emca:ops", Action: "emca.lockout", Target: "api_client:ops", Source: "192.0.2.9", Outcome: "locked", Details: `{"until":"x"}`})
}

// When the audit event cannot be written, the action is not done.
func TestActionWithoutAuditIsNotDone(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	h := &store.Holder{Country: "DE", Mnemonic: "T1", Role: store.RoleTerminal}
	if err := s.Store.CreateHolder(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.DB().Exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END`).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := s.SuspendHolder(ctx, rest, h.ID, "why"); err == nil || PublicText(err) != "internal error" {
		t.Fatalf("suspend without audit: %v", err)
	}
	if got, _ := s.Store.HolderByID(ctx, h.ID); got.Status != store.HolderActive {
		t.Fatalf("holder %s without an audit event", got.Status)
	}
}

func TestPublicText(t *testing.T) {
	for err, want := range map[error]string{
		&TransitionError{CHR: "X", From: store.CertValid, To: store.CertValid}:     "X is already valid",
		errors.Join(errors.New("store: x"), store.ErrNotFound):                     "not found",
		errors.Join(errors.New("store: x"), store.ErrRevokedFinal):                 "revoked is final",
		errors.New("pq: relation holders does not exist"):                          "internal error",
		&store.ConflictError{Msg: "holder DEDV01 already exists"}:                  "holder DEDV01 already exists",
		&TransitionError{CHR: "X", From: store.CertValid, To: "x", NoStatus: true}: "no status is kept for X (not issued by this gateway)",
	} {
		if got := PublicText(err); got != want {
			t.Errorf("PublicText(%v) = %q, want %q", err, got, want)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A CVCA certificate is stored as trust anchor only under its confirmed SHA-256, or as a link
// that verifies; the certificate and its audit event are written together, and nothing is
// stored when the event cannot be.
func TestAddCVCACertificate(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	root := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	cert := root.Certificate()
	sum := trust.CertificateSHA256(cert)
	target := "certificate:ZZCVCA00001"
	if _, err := s.AddCVCACertificate(ctx, cli, cert, ""); !errors.Is(err, trust.ErrUnverified) {
		t.Fatalf("a first root without its SHA-256: %v", err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "trust.add", Target: target, Source: "local", Outcome: "failed: internal error"})
	if err := s.Store.DB().Exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END`).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddCVCACertificate(ctx, cli, cert, sum); err == nil {
		t.Fatal("stored without its audit event")
	}
	if chain, _ := s.Store.CVCAChain(ctx, "ZZ"); len(chain) != 0 {
		t.Fatalf("%d certificates stored without their audit event", len(chain))
	}
	if err := s.Store.DB().Exec(`DROP TRIGGER refuse_audit`).Error; err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		added, err := s.AddCVCACertificate(ctx, cli, cert, sum)
		if err != nil || added != want {
			t.Fatalf("add %d: added %v, %v", i, added, err)
		}
		wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "trust.add", Target: target, Source: "local", Outcome: "ok",
			Details: `{"sha256":"` + sum + `"}`})
	}
}
