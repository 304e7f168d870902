package admin

import (
	"errors"
	"net/http"
	"time"

	"eacgate/ops"
	"eacgate/store"
)

// The two-person principle's endpoints (ops.Service.Propose and Approve): a critical action
// posted to its own endpoint answers 202 Accepted with the proposal when the task needs more
// than one person, and another operator approves it here by the SHA-256 of the description
// it read.
func (h *Handler) proposalRoutes() []route {
	// Which roles may approve a proposal is its task's rule (ops.Tasks); the route only
	// keeps the auditor, who changes nothing, out.
	read, party := ops.ActionRead, ops.ActionProposalDecide
	return []route{
		{"GET /admin/v1/proposals", read, nil, h.listProposals},
		{"GET /admin/v1/proposals/{id}", read, nil, h.showProposal},
		{"POST /admin/v1/proposals/{id}/approve", party, nil, h.approveProposal},
		{"POST /admin/v1/proposals/{id}/withdraw", party, nil, h.withdrawProposal},
		{"POST /admin/v1/proposals/{id}/reject", party, nil, h.rejectProposal},
	}
}

// Proposal is a proposal of a critical task as the API shows it.
type Proposal struct {
	ID int64 `json:"id"`
	// Task is the critical task (holder.register, holder.revoke, ...).
	Task string `json:"task"`
	// Description is exactly what will happen; SHA256 is its hash, which an approver sends.
	Description  string             `json:"description"`
	SHA256       string             `json:"sha256"`
	State        string             `json:"state"`
	Proposer     string             `json:"proposer"`
	ProposerRole string             `json:"proposer_role"`
	Quorum       int                `json:"quorum"`
	Approvals    []ProposalApproval `json:"approvals"`
	CreatedAt    time.Time          `json:"created_at"`
	ExpiresAt    time.Time          `json:"expires_at"`
	DecidedAt    *time.Time         `json:"decided_at,omitempty"`
	DecidedBy    string             `json:"decided_by,omitempty"`
	// Result is the executed task's result (JSON), or why it failed or was rejected.
	Result string `json:"result,omitempty"`
}

// ProposalApproval is one person's approval.
type ProposalApproval struct {
	Operator string    `json:"operator"`
	Person   string    `json:"person"`
	Role     string    `json:"role"`
	At       time.Time `json:"at"`
}

func proposalOut(p *ops.Proposal) Proposal {
	out := Proposal{ID: p.ID, Task: p.Task, Description: p.Description, SHA256: p.SHA256, State: string(p.State),
		Proposer: p.ProposerName, ProposerRole: string(p.ProposerRole), Quorum: p.Quorum, Approvals: []ProposalApproval{},
		CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt, DecidedAt: p.DecidedAt, DecidedBy: p.DecidedBy, Result: p.Result}
	for _, a := range p.Approvals {
		out.Approvals = append(out.Approvals, ProposalApproval{Operator: a.OperatorName, Person: a.Person, Role: string(a.Role), At: a.At})
	}
	return out
}

// accepted is an answer of 202 Accepted: the proposal waits for approvals.
type accepted struct{ Proposal }

// critical proposes task with params as the calling operator: when it ran at once (quorum
// 1) done turns its output into the endpoint's usual answer; otherwise the answer is 202
// with the proposal. Errors are proposalError's or left to the caller's mapping.
func (h *Handler) critical(r *request, a ops.Actor, task ops.Action, params any, done func(out any) (any, error)) (any, error) {
	p, err := h.ops().Propose(r.Context(), a, task, params)
	if err != nil {
		return nil, proposalError(err)
	}
	if p.Executed() {
		return done(p.Output)
	}
	return accepted{proposalOut(p)}, nil
}

// proposalError maps the two-person principle's refusals: who may not (403), a proposal
// that cannot be approved as asked (409), parameters (400); other errors stay as they are.
func proposalError(err error) error {
	switch {
	case errors.Is(err, ops.ErrRoleNotAllowed), errors.Is(err, ops.ErrSamePerson), errors.Is(err, ops.ErrNotProposer),
		errors.Is(err, ops.ErrNeedOperator):
		return errors.Join(fail(http.StatusForbidden, "%s", ops.PublicText(err)), err)
	case errors.Is(err, ops.ErrHashMismatch), errors.Is(err, ops.ErrProposalNotOpen), errors.Is(err, ops.ErrProposalExpired),
		errors.Is(err, ops.ErrTaskUnavailable):
		return errors.Join(fail(http.StatusConflict, "%s", ops.PublicText(err)), err)
	case errors.Is(err, ops.ErrUnknownTask), errors.Is(err, ops.ErrInvalidParameters):
		return errors.Join(fail(http.StatusBadRequest, "%s", ops.PublicText(err)), err)
	}
	return err
}

func (h *Handler) listProposals(r *request) (any, error) {
	state := store.ProposalState(r.URL.Query().Get("state"))
	ps, err := h.ops().ListProposals(r.Context(), state)
	if err != nil {
		return nil, err
	}
	out := make([]Proposal, 0, len(ps))
	for i := range ps {
		out = append(out, proposalOut(&ps[i]))
	}
	return out, nil
}

func (h *Handler) showProposal(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	p, err := h.ops().GetProposal(r.Context(), id)
	if err != nil {
		return nil, storeError(err)
	}
	return proposalOut(p), nil
}

// approveProposal: {"sha256": "..."}, the hash of the description the approver read.
func (h *Handler) approveProposal(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	var in struct {
		SHA256 string `json:"sha256"`
	}
	if err := r.decode(&in); err != nil || in.SHA256 == "" {
		return nil, fail(http.StatusBadRequest, "need {\"sha256\": the proposal's SHA-256}")
	}
	p, err := h.ops().Approve(r.Context(), r.actor(), id, in.SHA256)
	if err != nil && p == nil {
		return nil, storeError(proposalError(err))
	}
	// A task that failed when approved: the proposal says why (state failed).
	return proposalOut(p), nil
}

func (h *Handler) withdrawProposal(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	var in reasonBody
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	p, err := h.ops().Withdraw(r.Context(), r.actor(), id)
	if err != nil {
		return nil, storeError(proposalError(err))
	}
	return proposalOut(p), nil
}

func (h *Handler) rejectProposal(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	var in reasonBody
	if err := r.decode(&in); err != nil || in.Reason == "" {
		return nil, fail(http.StatusBadRequest, "need {\"reason\": ...}")
	}
	p, err := h.ops().Reject(r.Context(), r.actor(), id, in.Reason)
	if err != nil {
		return nil, storeError(proposalError(err))
	}
	return proposalOut(p), nil
}
