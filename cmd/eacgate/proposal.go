package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"eacgate/admin"
	"eacgate/gateway"
	"eacgate/ops"
	"eacgate/store"
)

// session is what one run's flags give the operator commands: the operator token file
// (--token-file of the critical commands) and the configuration's two-person policy.
type session struct {
	tokenFile string
	twoPerson ops.TwoPerson
	// opts is the configuration the command loaded (proposal approve opens the keystore
	// with it for an approved CVCA key operation).
	opts gateway.Options
}

// tokenEnv names the operator's bearer token when --token-file is not given.
const tokenEnv = "EACGATE_OPERATOR_TOKEN"

// twoPersonHelp is said in the help of every critical command.
const twoPersonHelp = `
Critical task (two-person principle, TR-03139 5.2): run by an operator, identified by its
bearer token (--token-file F or EACGATE_OPERATOR_TOKEN, as for the REST API), it creates a
proposal and prints its ID, description and SHA-256; it takes effect when another person of
an allowed role runs 'eacgate proposal approve ID --sha256 HASH' (two_person.quorum: 1 runs
it at once). Bootstrap: while no operator account exists, the local command runs it at once
(audited with "bootstrap": true); operators may be created so while fewer than two system
administrators were ever created.
`

// criticalCommands are the commands that run critical tasks (they take --token-file).
var criticalCommands = map[string]bool{
	"eacgate holder add": true, "eacgate holder reinstate": true, "eacgate holder revoke": true,
	"eacgate partner add": true, "eacgate partner reinstate": true, "eacgate partner dv": true,
	"eacgate trust add": true, "eacgate operator add": true, "eacgate apiclient add": true,
	"eacgate proposal approve": true, "eacgate proposal withdraw": true, "eacgate proposal reject": true,
	"eacgate init cvca": true, "eacgate cvca rollover": true,
}

// registerSessionFlags adds --token-file to a critical command's flags.
func (c cli) registerSessionFlags(name string, fs *flag.FlagSet) {
	if c.session != nil && criticalCommands[name] {
		fs.StringVar(&c.session.tokenFile, "token-file", "", "file holding your operator bearer token (default: $"+tokenEnv+")")
	}
}

func (c cli) twoPerson() ops.TwoPerson {
	if c.session == nil {
		return ops.TwoPerson{}
	}
	return c.session.twoPerson
}

// token is the operator token of this run ("" when none is given).
func (c cli) token() (string, error) {
	if c.session != nil && c.session.tokenFile != "" {
		b, err := os.ReadFile(c.session.tokenFile)
		if err != nil {
			return "", fmt.Errorf("operator token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return strings.TrimSpace(os.Getenv(tokenEnv)), nil
}

// operatorActor is the operator whose token this run carries, checked against the
// operators table like the REST API's authentication; nil without a token.
func operatorActor(ctx context.Context, c cli, st *store.Store) (*ops.Actor, error) {
	token, err := c.token()
	if err != nil || token == "" {
		return nil, err
	}
	o, err := st.OperatorByToken(ctx, admin.TokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.New("the operator token is not that of an enabled operator")
	}
	if err != nil {
		return nil, err
	}
	person := o.Person
	if person == "" {
		person = o.Name
	}
	a := cliActor()
	a.Name, a.Role, a.OperatorID, a.Person = o.Name, o.Role, o.ID, person
	return &a, nil
}

// criticalActor is who runs critical task: the operator of the token; without one the
// local user, as bootstrap while no operator account exists (or, for operator.add, while
// fewer than two system administrators were ever created), or at once when the task's
// quorum is 1; otherwise the command is refused.
func criticalActor(ctx context.Context, c cli, st *store.Store, task ops.Action) (ops.Actor, error) {
	if a, err := operatorActor(ctx, c, st); err != nil || a != nil {
		if err != nil {
			return ops.Actor{}, err
		}
		return *a, nil
	}
	a := cliActor()
	all, sysadmins, err := st.OperatorCounts(ctx)
	if err != nil {
		return a, err
	}
	switch {
	case all == 0, task == ops.ActionOperatorAdd && sysadmins < 2:
		a.Bootstrap = true
		return a, nil
	case c.twoPerson().QuorumOf(task) <= 1:
		return a, nil
	}
	return a, fmt.Errorf("%w: give your token with --token-file F or %s", ops.ErrNeedOperator, tokenEnv)
}

// runCritical proposes task with params. It returns the proposal executed at once (the
// caller prints its usual answer from p.Output); nil when the proposal waits for approvals
// (printed here) or on an error (printed), with the exit code.
func runCritical(ctx context.Context, c cli, st *store.Store, task ops.Action, params any) (*ops.Proposal, int) {
	p, err := proposeCritical(ctx, c, st, task, params)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %s\n", task, errText(err))
		return nil, 1
	}
	if p.Executed() {
		return p, 0
	}
	printProposed(c, p)
	return nil, 0
}

// proposeCritical proposes task with params as criticalActor.
func proposeCritical(ctx context.Context, c cli, st *store.Store, task ops.Action, params any) (*ops.Proposal, error) {
	a, err := criticalActor(ctx, c, st, task)
	if err != nil {
		return nil, err
	}
	a.Words = errText
	return cliOps(c, st).Propose(ctx, a, task, params)
}

// printProposed tells the proposer what to hand to the approver.
func printProposed(c cli, p *ops.Proposal) {
	fmt.Fprintf(c.stdout, "proposal %d created (%s); it takes effect when %d persons agreed, before %s:\n%s\nSHA-256: %s\n"+
		"another operator of an allowed role approves with: eacgate proposal approve %d --sha256 %s\n",
		p.ID, p.Task, p.Quorum, p.ExpiresAt.UTC().Format(time.RFC3339), p.Description, p.SHA256, p.ID, p.SHA256)
}

const proposalUsage = `list [--state open|executed|withdrawn|rejected|expired|failed]
       eacgate proposal show ID
       eacgate proposal approve ID --sha256 HASH
       eacgate proposal withdraw ID
       eacgate proposal reject ID --reason TEXT

Critical tasks (registering DVs and partners, trust anchors, reinstating, revoking, creating
operators and API clients, CVCA init and rollover) are proposed by one operator and run when
two_person.quorum persons (default 2, the proposer first) of the allowed roles agreed. The
approver names the SHA-256 of the description it read; the proposer's own person (another
account or token of the same person) cannot approve. approve, withdraw and reject identify
the operator by its token: --token-file F or EACGATE_OPERATOR_TOKEN.`

// runProposal: eacgate proposal list|show|approve|withdraw|reject.
func runProposal(ctx context.Context, c cli) int {
	var state, sum, reason string
	st, rest, code := storeCommand(ctx, c, "proposal", proposalUsage, func(sub string, fs *flag.FlagSet) {
		switch sub {
		case "list":
			fs.StringVar(&state, "state", "", "only proposals in this state")
		case "approve":
			fs.StringVar(&sum, "sha256", "", "the SHA-256 of the description you read (eacgate proposal show ID)")
		case "reject":
			fs.StringVar(&reason, "reason", "", "why (recorded in the audit log)")
		}
	})
	if st == nil {
		return code
	}
	defer st.Close()
	svc := cliOps(c, st)
	if c.args[0] == "list" {
		ps, err := svc.ListProposals(ctx, store.ProposalState(state))
		if err != nil {
			fmt.Fprintln(c.stderr, errText(err))
			return 1
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTASK\tSTATE\tPROPOSER\tPERSONS\tEXPIRES\tSHA-256")
		for _, p := range ps {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", p.ID, p.Task, p.State, p.ProposerName, 1+len(p.Approvals), p.Quorum,
				p.ExpiresAt.UTC().Format(time.RFC3339), p.SHA256)
		}
		tw.Flush()
		return 0
	}
	if len(rest) != 1 {
		fmt.Fprintf(c.stderr, "proposal %s needs exactly one proposal ID\n", c.args[0])
		return 2
	}
	id, err := strconv.ParseInt(rest[0], 10, 64)
	if err != nil {
		fmt.Fprintf(c.stderr, "%q is not a proposal ID\n", rest[0])
		return 2
	}
	if c.args[0] == "show" {
		p, err := svc.GetProposal(ctx, id)
		if err != nil {
			fmt.Fprintln(c.stderr, errText(err))
			return 1
		}
		printProposal(c, p)
		return 0
	}
	if t := ops.Tasks()[ops.Action(proposalTask(ctx, svc, id))]; c.args[0] == "approve" && t != nil && t.Key && c.session != nil {
		// An approved CVCA key operation runs with the keystore of the configuration.
		opts := c.session.opts
		opts.Demo = false
		g, err := gateway.OpenStores(ctx, opts)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		defer g.Close()
		svc = cliOps(c, g.Store)
		svc.Keys = g.KeyOperations()
	}
	if c.args[0] == "approve" && sum == "" {
		fmt.Fprintln(c.stderr, "proposal approve needs --sha256 HASH (the hash of the description you read)")
		return 2
	}
	if c.args[0] == "reject" && reason == "" {
		fmt.Fprintln(c.stderr, "proposal reject needs --reason TEXT")
		return 2
	}
	a, err := operatorActor(ctx, c, st)
	if err == nil && a == nil {
		err = fmt.Errorf("%w: give your token with --token-file F or %s", ops.ErrNeedOperator, tokenEnv)
	}
	if err != nil {
		fmt.Fprintln(c.stderr, errText(err))
		return 1
	}
	a.Words = errText
	var p *ops.Proposal
	switch c.args[0] {
	case "approve":
		p, err = svc.Approve(ctx, *a, id, sum)
	case "withdraw":
		p, err = svc.Withdraw(ctx, *a, id)
	default:
		p, err = svc.Reject(ctx, *a, id, reason)
	}
	if p != nil {
		printProposal(c, p)
	}
	if err != nil {
		fmt.Fprintln(c.stderr, errText(err))
		return 1
	}
	return 0
}

func printProposal(c cli, p *ops.Proposal) {
	fmt.Fprintf(c.stdout, "proposal %d: %s, %s\nproposed by %s (%s) at %s, expires %s\n%s\nSHA-256: %s\npersons: %d of %d\n",
		p.ID, p.Task, p.State, p.ProposerName, p.ProposerRole, p.CreatedAt.UTC().Format(time.RFC3339), p.ExpiresAt.UTC().Format(time.RFC3339),
		p.Description, p.SHA256, 1+len(p.Approvals), p.Quorum)
	for _, a := range p.Approvals {
		fmt.Fprintf(c.stdout, "approved by %s (%s, %s) at %s\n", a.OperatorName, a.Person, a.Role, a.At.UTC().Format(time.RFC3339))
	}
	if p.DecidedBy != "" {
		fmt.Fprintf(c.stdout, "decided by %s\n", p.DecidedBy)
	}
	if p.Result != "" {
		fmt.Fprintf(c.stdout, "result: %s\n", p.Result)
	}
}

// proposeKeyTask makes CVCA init (role cvca) or rollover a proposal when an operator runs
// it and its quorum is above 1 (proposed true: printed, the caller returns code); at
// bootstrap or with quorum 1 the caller runs it at once as before.
func proposeKeyTask(ctx context.Context, c cli, g *gateway.Gateway, role string, params ops.CVCAKeyParams) (proposed bool, code int) {
	task := ops.TaskCVCAInit
	if role == "rollover" {
		task = ops.TaskCVCARollover
	}
	if c.session != nil {
		c.session.twoPerson = g.Options.TwoPerson
	}
	a, err := criticalActor(ctx, c, g.Store, task)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %s\n", task, errText(err))
		return true, 1
	}
	if a.Bootstrap || c.twoPerson().QuorumOf(task) <= 1 {
		return false, 0
	}
	a.Words = errText
	svc := cliOps(c, g.Store)
	svc.Keys = g.KeyOperations()
	p, err := svc.Propose(ctx, a, task, params)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %s\n", task, errText(err))
		return true, 1
	}
	printProposed(c, p)
	return true, 0
}

// proposalTask is the task of proposal id ("" when it cannot be read: the command's own
// call says why).
func proposalTask(ctx context.Context, svc *ops.Service, id int64) string {
	p, err := svc.Store.ProposalByID(ctx, id)
	if err != nil {
		return ""
	}
	return p.Task
}
