package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"eacgate/cvc"
	"eacgate/gateway"
	"eacgate/ops"
	"eacgate/store"
)

// openStoreFor parses a sub-command's flags (the common --config/--data/--db plus extra)
// and opens the store. It returns nil and the exit code when the caller is done (0 after
// -h).
func openStoreFor(ctx context.Context, c cli, name, usage string, args []string, extra func(*flag.FlagSet), positionalOK bool) (*store.Store, []string, int) {
	opts, positional, code, done := optionsFor(c, name, usage, args, extra)
	if done {
		return nil, nil, code
	}
	if len(positional) > 0 && !positionalOK {
		fmt.Fprintf(c.stderr, "%s: unexpected argument %q\n", name, positional[0])
		return nil, nil, 2
	}
	st, _, err := openKeyedStore(ctx, opts)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return nil, nil, 1
	}
	return st, positional, 0
}

// optionsFor parses a command's flags (before or after its positional arguments) and
// loads the configuration they name. done true: the caller returns code (0 after -h).
func optionsFor(c cli, name, usage string, args []string, extra func(*flag.FlagSet)) (opts gateway.Options, positional []string, code int, done bool) {
	fs := newFlagSet(c, name, usage)
	var of optionFlags
	of.register(fs)
	c.registerSessionFlags(name, fs)
	if extra != nil {
		extra(fs)
	}
	// Flags may come before or after the positional arguments (IDs).
	for {
		if code, done := parseFlags(c, fs, args); done {
			return opts, nil, code, true
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	opts, err := of.options(fs, slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return opts, nil, 2, true
	}
	if c.session != nil {
		c.session.twoPerson, c.session.opts = opts.TwoPerson, opts
	}
	return opts, positional, 0, false
}

// storeCommand is the preamble of the operator commands that work on the store: the
// sub-command must be one of the command's (else the usage), the flags (extra registers
// the sub-command's own) are parsed and the store opened. It returns nil and the exit code
// when the caller is done (0 after -h).
func storeCommand(ctx context.Context, c cli, cmd, usage string, extra func(sub string, fs *flag.FlagSet)) (*store.Store, []string, int) {
	usage = "usage: eacgate " + cmd + " " + usage + "\n\nThe gateway is selected by --config FILE, or --data DIR (and --db DSN).\n"
	if code, done := commandHelp(c, usage); done {
		return nil, nil, code
	}
	sub := c.args[0]
	if !slices.Contains(subcommands()[cmd], sub) {
		return nil, nil, unknownSub(c, cmd, usage)
	}
	return openStoreFor(ctx, c, "eacgate "+cmd+" "+sub, usage, c.args[1:], func(fs *flag.FlagSet) {
		if extra != nil {
			extra(sub, fs)
		}
	}, takesArgs(cmd, sub))
}

// takesArgs reports whether a store command's sub-command takes positional arguments (IDs,
// files); the others refuse them.
func takesArgs(cmd, sub string) bool {
	switch cmd + " " + sub {
	case "outbox retry", "request approve", "request reject", "trust add", "certificate show", "certificate export",
		"proposal show", "proposal approve", "proposal withdraw", "proposal reject",
		"partner add", "partner show", "partner suspend", "partner reinstate", "partner dv":
		return true
	}
	return false
}

// runOutbox: eacgate outbox list [--state S] | retry ID...
func runOutbox(ctx context.Context, c cli) int {
	var state string
	st, rest, code := storeCommand(ctx, c, "outbox", "list [--state held|pending|done|dead] | retry ID...", func(sub string, fs *flag.FlagSet) {
		if sub == "list" {
			fs.StringVar(&state, "state", "", "only items in this state (default: all but done)")
		}
	})
	if st == nil {
		return code
	}
	defer st.Close()
	if c.args[0] == "retry" {
		if len(rest) == 0 {
			fmt.Fprintln(c.stderr, "outbox retry needs the IDs of dead items")
			return 2
		}
		for _, a := range rest {
			id, err := strconv.ParseInt(a, 10, 64)
			if err != nil {
				fmt.Fprintf(c.stderr, "%q is not an outbox ID\n", a)
				return 2
			}
			if err := cliOps(c, st).RetryOutbox(ctx, cliActor(), id); err != nil {
				fmt.Fprintln(c.stderr, errText(err))
				return 1
			}
			fmt.Fprintf(c.stdout, "outbox item %d queued again\n", id)
		}
		return 0
	}
	items, err := st.ListOutbox(ctx, store.OutboxState(state))
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tKIND\tMESSAGE\tATTEMPTS\tNEXT ATTEMPT\tTARGET\tLAST ERROR")
	for _, o := range items {
		if state == "" && o.State == store.OutboxDone {
			continue
		}
		msg := "-"
		if o.MessageRowID != nil {
			msg = strconv.FormatInt(*o.MessageRowID, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", o.ID, o.State, o.Kind, msg, o.Attempts,
			o.NextAttemptAt.UTC().Format(time.RFC3339), o.TargetURL, o.LastError)
	}
	tw.Flush()
	return 0
}

// runRequest: eacgate request list | approve ID | reject ID --reason TEXT
func runRequest(ctx context.Context, c cli) int {
	var reason string
	st, rest, code := storeCommand(ctx, c, "request", "list | approve ID | reject ID --reason TEXT", func(sub string, fs *flag.FlagSet) {
		if sub == "reject" {
			fs.StringVar(&reason, "reason", "", "why (recorded in the audit log)")
		}
	})
	if st == nil {
		return code
	}
	defer st.Close()
	if c.args[0] == "list" {
		ms, err := st.PendingApprovals(ctx)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRECEIVED\tFROM\tMESSAGE ID\tCHR\tRESPONSE URL")
		for _, m := range ms {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.CreatedAt.UTC().Format(time.RFC3339), holderName(ctx, st, m.HolderID),
				m.MessageID, requestCHR(m.Request), m.ResponseURL)
		}
		tw.Flush()
		return 0
	}
	if len(rest) != 1 {
		fmt.Fprintf(c.stderr, "request %s needs exactly one request ID\n", c.args[0])
		return 2
	}
	id, err := strconv.ParseInt(rest[0], 10, 64)
	if err != nil {
		fmt.Fprintf(c.stderr, "%q is not a request ID\n", rest[0])
		return 2
	}
	svc := cliOps(c, st)
	if c.args[0] == "approve" {
		err = svc.ApproveRequest(ctx, cliActor(), id, reason)
	} else {
		if reason == "" {
			fmt.Fprintln(c.stderr, "request reject needs --reason TEXT")
			return 2
		}
		err = svc.RejectRequest(ctx, cliActor(), id, reason)
	}
	if err != nil {
		fmt.Fprintln(c.stderr, errText(err))
		return 1
	}
	fmt.Fprintf(c.stdout, "request %d %sd; the answer goes to the requester by callback\n", id, c.args[0])
	return 0
}

// cliOps is the operations service of an operator command: a failure to audit a refusal is
// said on stderr.
func cliOps(c cli, st *store.Store) *ops.Service {
	return &ops.Service{Store: st, Logger: slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		TwoPerson: c.twoPerson()}
}

// cliActor is the user running the command.
func cliActor() ops.Actor { return ops.Actor{Channel: ops.ChannelCLI, Name: os.Getenv("USER")} }

func holderName(ctx context.Context, st *store.Store, id *int64) string {
	if id == nil {
		return "-"
	}
	h, err := st.HolderByID(ctx, *id)
	if err != nil {
		return fmt.Sprintf("holder %d", *id)
	}
	return h.Country + h.Mnemonic
}

// requestCHR is the CHR a stored certificate request asks for ("?" if unreadable).
func requestCHR(raw []byte) string {
	r, err := cvc.ParseRequest(raw)
	if err != nil {
		return "?"
	}
	return r.CHR
}
