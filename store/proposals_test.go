package store

import (
	"errors"
	"testing"
	"time"

	"eacgate/internal/pgtest"
)

// testProposals: a proposal is stored open with its approvals (one per person), closes only
// from the state it is in, and a change that fails inside an approval's transaction (a
// nested Audited: a savepoint) leaves that transaction usable, so the proposal is marked
// failed with its events in the same commit (PostgreSQL aborts a transaction on an error
// outside a savepoint).
func testProposals(t *testing.T, s *Store) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	p := &Proposal{Task: "holder.register", Params: `{"country":"UT"}`, Description: "Register UTDV1.", SHA256: sha64("a"),
		ProposerID: 1, ProposerName: "olga", ProposerPerson: "Olga", ProposerRole: RoleRAOperator, Quorum: 2,
		CreatedAt: at, ExpiresAt: at.Add(24 * time.Hour)}
	if err := s.CreateProposal(ctx(), p); err != nil || p.ID == 0 || p.State != ProposalOpen {
		t.Fatalf("create = %+v, %v", p, err)
	}
	if err := s.AddApproval(ctx(), &ProposalApproval{ProposalID: p.ID, OperatorID: 2, OperatorName: "paul", Person: "Paul", Role: RoleRAOperator, At: at}); err != nil {
		t.Fatal(err)
	}
	err := s.AddApproval(ctx(), &ProposalApproval{ProposalID: p.ID, OperatorID: 3, OperatorName: "paul2", Person: "Paul", Role: RoleRAOperator, At: at})
	var c *ConflictError
	if !errors.As(err, &c) {
		t.Fatalf("second approval of one person: %v", err)
	}
	got, err := s.ProposalByID(ctx(), p.ID)
	if err != nil || len(got.Approvals) != 1 || got.Approvals[0].Person != "Paul" || !got.ExpiresAt.Equal(p.ExpiresAt) {
		t.Fatalf("read back = %+v, %v", got, err)
	}
	if list, err := s.ListProposals(ctx(), ProposalOpen); err != nil || len(list) != 1 || len(list[0].Approvals) != 1 {
		t.Fatalf("list open = %+v, %v", list, err)
	}
	if list, err := s.ListProposals(ctx(), ProposalExecuted); err != nil || len(list) != 0 {
		t.Fatalf("list executed = %+v, %v", list, err)
	}

	// An approval whose change fails: the nested change rolls back alone.
	if err := s.CreateHolder(ctx(), &Holder{Country: "UT", Mnemonic: "DV1", Role: RoleDVDomestic}); err != nil {
		t.Fatal(err)
	}
	var changeErr error
	err = s.AuditedWith(ctx(), "approve", func(tx *Store) (AuditEvent, error) {
		if _, err := tx.LockProposal(ctx(), p.ID); err != nil {
			return AuditEvent{}, err
		}
		changeErr = tx.CreateHolderAudited(ctx(), &Holder{Country: "UT", Mnemonic: "DV1", Role: RoleDVDomestic},
			AuditEvent{Actor: "operator:paul", Action: "admin.holder.register", Outcome: "ok"})
		if err := tx.CloseProposal(ctx(), p.ID, ProposalOpen, ProposalFailed, at, "operator:paul", "exists"); err != nil {
			return AuditEvent{}, err
		}
		return AuditEvent{Actor: "operator:paul", Action: "admin.proposal.approve", Outcome: "ok"}, nil
	})
	if err != nil || !errors.Is(changeErr, ErrConflict) {
		t.Fatalf("approval = %v, change = %v", err, changeErr)
	}
	if got, _ := s.ProposalByID(ctx(), p.ID); got.State != ProposalFailed || got.Result != "exists" || got.DecidedBy != "operator:paul" {
		t.Fatalf("after the failed change: %+v", got)
	}
	if evs, err := s.ListAudit(ctx(), 0); err != nil || len(evs) != 1 || evs[0].Action != "admin.proposal.approve" {
		t.Fatalf("audit = %+v, %v", evs, err)
	}
	if err := s.CloseProposal(ctx(), p.ID, ProposalOpen, ProposalWithdrawn, at, "x", ""); !errors.As(err, &c) {
		t.Fatalf("closing a closed proposal: %v", err)
	}
	if _, err := s.LockProposal(ctx(), p.ID+100); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lock unknown: %v", err)
	}
	all, sysadmins, err := s.OperatorCounts(ctx())
	if err != nil || all != 0 || sysadmins != 0 {
		t.Fatalf("operator counts = %d %d %v", all, sysadmins, err)
	}
	for _, o := range []*Operator{{Name: "a", Role: RoleSystemAdministrator, TokenHash: "1"}, {Name: "b", Role: RoleAuditor, TokenHash: "2"}} {
		if err := s.CreateOperator(ctx(), o); err != nil {
			t.Fatal(err)
		}
	}
	if all, sysadmins, err = s.OperatorCounts(ctx()); err != nil || all != 2 || sysadmins != 1 {
		t.Fatalf("operator counts = %d %d %v", all, sysadmins, err)
	}
}

func sha64(c string) string {
	out := ""
	for len(out) < 64 {
		out += c
	}
	return out
}

func TestProposalsSQLite(t *testing.T) { testProposals(t, open(t, sqliteDSNFor(t))) }

func TestProposalsPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	testProposals(t, open(t, pgtest.DSN(t)))
}
