package ops

// The two-person principle (TR-03139 5.2: "separation of duties ... for critical tasks by a
// two person principle"). A critical task is proposed by one operator with its parameters;
// the proposal shows exactly what will happen (a canonical description and its SHA-256) and
// the task runs, with the parameters stored in the proposal, when quorum distinct persons
// of the allowed roles agreed, the proposer counting as the first. The final approval, the
// change and their audit events are one transaction; a key operation (CVCA init, rollover)
// runs right after it, through KeyOperations.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"eacgate/store"
)

// The proposal actions of the audit log.
const (
	ActionProposalCreate   Action = "proposal.create"
	ActionProposalApprove  Action = "proposal.approve"
	ActionProposalWithdraw Action = "proposal.withdraw"
	ActionProposalReject   Action = "proposal.reject"
	ActionProposalExpire   Action = "proposal.expire"
	// ActionProposalExecute records the end of a key operation run after its approval.
	ActionProposalExecute Action = "proposal.execute"
)

// DefaultQuorum is how many distinct persons must agree to a critical task (the proposer
// included) unless two_person.quorum sets another number for it.
const DefaultQuorum = 2

// DefaultProposalTTL is how long a proposal can be approved.
const DefaultProposalTTL = 24 * time.Hour

// TwoPerson is the two-person policy (config: two_person).
type TwoPerson struct {
	// Quorum is the number of distinct persons per task name (e.g. "holder.register": 3);
	// a task not listed needs DefaultQuorum. 1 runs the task at once (test and demo setups).
	Quorum map[string]int `yaml:"quorum"`
	// ProposalTTL is how long a proposal stays open (0: DefaultProposalTTL).
	ProposalTTL time.Duration `yaml:"proposal_ttl"`
}

// QuorumOf is the number of persons task needs.
func (p TwoPerson) QuorumOf(task Action) int {
	if n, ok := p.Quorum[string(task)]; ok && n >= 1 {
		return n
	}
	return DefaultQuorum
}

func (p TwoPerson) ttl() time.Duration {
	if p.ProposalTTL > 0 {
		return p.ProposalTTL
	}
	return DefaultProposalTTL
}

// Validate reports unknown task names and quorums below 1.
func (p TwoPerson) Validate() error {
	var errs []error
	known := Tasks()
	for _, name := range slices.Sorted(maps.Keys(p.Quorum)) {
		n := p.Quorum[name]
		if _, ok := known[Action(name)]; !ok {
			errs = append(errs, fmt.Errorf("two_person.quorum: unknown task %q (one of %s)", name, strings.Join(TaskNames(), ", ")))
		}
		if n < 1 {
			errs = append(errs, fmt.Errorf("two_person.quorum.%s: %d, at least 1", name, n))
		}
	}
	if p.ProposalTTL < 0 {
		errs = append(errs, fmt.Errorf("two_person.proposal_ttl: %s, not negative", p.ProposalTTL))
	}
	return errors.Join(errs...)
}

// SinglePersonTasks are the tasks configured with quorum 1 (the gateway warns of them at
// startup), sorted.
func (p TwoPerson) SinglePersonTasks() []string {
	var out []string
	for name, n := range p.Quorum {
		if n == 1 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// The refusals of the two-person principle.
var (
	ErrUnknownTask       = errors.New("unknown critical task")
	ErrTaskUnavailable   = errors.New("this task cannot be run by this gateway")
	ErrRoleNotAllowed    = errors.New("this role may not take part in this task")
	ErrSamePerson        = errors.New("the proposer's own person cannot approve (another account or token of the same person is the same person)")
	ErrHashMismatch      = errors.New("the SHA-256 given is not the proposal's: re-read the proposal")
	ErrProposalNotOpen   = errors.New("the proposal is not open")
	ErrProposalExpired   = errors.New("the proposal has expired")
	ErrNotProposer       = errors.New("only the proposer or a system administrator may withdraw a proposal")
	ErrNeedOperator      = errors.New("a critical task needs an operator account (bearer token); it is proposed by one person and approved by another")
	ErrInvalidParameters = errors.New("invalid task parameters")
)

// proposalText words the refusals of this file for operators.
func proposalText(err error) (string, bool) {
	for _, e := range []error{ErrUnknownTask, ErrTaskUnavailable, ErrRoleNotAllowed, ErrSamePerson, ErrHashMismatch,
		ErrProposalNotOpen, ErrProposalExpired, ErrNotProposer, ErrNeedOperator, ErrInvalidParameters} {
		if errors.Is(err, e) {
			return err.Error(), true
		}
	}
	return "", false
}

// Task is a critical task: its typed parameters (decoded strictly from the proposal), a
// sentence saying what it does, the roles that may propose and approve it, and its
// executor.
type Task struct {
	Name Action
	// Proposers and Approvers are the roles that may propose and approve the task.
	Proposers, Approvers []store.OperatorRole
	// Key: a key operation (KeyOperations), run after the approval's transaction; otherwise
	// a database change run in it.
	Key      bool
	sentence func(params json.RawMessage) (string, error)
	// check refuses parameters the executor would refuse, before a proposal is stored.
	check   func(params json.RawMessage) error
	execute func(ctx context.Context, s *Service, a Actor, params json.RawMessage) (any, error)
}

// defineTask makes a task of parameters P: the executor gets them as the proposal stored
// them (unknown fields refused). The executor takes P first so that a method value of P
// (P.run) is one.
func defineTask[P any](name Action, proposers, approvers []store.OperatorRole, sentence func(P) string,
	execute func(P, context.Context, *Service, Actor) (any, error)) *Task {
	t := &Task{Name: name, Proposers: proposers, Approvers: approvers}
	t.check = func(raw json.RawMessage) error {
		p, err := decodeParams[P](raw)
		if err != nil {
			return err
		}
		if c, ok := any(p).(interface{ check() error }); ok {
			return c.check()
		}
		return nil
	}
	t.sentence = func(raw json.RawMessage) (string, error) {
		p, err := decodeParams[P](raw)
		if err != nil {
			return "", err
		}
		return sentence(p), nil
	}
	if execute != nil {
		t.execute = func(ctx context.Context, s *Service, a Actor, raw json.RawMessage) (any, error) {
			p, err := decodeParams[P](raw)
			if err != nil {
				return nil, err
			}
			return execute(p, ctx, s, a)
		}
	}
	return t
}

func decodeParams[P any](raw json.RawMessage) (P, error) {
	var p P
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%w: %v", ErrInvalidParameters, err)
	}
	return p, nil
}

// canonical returns the task's parameters as canonical JSON (the typed parameters encoded
// again: fields in their declared order, maps sorted), the description an approver reads
// (the sentence, then the canonical JSON of task and parameters) and its SHA-256 (hex).
func (t *Task) canonical(params any) (paramsJSON, description, sum string, err error) {
	raw, err := json.Marshal(params)
	if err != nil {
		return "", "", "", fmt.Errorf("%w: %v", ErrInvalidParameters, err)
	}
	sentence, err := t.sentence(raw)
	if err != nil {
		return "", "", "", err
	}
	// Re-encode generically: object keys sorted, numbers kept as written (UseNumber), so the
	// same parameters always make the same text.
	var generic any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return "", "", "", fmt.Errorf("%w: %v", ErrInvalidParameters, err)
	}
	canon, err := json.Marshal(generic) // maps are encoded with sorted keys
	if err != nil {
		return "", "", "", fmt.Errorf("%w: %v", ErrInvalidParameters, err)
	}
	whole, err := json.Marshal(map[string]any{"task": string(t.Name), "params": json.RawMessage(canon)})
	if err != nil {
		return "", "", "", fmt.Errorf("%w: %v", ErrInvalidParameters, err)
	}
	description = sentence + "\n" + string(whole)
	h := sha256.Sum256([]byte(description))
	return string(canon), description, hex.EncodeToString(h[:]), nil
}

// Proposal is a proposal as the adapters show it; Output is the executor's value when the
// task ran within the call that returned it (quorum reached, quorum 1, or bootstrap), the
// stored Result its JSON or why it failed.
type Proposal struct {
	store.Proposal
	Output any
}

// Executed reports whether the task ran (and succeeded).
func (p *Proposal) Executed() bool { return p.State == store.ProposalExecuted }

func (s *Service) clock() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Task returns the critical task of that name with its executors, or nil.
func (s *Service) task(name Action) *Task {
	return Tasks()[name]
}

func roleIn(r store.OperatorRole, roles []store.OperatorRole) bool { return slices.Contains(roles, r) }

// mayRun refuses a task this gateway cannot run: no executor wired, or a key operation
// without KeyOperations.
func (s *Service) mayRun(t *Task) error {
	if t.execute == nil || (t.Key && s.Keys == nil) {
		return fmt.Errorf("%w: %s", ErrTaskUnavailable, t.Name)
	}
	return nil
}

// Propose proposes task with params. With a quorum of 1 for the task, or a bootstrap actor
// (the local CLI before any operator exists), the task runs at once and the result is
// returned with state executed (no proposal is stored; the action's event says
// "bootstrap": true for a bootstrap). Otherwise the proposal is stored, open, with its
// audit event; a is its first person.
func (s *Service) Propose(ctx context.Context, a Actor, task Action, params any) (*Proposal, error) {
	t := s.task(task)
	target := "proposal:" + string(task)
	if t == nil {
		return nil, s.refused(ctx, a, ActionProposalCreate, target, fmt.Errorf("%w: %q", ErrUnknownTask, task), nil)
	}
	pj, desc, sum, err := t.canonical(params)
	if err != nil {
		return nil, s.refused(ctx, a, ActionProposalCreate, target, err, nil)
	}
	if err := s.mayRun(t); err != nil {
		return nil, s.refused(ctx, a, ActionProposalCreate, target, err, nil)
	}
	if a.Role != "" && !roleIn(a.Role, t.Proposers) {
		err := fmt.Errorf("%w: %s may not propose %s", ErrRoleNotAllowed, a.Role, task)
		return nil, s.refused(ctx, a, ActionProposalCreate, target, err, map[string]string{"task": string(task)})
	}
	quorum := s.TwoPerson.QuorumOf(task)
	p := &Proposal{Proposal: store.Proposal{Task: string(task), Params: pj, Description: desc, SHA256: sum, Quorum: quorum,
		ProposerID: a.OperatorID, ProposerName: a.Name, ProposerPerson: a.Person, ProposerRole: a.Role, ProposerChannel: string(a.Channel)}}
	if a.Bootstrap || quorum <= 1 {
		res, err := s.execute(ctx, s, t, a, 0, json.RawMessage(pj))
		if err != nil {
			return nil, err // audited by the executor
		}
		p.State, p.Output = store.ProposalExecuted, res
		return p, nil
	}
	if a.Person == "" || (a.OperatorID == 0 && a.Channel != ChannelEMCA) { // an emCA client proposes as itself
		return nil, s.refused(ctx, a, ActionProposalCreate, target, ErrNeedOperator, map[string]string{"task": string(task)})
	}
	if err := t.check(json.RawMessage(pj)); err != nil {
		return nil, s.refused(ctx, a, ActionProposalCreate, target, err, map[string]string{"task": string(task)})
	}
	p.CreatedAt = s.clock()
	p.ExpiresAt = p.CreatedAt.Add(s.TwoPerson.ttl())
	err = s.Store.AuditedWith(ctx, "create proposal", func(tx *store.Store) (store.AuditEvent, error) {
		if err := tx.CreateProposal(ctx, &p.Proposal); err != nil {
			return store.AuditEvent{}, err
		}
		return s.ok(a, ActionProposalCreate, proposalTarget(p.ID), map[string]any{"task": p.Task, "sha256": p.SHA256,
			"quorum": p.Quorum, "expires_at": p.ExpiresAt, "description": p.Description})
	})
	if err != nil {
		return nil, s.refused(ctx, a, ActionProposalCreate, target, err, map[string]string{"task": string(task)})
	}
	return p, nil
}

func proposalTarget(id int64) string { return "proposal:" + strconv.FormatInt(id, 10) }

// execute runs t's executor as actor a (at once, id 0) on svc (a transaction-bound service
// when the approval's transaction holds it).
func (s *Service) execute(ctx context.Context, svc *Service, t *Task, a Actor, id int64, params json.RawMessage) (any, error) {
	a.Proposal = id
	return t.execute(ctx, svc, a, params)
}

// executor is the actor of proposal sp's task: the proposer, as the action's event would
// name it acting alone, from the address of approver a, whose approval it also names.
func executor(sp *store.Proposal, a Actor) Actor {
	return Actor{Channel: Channel(sp.ProposerChannel), Name: sp.ProposerName, Role: sp.ProposerRole, OperatorID: sp.ProposerID,
		Person: sp.ProposerPerson, Remote: a.Remote, Words: a.Words, ApprovedBy: a.String()}
}

// Approve is a's agreement to proposal id, whose description's SHA-256 a saw as hash (a
// mismatch is refused: the approver agrees to what it read). The proposer's person, a
// person who approved already and a role not allowed for the task are refused, as is a
// proposal that is no longer open or has expired. The approval that completes the quorum
// runs the task with the parameters stored in the proposal: a database change in the same
// transaction as the approval and its events; a key operation right after it.
func (s *Service) Approve(ctx context.Context, a Actor, id int64, hash string) (*Proposal, error) {
	target := proposalTarget(id)
	if a.Person == "" || a.OperatorID == 0 {
		return nil, s.refused(ctx, a, ActionProposalApprove, target, ErrNeedOperator, nil)
	}
	if _, err := s.current(ctx, id); err != nil {
		return nil, s.refused(ctx, a, ActionProposalApprove, target, err, nil)
	}
	var (
		out     *Proposal
		execErr error
		keyRun  bool
		t       *Task
	)
	err := s.Store.AuditedWith(ctx, "approve proposal", func(tx *store.Store) (store.AuditEvent, error) {
		sp, err := tx.LockProposal(ctx, id)
		if err != nil {
			return store.AuditEvent{}, err
		}
		if t = s.task(Action(sp.Task)); t == nil {
			return store.AuditEvent{}, fmt.Errorf("%w: %q", ErrUnknownTask, sp.Task)
		}
		if err := s.checkApprover(sp, t, a); err != nil {
			return store.AuditEvent{}, err
		}
		if !strings.EqualFold(strings.TrimSpace(hash), sp.SHA256) {
			return store.AuditEvent{}, ErrHashMismatch
		}
		if err := s.mayRun(t); err != nil {
			return store.AuditEvent{}, err
		}
		ap := store.ProposalApproval{ProposalID: id, OperatorID: a.OperatorID, OperatorName: a.Name, Person: a.Person, Role: a.Role, At: s.clock()}
		if err := tx.AddApproval(ctx, &ap); err != nil {
			return store.AuditEvent{}, err
		}
		sp.Approvals = append(sp.Approvals, ap)
		persons := 1 + len(sp.Approvals)
		details := map[string]any{"task": sp.Task, "sha256": sp.SHA256, "persons": persons, "quorum": sp.Quorum}
		out = &Proposal{Proposal: *sp}
		switch {
		case persons < sp.Quorum:
		case t.Key:
			// The key operation cannot run inside this transaction (it writes with its own):
			// the proposal is claimed here, so that no second approval runs it again.
			if err := tx.CloseProposal(ctx, id, store.ProposalOpen, store.ProposalExecuting, s.clock(), a.String(), ""); err != nil {
				return store.AuditEvent{}, err
			}
			out.State, keyRun = store.ProposalExecuting, true
			details["executing"] = true
		default:
			txs := *s
			txs.Store = tx
			res, err := s.execute(ctx, &txs, t, executor(sp, a), id, json.RawMessage(sp.Params))
			state, result := store.ProposalExecuted, ""
			if err != nil {
				execErr = err
				state, result = store.ProposalFailed, a.words(err)
				details["failed"] = result
			} else if b, merr := json.Marshal(res); merr == nil {
				result = string(b)
			}
			if err := tx.CloseProposal(ctx, id, store.ProposalOpen, state, s.clock(), a.String(), result); err != nil {
				return store.AuditEvent{}, err
			}
			out.State, out.Output, out.Result = state, res, result
			details["executed"] = err == nil
		}
		return s.ok(a, ActionProposalApprove, target, details)
	})
	if err != nil {
		return nil, s.refused(ctx, a, ActionProposalApprove, target, err, nil)
	}
	if execErr != nil {
		return out, execErr
	}
	if keyRun {
		return s.runKeyTask(ctx, a, t, out)
	}
	return out, nil
}

// checkApprover refuses an approval of sp by a: not open, expired, the proposer's person,
// or a role not allowed.
func (s *Service) checkApprover(sp *store.Proposal, t *Task, a Actor) error {
	if sp.State == store.ProposalExpired {
		return fmt.Errorf("%w: proposal %d expired at %s", ErrProposalExpired, sp.ID, sp.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if sp.State != store.ProposalOpen {
		return fmt.Errorf("%w: proposal %d is %s", ErrProposalNotOpen, sp.ID, sp.State)
	}
	if !s.clock().Before(sp.ExpiresAt) {
		return fmt.Errorf("%w: proposal %d expired at %s", ErrProposalExpired, sp.ID, sp.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if a.Person == sp.ProposerPerson {
		return ErrSamePerson
	}
	if !roleIn(a.Role, t.Approvers) {
		return fmt.Errorf("%w: %s may not approve %s", ErrRoleNotAllowed, a.Role, t.Name)
	}
	return nil
}

// runKeyTask runs the key operation of proposal p (claimed: executing) and records its end.
func (s *Service) runKeyTask(ctx context.Context, a Actor, t *Task, p *Proposal) (*Proposal, error) {
	res, execErr := s.execute(ctx, s, t, executor(&p.Proposal, a), p.ID, json.RawMessage(p.Params))
	state, result := store.ProposalExecuted, ""
	if execErr != nil {
		state, result = store.ProposalFailed, a.words(execErr)
	} else if b, err := json.Marshal(res); err == nil {
		result = string(b)
	}
	outcome := "ok"
	if execErr != nil {
		outcome = "failed: " + result
	}
	ev, err := s.event(a, ActionProposalExecute, proposalTarget(p.ID), outcome, map[string]any{"task": p.Task, "sha256": p.SHA256})
	if err != nil {
		return nil, err
	}
	err = s.Store.Audited(ctx, "close proposal", ev, func(tx *store.Store) error {
		return tx.CloseProposal(ctx, p.ID, store.ProposalExecuting, state, s.clock(), a.String(), result)
	})
	if err != nil {
		return nil, fmt.Errorf("ops: record the end of proposal %d: %w", p.ID, err)
	}
	p.State, p.Output, p.Result = state, res, result
	if execErr != nil {
		return p, execErr
	}
	return p, nil
}

// current returns proposal id, first marking it expired (audited) when it is open past its
// expiry.
func (s *Service) current(ctx context.Context, id int64) (*store.Proposal, error) {
	p, err := s.Store.ProposalByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.State != store.ProposalOpen || s.clock().Before(p.ExpiresAt) {
		return p, nil
	}
	at := s.clock()
	ev, err := s.event(Actor{Channel: ChannelCLI, Name: "system"}, ActionProposalExpire, proposalTarget(id), "ok",
		map[string]any{"task": p.Task, "expires_at": p.ExpiresAt})
	if err != nil {
		return nil, err
	}
	err = s.Store.Audited(ctx, "expire proposal", ev, func(tx *store.Store) error {
		return tx.CloseProposal(ctx, id, store.ProposalOpen, store.ProposalExpired, at, "", "")
	})
	if err != nil && !errors.Is(err, store.ErrConflict) { // another caller expired it first
		return nil, err
	}
	return s.Store.ProposalByID(ctx, id)
}

// Withdraw closes open proposal id: by its proposer's person or a system administrator.
func (s *Service) Withdraw(ctx context.Context, a Actor, id int64) (*Proposal, error) {
	return s.close(ctx, a, id, ActionProposalWithdraw, store.ProposalWithdrawn, "", func(sp *store.Proposal, _ *Task) error {
		if a.Person == "" || (a.Person != sp.ProposerPerson && a.Role != store.RoleSystemAdministrator) {
			return ErrNotProposer
		}
		return nil
	})
}

// Reject closes open proposal id as rejected: by a person who could approve it.
func (s *Service) Reject(ctx context.Context, a Actor, id int64, reason string) (*Proposal, error) {
	return s.close(ctx, a, id, ActionProposalReject, store.ProposalRejected, reason, func(sp *store.Proposal, t *Task) error {
		if a.Person == "" || a.OperatorID == 0 {
			return ErrNeedOperator
		}
		return s.checkApprover(sp, t, a)
	})
}

func (s *Service) close(ctx context.Context, a Actor, id int64, action Action, to store.ProposalState, reason string,
	check func(*store.Proposal, *Task) error) (*Proposal, error) {
	target := proposalTarget(id)
	if _, err := s.current(ctx, id); err != nil {
		return nil, s.refused(ctx, a, action, target, err, nil)
	}
	var out *Proposal
	err := s.Store.AuditedWith(ctx, "close proposal", func(tx *store.Store) (store.AuditEvent, error) {
		sp, err := tx.LockProposal(ctx, id)
		if err != nil {
			return store.AuditEvent{}, err
		}
		if sp.State != store.ProposalOpen {
			return store.AuditEvent{}, fmt.Errorf("%w: proposal %d is %s", ErrProposalNotOpen, id, sp.State)
		}
		t := s.task(Action(sp.Task))
		if t == nil {
			return store.AuditEvent{}, fmt.Errorf("%w: %q", ErrUnknownTask, sp.Task)
		}
		if err := check(sp, t); err != nil {
			return store.AuditEvent{}, err
		}
		at := s.clock()
		if err := tx.CloseProposal(ctx, id, store.ProposalOpen, to, at, a.String(), reason); err != nil {
			return store.AuditEvent{}, err
		}
		sp.State, sp.DecidedAt, sp.DecidedBy, sp.Result = to, &at, a.String(), reason
		out = &Proposal{Proposal: *sp}
		return s.ok(a, action, target, map[string]any{"task": sp.Task, "sha256": sp.SHA256, "reason": reason})
	})
	if err != nil {
		return nil, s.refused(ctx, a, action, target, err, nil)
	}
	return out, nil
}

// OpenProposalOf returns the open proposal of task whose parameters match (nil: none).
func (s *Service) OpenProposalOf(ctx context.Context, task Action, match func(params string) bool) (*Proposal, error) {
	ps, err := s.ListProposals(ctx, store.ProposalOpen)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i].Task == string(task) && match(ps[i].Params) {
			return &ps[i], nil
		}
	}
	return nil, nil
}

// GetProposal returns proposal id (marked expired first when it is past its expiry).
func (s *Service) GetProposal(ctx context.Context, id int64) (*Proposal, error) {
	p, err := s.current(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Proposal{Proposal: *p}, nil
}

// ListProposals returns the proposals in state (empty: all), newest first; open ones past
// their expiry are marked expired first.
func (s *Service) ListProposals(ctx context.Context, state store.ProposalState) ([]Proposal, error) {
	open, err := s.Store.ListProposals(ctx, store.ProposalOpen)
	if err != nil {
		return nil, err
	}
	for _, p := range open {
		if !s.clock().Before(p.ExpiresAt) {
			if _, err := s.current(ctx, p.ID); err != nil {
				return nil, err
			}
		}
	}
	ps, err := s.Store.ListProposals(ctx, state)
	if err != nil {
		return nil, err
	}
	out := make([]Proposal, len(ps))
	for i := range ps {
		out[i] = Proposal{Proposal: ps[i]}
	}
	return out, nil
}

// markDetails adds to an event's details the proposal that ran the action, or that it ran
// at bootstrap.
func markDetails(details any, a Actor) any {
	m := map[string]any{}
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil || json.Unmarshal(b, &m) != nil {
			m = map[string]any{"details": details}
		}
	}
	if a.Bootstrap {
		m["bootstrap"] = true
	}
	if a.Proposal != 0 {
		m["proposal"] = a.Proposal
		m["approved_by"] = a.ApprovedBy
	}
	return m
}
