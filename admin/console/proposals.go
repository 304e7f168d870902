package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"eacgate/ops"
	"eacgate/store"
)

// The two-person principle's pages (ops.Propose, Approve, Withdraw, Reject): the proposals
// of critical tasks, and one proposal with exactly what will happen and its SHA-256, which
// the approver's form sends back (they agree to what they read).
func (h *Handler) proposalRoutes() []route {
	// Which roles may approve is the task's own rule (ops.Tasks); the route keeps the
	// auditor, who changes nothing, out.
	decide := ops.ActionProposalDecide
	return []route{
		{"GET /console/proposals", ops.ActionRead, h.proposals},
		{"GET /console/proposals/{id}", ops.ActionRead, h.proposal},
		{"POST /console/proposals/{id}/approve", decide, h.approveProposal},
		{"POST /console/proposals/{id}/withdraw", decide, h.withdrawProposal},
		{"POST /console/proposals/{id}/reject", decide, h.rejectProposal},
	}
}

var proposalStates = []store.ProposalState{store.ProposalOpen, store.ProposalExecuting, store.ProposalExecuted,
	store.ProposalWithdrawn, store.ProposalRejected, store.ProposalExpired, store.ProposalFailed}

type proposalsData struct {
	States    []option
	Proposals []proposalRow
	Pager     *Pager
}

// proposalRow is a proposal of the list with the first line of its description.
type proposalRow struct {
	store.Proposal
	Sentence string
}

// proposals lists the proposals in a state (default open; "all": every state). An open
// proposal past its expiry is shown expired (ops marks it when it is opened).
func (h *Handler) proposals(r *request) error {
	state := r.query("state")
	if state == "" {
		state = string(store.ProposalOpen)
	}
	opts := []option{{Value: "all", Label: "all", Selected: state == "all"}}
	known := false
	for _, s := range proposalStates {
		opts = append(opts, option{Value: string(s), Label: string(s), Selected: string(s) == state})
		known = known || string(s) == state
	}
	if !known && state != "all" {
		return badRequest("unknown state %q", state)
	}
	filter := store.ProposalState(state)
	if state == "all" {
		filter = ""
	}
	p := r.pager(listPage)
	ps, err := h.Store.ProposalsPage(r.Context(), filter, p.Limit(), p.Offset())
	if err != nil {
		return err
	}
	now := h.now()
	data := proposalsData{States: opts, Pager: p}
	for _, sp := range ps[:p.Rows(r, len(ps))] {
		if sp.State == store.ProposalOpen && !now.Before(sp.ExpiresAt) {
			sp.State = store.ProposalExpired
		}
		sentence, _, _ := strings.Cut(sp.Description, "\n")
		data.Proposals = append(data.Proposals, proposalRow{sp, sentence})
	}
	return r.render(http.StatusOK, "proposals", "Proposals", "proposals", data)
}

type proposalData struct {
	Proposal *ops.Proposal
	// Sentence is the description's first line (what will happen), Canonical the rest.
	Sentence, Canonical string
	// Open: it can be decided; Mine: the signed-in person proposed it; MayApprove: their
	// role is one the task allows to approve (the task's rule, ops.Tasks).
	Open, Mine, MayApprove bool
	Approvers              string
	// Holder is the holder an executed registration or status change is about (a link).
	Holder int64
}

// resultHolder returns the holder an executed holder task made or changed (its result is
// the holder as JSON), 0 for other tasks.
func resultHolder(p *ops.Proposal) int64 {
	if p.State != store.ProposalExecuted || !strings.HasPrefix(p.Task, "holder.") {
		return 0
	}
	var h struct{ ID int64 }
	if err := json.Unmarshal([]byte(p.Result), &h); err != nil {
		return 0
	}
	return h.ID
}

func (h *Handler) proposal(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	p, err := h.ops().GetProposal(r.Context(), id) // marks it expired first when it is past its expiry
	if err != nil {
		return err
	}
	sentence, canonical, _ := strings.Cut(p.Description, "\n")
	a := r.actor()
	data := proposalData{Proposal: p, Sentence: sentence, Canonical: canonical, Open: p.State == store.ProposalOpen,
		Mine: a.Person == p.ProposerPerson, Holder: resultHolder(p)}
	if t := ops.Tasks()[ops.Action(p.Task)]; t != nil {
		data.MayApprove = slices.Contains(t.Approvers, r.operator.Role)
		var names []string
		for _, role := range t.Approvers {
			names = append(names, roleName(role))
		}
		data.Approvers = strings.Join(names, ", ")
	}
	return r.render(http.StatusOK, "proposal", fmt.Sprintf("Proposal #%d", p.ID), "proposals", data)
}

// approveProposal approves by the SHA-256 the page showed; the approval that completes the
// quorum runs the task.
func (h *Handler) approveProposal(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	back := fmt.Sprintf("/console/proposals/%d", id)
	sum := r.formValue("sha256")
	if sum == "" {
		return r.refuse(back, "The form did not send the proposal's SHA-256: reload the page.")
	}
	p, err := h.ops().Approve(r.Context(), r.actor(), id, sum)
	switch {
	case err != nil && p == nil:
		return r.failed(back, err)
	case err != nil: // approved, and the task failed: the proposal says why
		return r.refuse(back, fmt.Sprintf("Proposal #%d approved, but its task failed: %s", id, p.Result))
	case p.Executed():
		return r.done(back, fmt.Sprintf("Proposal #%d approved and executed.", id))
	case p.State == store.ProposalExecuting:
		return r.done(back, fmt.Sprintf("Proposal #%d approved; its key operation is running.", id))
	}
	return r.done(back, fmt.Sprintf("Proposal #%d approved; it waits for %d more approval(s).", id, p.Quorum-1-len(p.Approvals)))
}

func (h *Handler) withdrawProposal(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	back := fmt.Sprintf("/console/proposals/%d", id)
	if _, err := h.ops().Withdraw(r.Context(), r.actor(), id); err != nil {
		return r.failed(back, err)
	}
	return r.done(back, fmt.Sprintf("Proposal #%d withdrawn.", id))
}

func (h *Handler) rejectProposal(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	back := fmt.Sprintf("/console/proposals/%d", id)
	reason, err := r.reason(back)
	if reason == "" {
		return err
	}
	if _, err := h.ops().Reject(r.Context(), r.actor(), id, reason); err != nil {
		return r.failed(back, err)
	}
	return r.done(back, fmt.Sprintf("Proposal #%d rejected.", id))
}
