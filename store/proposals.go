package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ProposalState is where a proposal of a critical task stands (the two-person principle,
// TR-03139 5.2: ops proposes, approves and executes; the store keeps the record).
type ProposalState string

// The proposal states. open waits for approvals; executing is held while a task that is not
// a database change (a key operation) runs; the others are final.
const (
	ProposalOpen      ProposalState = "open"
	ProposalExecuting ProposalState = "executing"
	ProposalExecuted  ProposalState = "executed"
	ProposalWithdrawn ProposalState = "withdrawn"
	ProposalRejected  ProposalState = "rejected"
	ProposalExpired   ProposalState = "expired"
	ProposalFailed    ProposalState = "failed"
)

// Proposal is a critical task one operator proposed: exactly what will happen (Params, the
// canonical Description and its SHA-256) and who agreed. The proposer counts as the first
// person.
type Proposal struct {
	ID   int64  `gorm:"column:id;primaryKey"`
	Task string `gorm:"column:task"`
	// Params are the task's parameters as canonical JSON: the executor reads them, never
	// new input.
	Params      string `gorm:"column:params"`
	Description string `gorm:"column:description"`
	SHA256      string `gorm:"column:sha256"`
	// ProposerID is 0 when the proposer had no operator account (not used today).
	ProposerID     int64        `gorm:"column:proposer_id"`
	ProposerName   string       `gorm:"column:proposer_name"`
	ProposerPerson string       `gorm:"column:proposer_person"`
	ProposerRole   OperatorRole `gorm:"column:proposer_role"`
	// ProposerChannel is how the proposer asked (cli, rest): the executed action's event
	// names the proposer as it would have named it acting alone.
	ProposerChannel string        `gorm:"column:proposer_channel"`
	Quorum          int           `gorm:"column:quorum"`
	State           ProposalState `gorm:"column:state"`
	CreatedAt       time.Time     `gorm:"column:created_at"`
	ExpiresAt       time.Time     `gorm:"column:expires_at"`
	DecidedAt       *time.Time    `gorm:"column:decided_at"`
	// DecidedBy names who closed the proposal (the last approver, the one who withdrew or
	// rejected it); empty while open or when it expired.
	DecidedBy string `gorm:"column:decided_by"`
	// Result is the executed task's result (JSON) or why it failed or was rejected.
	Result string `gorm:"column:result"`
	// Approvals are the persons who agreed besides the proposer, in order (not a column).
	Approvals []ProposalApproval `gorm:"-"`
}

// TableName implements gorm's tabler.
func (Proposal) TableName() string { return "proposals" }

// ProposalApproval is one person's agreement to a proposal: at most one per proposal and person.
type ProposalApproval struct {
	ProposalID   int64        `gorm:"column:proposal_id;primaryKey"`
	OperatorID   int64        `gorm:"column:operator_id"`
	OperatorName string       `gorm:"column:operator_name"`
	Person       string       `gorm:"column:person;primaryKey"`
	Role         OperatorRole `gorm:"column:role"`
	At           time.Time    `gorm:"column:at"`
}

// TableName implements gorm's tabler.
func (ProposalApproval) TableName() string { return "proposal_approvals" }

// CreateProposal inserts p (state open); its ID is set.
func (s *Store) CreateProposal(ctx context.Context, p *Proposal) error {
	if p.Task == "" || p.SHA256 == "" || p.ProposerPerson == "" || p.Quorum < 1 || p.ExpiresAt.IsZero() {
		return fmt.Errorf("store: create proposal: need a task, its hash, the proposer's person, a quorum and an expiry")
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now()
	}
	p.CreatedAt = p.CreatedAt.UTC().Truncate(time.Microsecond)
	p.ExpiresAt = p.ExpiresAt.UTC().Truncate(time.Microsecond)
	p.State = ProposalOpen
	return wrap("create proposal", s.db.WithContext(ctx).Create(p).Error)
}

// ProposalByID returns a proposal with its approvals, or ErrNotFound.
func (s *Store) ProposalByID(ctx context.Context, id int64) (*Proposal, error) {
	var p Proposal
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&p).Error; err != nil {
		return nil, wrap("proposal", err)
	}
	if err := s.db.WithContext(ctx).Where("proposal_id = ?", id).Order("at, person").Find(&p.Approvals).Error; err != nil {
		return nil, wrap("proposal approvals", err)
	}
	return &p, nil
}

// LockProposal is ProposalByID with the row locked until the transaction ends (s bound to
// one, as in Audited): concurrent approvals of one proposal are serialised.
func (s *Store) LockProposal(ctx context.Context, id int64) (*Proposal, error) {
	res := s.db.WithContext(ctx).Exec("UPDATE proposals SET state = state WHERE id = ?", id)
	if res.Error != nil {
		return nil, wrap("lock proposal", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("store: lock proposal %d: %w", id, ErrNotFound)
	}
	return s.ProposalByID(ctx, id)
}

// ListProposals returns the proposals in state (empty: all), newest first, at most 1,000.
func (s *Store) ListProposals(ctx context.Context, state ProposalState) ([]Proposal, error) {
	return s.ProposalsPage(ctx, state, maxPageRows, 0)
}

// AddApproval records one person's approval; a second one of the same person is a
// ConflictError.
func (s *Store) AddApproval(ctx context.Context, a *ProposalApproval) error {
	if a.ProposalID == 0 || a.Person == "" {
		return fmt.Errorf("store: add approval: need the proposal and the person")
	}
	if a.At.IsZero() {
		a.At = now()
	}
	a.At = a.At.UTC().Truncate(time.Microsecond)
	err := s.db.WithContext(ctx).Create(a).Error
	if err != nil && isConstraintViolation(err) {
		return &ConflictError{Msg: fmt.Sprintf("%s has already approved proposal %d", a.Person, a.ProposalID)}
	}
	return wrap("add approval", err)
}

// CloseProposal moves proposal id from state from to state to, recording when, by whom and
// the result. A proposal no longer in state from is a ConflictError (another operator
// decided it first).
func (s *Store) CloseProposal(ctx context.Context, id int64, from, to ProposalState, at time.Time, by, result string) error {
	at = at.UTC().Truncate(time.Microsecond)
	res := s.db.WithContext(ctx).Model(&Proposal{}).Where("id = ? AND state = ?", id, from).
		Updates(map[string]any{"state": to, "decided_at": at, "decided_by": by, "result": result})
	if res.Error != nil {
		return wrap("close proposal", res.Error)
	}
	if res.RowsAffected == 0 {
		return &ConflictError{Msg: fmt.Sprintf("proposal %d is no longer %s", id, from)}
	}
	return nil
}

// OperatorCounts are how many operator accounts were ever created (removed ones included),
// and of them system administrators: the CLI's bootstrap rules read them.
func (s *Store) OperatorCounts(ctx context.Context) (all, sysadmins int64, err error) {
	db := s.db.WithContext(ctx).Model(&Operator{})
	if err := db.Count(&all).Error; err != nil {
		return 0, 0, wrap("count operators", err)
	}
	err = s.db.WithContext(ctx).Model(&Operator{}).Where("role = ?", RoleSystemAdministrator).Count(&sysadmins).Error
	return all, sysadmins, wrap("count system administrators", err)
}

// AuditedWith is Audited for a change whose audit event depends on what the change did (the
// ID of the row it created, whether an approval executed its task): change returns the
// event, which is appended in the same transaction.
func (s *Store) AuditedWith(ctx context.Context, op string, change func(tx *Store) (AuditEvent, error)) error {
	var refused, auditErr error
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var ev AuditEvent
		if ev, refused = change(s.inTx(tx)); refused != nil {
			return refused
		}
		if ev.Action == "" {
			auditErr = errors.New("audit event without an action")
			return auditErr
		}
		_, auditErr = s.appendAuditTx(tx, ev)
		return auditErr
	})
	switch {
	case refused != nil:
		return refused
	case auditErr != nil:
		return fmt.Errorf("store: %s: append audit: %w", op, auditErr)
	}
	return wrap(op, err)
}
