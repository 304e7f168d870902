package ops

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/internal/catest"
	"eacgate/store"
	"eacgate/trust"
)

// operator creates an operator account and returns its REST actor.
func operator(t *testing.T, s *Service, name, person string, role store.OperatorRole) Actor {
	t.Helper()
	o := &store.Operator{Name: name, Person: person, Role: role, TokenHash: "token-" + name}
	if err := s.Store.CreateOperator(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return Actor{Channel: ChannelREST, Name: name, Role: role, OperatorID: o.ID, Person: o.Person, Remote: "192.0.2.9"}
}

var dv = HolderRegistration{Country: "DE", Mnemonic: "DV1", Role: store.RoleDVDomestic, IPRanges: "192.0.2.0/24"}

// One operator cannot complete a critical task alone, nor with another token of the same
// person or an approver of a role not allowed; a second person of an allowed role can, and
// what runs is exactly what was proposed.
func TestTwoPersonPrinciple(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	olga := operator(t, s, "olga", "Olga", store.RoleRAOperator)
	olga2 := operator(t, s, "olga-laptop", "Olga", store.RoleRAOperator)
	carl := operator(t, s, "carl", "Carl", store.RoleCAOperator)
	audit := operator(t, s, "audrey", "Audrey", store.RoleAuditor)
	paul := operator(t, s, "paul", "Paul", store.RoleRAOperator)

	p, err := s.Propose(ctx, olga, ActionHolderRegister, dv)
	if err != nil || p.State != store.ProposalOpen || p.ID == 0 || p.Quorum != 2 || p.Executed() {
		t.Fatalf("propose = %+v, %v", p, err)
	}
	if !strings.HasPrefix(p.Description, "Register DEDV1 as dv_domestic, from 192.0.2.0/24.\n{") || len(p.SHA256) != 64 {
		t.Fatalf("description %q hash %q", p.Description, p.SHA256)
	}
	if !p.ExpiresAt.Equal(s.Now().Add(24 * time.Hour)) {
		t.Fatalf("expires %s", p.ExpiresAt)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "operator:olga", Action: "admin.proposal.create", Target: "proposal:1", Source: "192.0.2.9", Outcome: "ok"})
	if _, err := s.Store.HolderByName(ctx, "DE", "DV1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("holder registered by the proposal alone: %v", err)
	}
	for _, c := range []struct {
		who  Actor
		hash string
		want error
	}{
		{olga, p.SHA256, ErrSamePerson},
		{olga2, p.SHA256, ErrSamePerson},
		{carl, p.SHA256, ErrRoleNotAllowed},
		{audit, p.SHA256, ErrRoleNotAllowed},
		{paul, strings.Repeat("0", 64), ErrHashMismatch},
		{Actor{Channel: ChannelCLI, Name: "root"}, p.SHA256, ErrNeedOperator},
	} {
		if _, err := s.Approve(ctx, c.who, p.ID, c.hash); !errors.Is(err, c.want) {
			t.Fatalf("approval by %s: %v, want %v", c.who.Name, err, c.want)
		}
		if !strings.HasPrefix(lastEvent(t, s).Outcome, "failed: ") {
			t.Fatalf("refusal not audited: %+v", lastEvent(t, s))
		}
	}
	if _, err := s.Store.HolderByName(ctx, "DE", "DV1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("holder registered without a second person: %v", err)
	}

	done, err := s.Approve(ctx, paul, p.ID, strings.ToUpper(p.SHA256))
	if err != nil || !done.Executed() {
		t.Fatalf("approval by paul = %+v, %v", done, err)
	}
	h, err := s.Store.HolderByName(ctx, "DE", "DV1")
	if err != nil {
		t.Fatal(err)
	}
	if got := (HolderRegistration{Country: h.Country, Mnemonic: h.Mnemonic, Role: h.Role, TLSFingerprint: h.TLSFingerprint, IPRanges: h.IPRanges}); got != dv {
		t.Fatalf("registered %+v, proposed %+v", got, dv)
	}
	if r, ok := done.Output.(*store.Holder); !ok || r.ID != h.ID {
		t.Fatalf("result = %#v", done.Output)
	}
	// The approval and the change are one commit: the change's event names the proposal.
	evs, _ := s.Store.ListAudit(ctx, 2)
	if evs[1].Action != "admin.proposal.approve" || evs[0].Action != "admin.holder.register" || evs[0].Actor != "operator:olga" ||
		!strings.Contains(evs[0].Details, `"approved_by":"operator:paul","proposal":1`) || !strings.Contains(evs[1].Details, `"executed":true`) {
		t.Fatalf("events = %+v", evs)
	}
	stored, err := s.GetProposal(ctx, p.ID)
	if err != nil || stored.State != store.ProposalExecuted || stored.DecidedBy != "operator:paul" || len(stored.Approvals) != 1 ||
		stored.Approvals[0].Person != "Paul" {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
	if _, err := s.Approve(ctx, operator(t, s, "pia", "Pia", store.RoleRAOperator), p.ID, p.SHA256); !errors.Is(err, ErrProposalNotOpen) {
		t.Fatalf("approval of an executed proposal: %v", err)
	}
}

func TestProposalExpiresAndWithdraws(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	now := s.Now()
	s.Now = func() time.Time { return now }
	olga := operator(t, s, "olga", "Olga", store.RoleRAOperator)
	paul := operator(t, s, "paul", "Paul", store.RoleRAOperator)
	admin := operator(t, s, "root", "Root", store.RoleSystemAdministrator)

	p, err := s.Propose(ctx, olga, ActionHolderRegister, dv)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(24 * time.Hour)
	if _, err := s.Approve(ctx, paul, p.ID, p.SHA256); !errors.Is(err, ErrProposalExpired) {
		t.Fatalf("approval of an expired proposal: %v", err)
	}
	if got, _ := s.GetProposal(ctx, p.ID); got.State != store.ProposalExpired {
		t.Fatalf("state %s", got.State)
	}
	if _, err := s.Store.HolderByName(ctx, "DE", "DV1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired proposal ran: %v", err)
	}

	p, err = s.Propose(ctx, olga, ActionHolderRegister, dv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Withdraw(ctx, paul, p.ID); !errors.Is(err, ErrNotProposer) {
		t.Fatalf("withdrawal by another RA operator: %v", err)
	}
	if w, err := s.Withdraw(ctx, olga, p.ID); err != nil || w.State != store.ProposalWithdrawn {
		t.Fatalf("withdraw = %+v, %v", w, err)
	}
	if _, err := s.Approve(ctx, paul, p.ID, p.SHA256); !errors.Is(err, ErrProposalNotOpen) {
		t.Fatalf("approval of a withdrawn proposal: %v", err)
	}
	// A system administrator may withdraw any proposal; a rejection closes one too.
	p, _ = s.Propose(ctx, olga, ActionHolderRegister, dv)
	if _, err := s.Withdraw(ctx, admin, p.ID); err != nil {
		t.Fatal(err)
	}
	p, _ = s.Propose(ctx, olga, ActionHolderRegister, dv)
	if _, err := s.Reject(ctx, olga, p.ID, "no"); !errors.Is(err, ErrSamePerson) {
		t.Fatalf("rejection by the proposer: %v", err)
	}
	if r, err := s.Reject(ctx, paul, p.ID, "not on the form"); err != nil || r.State != store.ProposalRejected || r.Result != "not on the form" {
		t.Fatalf("reject = %+v, %v", r, err)
	}
	if _, err := s.Approve(ctx, paul, p.ID, p.SHA256); !errors.Is(err, ErrProposalNotOpen) {
		t.Fatalf("approval of a rejected proposal: %v", err)
	}
	list, err := s.ListProposals(ctx, "")
	if err != nil || len(list) != 4 {
		t.Fatalf("list = %+v, %v", list, err)
	}
}

// Quorum 1 and bootstrap run at once; quorum 3 needs three persons; a task that fails when
// approved is marked failed, the approval kept.
func TestProposalQuorum(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	s.TwoPerson = TwoPerson{Quorum: map[string]int{"holder.register": 1, "holder.revoke": 3}}
	if err := s.TwoPerson.Validate(); err != nil {
		t.Fatal(err)
	}
	boot := Actor{Channel: ChannelCLI, Name: "root", Bootstrap: true}
	p, err := s.Propose(ctx, boot, ActionHolderRevoke, HolderStatusChange{HolderID: 1, Holder: "DEDV1", Reason: "x"})
	if !errors.Is(err, store.ErrNotFound) || p != nil {
		t.Fatalf("bootstrap revoke of an unknown holder: %v", err)
	}
	p, err = s.Propose(ctx, boot, ActionHolderRegister, dv)
	if err != nil || !p.Executed() || p.ID != 0 {
		t.Fatalf("bootstrap = %+v, %v", p, err)
	}
	if ev := lastEvent(t, s); ev.Action != "holder.add" || !strings.Contains(ev.Details, `"bootstrap":true`) {
		t.Fatalf("bootstrap event %+v", ev)
	}
	olga := operator(t, s, "olga", "Olga", store.RoleRAOperator)
	paul := operator(t, s, "paul", "Paul", store.RoleRAOperator)
	pia := operator(t, s, "pia", "Pia", store.RoleRAOperator)
	p, err = s.Propose(ctx, olga, ActionHolderRegister, HolderRegistration{Country: "DE", Mnemonic: "DV2", Role: store.RoleDVDomestic})
	if err != nil || !p.Executed() {
		t.Fatalf("quorum 1 = %+v, %v", p, err)
	}
	h, _ := s.Store.HolderByName(ctx, "DE", "DV2")
	p, err = s.Propose(ctx, olga, ActionHolderRevoke, NewHolderStatusChange(h, "key compromised"))
	if err != nil || p.Quorum != 3 {
		t.Fatal(p, err)
	}
	if p2, err := s.Approve(ctx, paul, p.ID, p.SHA256); err != nil || p2.State != store.ProposalOpen {
		t.Fatalf("second of three = %+v, %v", p2, err)
	}
	if _, err := s.Approve(ctx, paul, p.ID, p.SHA256); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("paul twice: %v", err)
	}
	if got, _ := s.Store.HolderByID(ctx, h.ID); got.Status != store.HolderActive {
		t.Fatalf("revoked with two of three: %s", got.Status)
	}
	if p3, err := s.Approve(ctx, pia, p.ID, p.SHA256); err != nil || !p3.Executed() {
		t.Fatalf("third = %+v, %v", p3, err)
	}
	if got, _ := s.Store.HolderByID(ctx, h.ID); got.Status != store.HolderRevoked {
		t.Fatalf("not revoked: %s", got.Status)
	}

	// DEDV2 exists: a proposal to register it again fails when approved.
	s.TwoPerson.Quorum = nil
	p, err = s.Propose(ctx, olga, ActionHolderRegister, HolderRegistration{Country: "DE", Mnemonic: "DV2", Role: store.RoleDVDomestic})
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.Approve(ctx, paul, p.ID, p.SHA256)
	if !errors.Is(err, store.ErrConflict) || f == nil || f.State != store.ProposalFailed {
		t.Fatalf("failed task = %+v, %v", f, err)
	}
	if got, _ := s.GetProposal(ctx, p.ID); got.State != store.ProposalFailed || got.Result != "holder DEDV2 already exists" || len(got.Approvals) != 1 {
		t.Fatalf("stored = %q %+v", got.Result, got)
	}
	if n, err := s.Store.VerifyAudit(ctx); err != nil || n == 0 {
		t.Fatalf("audit verify %d %v", n, err)
	}
}

func TestProposalRefusals(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	olga := operator(t, s, "olga", "Olga", store.RoleRAOperator)
	carl := operator(t, s, "carl", "Carl", store.RoleCAOperator)
	if _, err := s.Propose(ctx, olga, "holder.nothing", dv); !errors.Is(err, ErrUnknownTask) {
		t.Fatalf("unknown task: %v", err)
	}
	if _, err := s.Propose(ctx, carl, ActionHolderRegister, dv); !errors.Is(err, ErrRoleNotAllowed) {
		t.Fatalf("CA operator proposing a DV: %v", err)
	}
	if _, err := s.Propose(ctx, olga, ActionHolderRegister, map[string]any{"country": "DE", "color": "red"}); !errors.Is(err, ErrInvalidParameters) {
		t.Fatalf("unknown parameter: %v", err)
	}
	if _, err := s.Propose(ctx, Actor{Channel: ChannelCLI, Name: "root"}, ActionHolderRegister, dv); !errors.Is(err, ErrNeedOperator) {
		t.Fatalf("no operator: %v", err)
	}
	if _, err := s.Propose(ctx, carl, TaskCVCAInit, CVCAKeyParams{CHR: "DECVCA00001", Years: 3}); !errors.Is(err, ErrTaskUnavailable) {
		t.Fatalf("key task without KeyOperations: %v", err)
	}
	root := operator(t, s, "root", "Root", store.RoleSystemAdministrator)
	if _, err := s.Propose(ctx, root, TaskOperatorEnable, AccountEnable{ID: 1, Name: "olga"}); err != nil {
		t.Fatalf("account task: %v", err)
	}
	if err := (TwoPerson{Quorum: map[string]int{"holder.register": 0, "nothing": 2}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "at least 1") || !strings.Contains(err.Error(), `unknown task "nothing"`) {
		t.Fatalf("validate: %v", err)
	}
}

// The description and its hash depend on the task and its parameters only, however they
// were given.
func TestProposalCanonical(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	olga := operator(t, s, "olga", "Olga", store.RoleRAOperator)
	a, err := s.Propose(ctx, olga, ActionHolderRegister, dv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Propose(ctx, olga, ActionHolderRegister, json.RawMessage(`{"role":"dv_domestic","ip_ranges":"192.0.2.0/24","mnemonic":"DV1","country":"DE"}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.SHA256 != b.SHA256 || a.Description != b.Description || a.Params != b.Params {
		t.Fatalf("\n%s %s\n%s %s", a.Description, a.SHA256, b.Description, b.SHA256)
	}
	c, _ := s.Propose(ctx, olga, ActionHolderRegister, HolderRegistration{Country: "DE", Mnemonic: "DV2", Role: store.RoleDVDomestic})
	if c.SHA256 == a.SHA256 {
		t.Fatal("different parameters, same hash")
	}
}

type fakeKeys struct {
	calls []KeyCeremony
}

func (f *fakeKeys) InitCVCA(_ context.Context, c KeyCeremony, p CVCAKeyParams) (*cvc.Certificate, error) {
	f.calls = append(f.calls, c)
	return &cvc.Certificate{CHR: p.CHR, CAR: p.CHR, Raw: []byte{1}}, nil
}

func (f *fakeKeys) RolloverCVCA(_ context.Context, c KeyCeremony, p CVCAKeyParams) (*cvc.Certificate, error) {
	f.calls = append(f.calls, c)
	return nil, errors.New("keystore offline")
}

// CVCA init and rollover run through KeyOperations when approved, naming the proposer and
// the witnesses.
func TestKeyTasks(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	keys := &fakeKeys{}
	s.Keys = keys
	carl := operator(t, s, "carl", "Carl", store.RoleCAOperator)
	cora := operator(t, s, "cora", "Cora", store.RoleCAOperator)
	olga := operator(t, s, "olga", "Olga", store.RoleRAOperator)
	p, err := s.Propose(ctx, carl, TaskCVCAInit, CVCAKeyParams{CHR: "DECVCA00001", Years: 3})
	if err != nil || len(keys.calls) != 0 {
		t.Fatal(p, err, keys.calls)
	}
	if _, err := s.Approve(ctx, olga, p.ID, p.SHA256); !errors.Is(err, ErrRoleNotAllowed) || len(keys.calls) != 0 {
		t.Fatalf("RA operator approving a key operation: %v", err)
	}
	done, err := s.Approve(ctx, cora, p.ID, p.SHA256)
	if err != nil || !done.Executed() || len(keys.calls) != 1 {
		t.Fatalf("approve = %+v, %v", done, err)
	}
	if c := keys.calls[0]; c.Proposal != p.ID || c.Proposer != "carl" || len(c.Witnesses) != 1 || c.Witnesses[0] != "cora" {
		t.Fatalf("ceremony = %+v", c)
	}
	if r, ok := done.Output.(CVCAKeyResult); !ok || r.CHR != "DECVCA00001" {
		t.Fatalf("result = %#v", done.Output)
	}
	if ev := lastEvent(t, s); ev.Action != "admin.proposal.execute" || ev.Outcome != "ok" {
		t.Fatalf("event %+v", ev)
	}
	p, _ = s.Propose(ctx, carl, TaskCVCARollover, CVCAKeyParams{CHR: "DECVCA00002", Years: 3})
	if _, err := s.Approve(ctx, cora, p.ID, p.SHA256); err == nil {
		t.Fatal("failed rollover reported as done")
	}
	if got, _ := s.GetProposal(ctx, p.ID); got.State != store.ProposalFailed {
		t.Fatalf("state %s", got.State)
	}
}

// Every database task runs in the approval's transaction: a partner with its CVCA
// certificates, its DV, a trust anchor, an operator, and their reinstatements.
func TestProposedTasksRun(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	olga := operator(t, s, "olga", "Olga", store.RoleRAOperator)
	paul := operator(t, s, "paul", "Paul", store.RoleRAOperator)
	ada := operator(t, s, "ada", "Ada", store.RoleSystemAdministrator)
	bob := operator(t, s, "bob", "Bob", store.RoleSystemAdministrator)
	run := func(proposer, approver Actor, task Action, params any) any {
		t.Helper()
		p, err := s.Propose(ctx, proposer, task, params)
		if err != nil {
			t.Fatalf("propose %s: %v", task, err)
		}
		done, err := s.Approve(ctx, approver, p.ID, p.SHA256)
		if err != nil || !done.Executed() {
			t.Fatalf("approve %s: %+v, %v", task, done, err)
		}
		return done.Output
	}
	reg, cvca := testRegistration(t)
	if p := run(olga, paul, ActionPartnerRegister, reg.Params()).(*store.Partner); p.Country != "FR" || p.Rights != "dg3,dg4" {
		t.Fatalf("partner %+v", p)
	}
	if chain, err := trust.New(s.Store).Chain(ctx, "FR"); err != nil || len(chain) != 1 || chain[0].CHR != cvca.CHR {
		t.Fatalf("chain %v %v", chain, err)
	}
	if h := run(olga, paul, ActionPartnerDVAdd, PartnerDVRegistration{Country: "FR", Mnemonic: "DVA", MaintainingCVCA: "FRCVCA00001"}).(*store.Holder); h.Role != store.RoleDVForeign {
		t.Fatalf("partner DV %+v", h)
	}
	if err := s.SuspendPartner(ctx, olga, "FR", "audit"); err != nil {
		t.Fatal(err)
	}
	run(olga, paul, ActionPartnerReinstate, PartnerReinstatement{Country: "FR", Reason: "ok"})
	if p, _ := s.Store.PartnerByCountry(ctx, "FR"); p.Status != store.PartnerActive {
		t.Fatalf("partner %s", p.Status)
	}
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1").Certificate()
	if r := run(olga, paul, ActionTrustAdd, TrustAnchor{Certificate: zz.Raw, FormSHA256: trust.CertificateSHA256(zz)}).(TrustAnchorResult); !r.Added {
		t.Fatalf("trust %+v", r)
	}
	run(ada, bob, ActionOperatorAdd, OperatorRegistration{Name: "nina", Role: store.RoleAuditor, TokenSHA256: "ff"})
	if ops, _ := s.Store.ListOperators(ctx); len(ops) != 5 {
		t.Fatalf("operators %d", len(ops))
	}
	if _, err := s.Propose(ctx, olga, ActionOperatorAdd, OperatorRegistration{Name: "x", Role: store.RoleAuditor, TokenSHA256: "ee"}); !errors.Is(err, ErrRoleNotAllowed) {
		t.Fatalf("RA operator creating an operator: %v", err)
	}
	if n, err := s.Store.VerifyAudit(ctx); err != nil || n == 0 {
		t.Fatalf("audit %d %v", n, err)
	}
}
