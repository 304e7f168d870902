package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"eacgate/ops"
	"eacgate/server"
	"eacgate/spoc"
	"eacgate/store"
)

const spocUsage = `messages [--limit N] | notify --to CC|all (--template NAME [--role R] [--loss L] [--chr CHR] [--date YYYY-MM-DD] | --subject S --body B)

messages lists the general messages partner SPOCs sent and those sent to them.
notify sends a notification (CSN 36 9791 GeneralMessage, TR-03139 Appendix C.4) to one
partner or all of them, each stored and audited; it exits 1 when a partner did not take it.
The templates and their parameters:
`

// spocHelp is the usage with the templates listed.
func spocHelp() string {
	var b strings.Builder
	b.WriteString(spocUsage)
	for _, t := range spoc.Templates() {
		fmt.Fprintf(&b, "  %-23s %s\n", t, t.Params())
	}
	return b.String()
}

// runSPOC: eacgate spoc messages | notify.
func runSPOC(ctx context.Context, c cli) int {
	if len(c.args) > 0 && c.args[0] == "notify" {
		return runSPOCNotify(ctx, c)
	}
	var limit int
	st, _, code := storeCommand(ctx, c, "spoc", spocHelp(), func(_ string, fs *flag.FlagSet) {
		fs.IntVar(&limit, "limit", 50, "newest N messages")
	})
	if st == nil {
		return code
	}
	defer st.Close()
	ms, err := st.MessagesByOperation(ctx, "GeneralMessage", limit)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	for _, m := range ms {
		var gm struct{ Subject, Body string }
		_ = json.Unmarshal(m.Request, &gm)
		party := "from " + holderName(ctx, st, m.HolderID)
		if m.Direction == store.Outgoing {
			party = fmt.Sprintf("to %s (%s %s)", strings.TrimPrefix(m.Peer, "spoc:"), m.State, m.ReturnCode)
		}
		fmt.Fprintf(c.stdout, "%s  %s  messageID %s\n  subject: %s\n  %s\n\n", m.CreatedAt.UTC().Format(time.RFC3339),
			party, m.MessageID, gm.Subject, strings.ReplaceAll(gm.Body, "\n", "\n  "))
	}
	return 0
}

// runSPOCNotify: eacgate spoc notify — a C.4 notification to partner SPOCs, over mutual
// TLS with the gateway's TLS certificate (tls_cert, as serve presents it).
func runSPOCNotify(ctx context.Context, c cli) int {
	usage := "usage: eacgate spoc " + spocHelp() + "\nThe gateway is selected by --config FILE, or --data DIR (and --db DSN).\n"
	var to, subject, body string
	var n spoc.Notice
	opts, positional, code, done := optionsFor(c, "eacgate spoc notify", usage, c.args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "the partner's country, or all")
		fs.Func("template", "the C.4 template: "+fmt.Sprint(spoc.Templates()), func(s string) error {
			n.Template = spoc.Template(s)
			return nil
		})
		fs.StringVar(&n.Role, "role", "", "key-compromise: IS, DV or CVCA; termination: CVCA or DV")
		fs.StringVar(&n.Loss, "loss", "", "key-compromise: lost, stolen or compromised")
		fs.StringVar(&n.CHR, "chr", "", "the certificate holder reference the notification is about")
		fs.StringVar(&n.Date, "date", "", "key-compromise: the day, YYYY-MM-DD")
		fs.StringVar(&subject, "subject", "", "free text: the subject (one line)")
		fs.StringVar(&body, "body", "", "free text: the body")
	})
	if done {
		return code
	}
	if len(positional) > 0 {
		fmt.Fprintf(c.stderr, "eacgate spoc notify: unexpected argument %q\n", positional[0])
		return 2
	}
	n.Subject, n.Body = subject, body
	if to == "" {
		fmt.Fprintln(c.stderr, "eacgate spoc notify: --to is required (a partner's country, or all)")
		return 2
	}
	subject, body, err := n.Render()
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 2
	}
	st, _, err := openKeyedStore(ctx, opts)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	defer st.Close()
	var messenger ops.PartnerMessenger
	if opts.SPOC.Enabled() {
		if err := opts.SPOC.Validate(); err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		// Partners know this gateway by its TLS certificate (the one serve uses).
		cert, err := server.LoadOrCreateTLSCertificate(opts.TLSCert, opts.TLSKey, []string{"localhost"})
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		opts.Identity = &cert
		clients, err := opts.SPOC.Clients(opts.ClientCertificate())
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		messenger = &spoc.Forwarder{Country: opts.Country, Config: opts.SPOC, Clients: clients, Store: st, Logger: opts.Logger}
	}
	to = strings.ToUpper(to)
	if strings.EqualFold(to, ops.AllPartners) {
		to = ops.AllPartners
	}
	results, err := cliOps(c, st).NotifyPartners(ctx, cliActor(), messenger,
		ops.Notification{To: to, Template: string(n.Template), Subject: subject, Body: body})
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(c.stdout, "%s  NOT TAKEN  messageID %s: %v\n", r.Country, r.MessageID, r.Err)
			continue
		}
		fmt.Fprintf(c.stdout, "%s  sent  messageID %s (%s)\n", r.Country, r.MessageID, r.ReturnCode)
	}
	switch {
	case errors.Is(err, ops.ErrNotification):
		fmt.Fprintln(c.stderr, err)
		return 2
	case err != nil:
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	return 0
}
