package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"eacgate/store"
)

const auditUsage = `usage: eacgate audit verify (--db DSN | --data DIR)
       eacgate audit list   (--db DSN | --data DIR) [--limit N]

verify walks the hash-chained audit log and reports the first modified, missing or
reordered event. It prints "audit chain OK: N events" and exits 0, or
"audit chain BROKEN: <reason>" and exits 1.
list prints the newest N events (default 20; 0 for all), oldest first.

  --db DSN     database: a SQLite file path, or a PostgreSQL DSN (postgres://... or host=...)
  --data DIR   data directory; the database is DIR/eacgate.db
`

// runAudit implements "eacgate audit verify|list".
func runAudit(ctx context.Context, c cli) int {
	if len(c.args) == 0 || c.args[0] == "-h" || c.args[0] == "--help" || c.args[0] == "help" {
		fmt.Fprint(c.stdout, auditUsage)
		if len(c.args) == 0 {
			return 2
		}
		return 0
	}
	sub := c.args[0]
	if sub != "verify" && sub != "list" {
		fmt.Fprintf(c.stderr, "eacgate audit: unknown sub-command %q\n\n%s", sub, auditUsage)
		return 2
	}
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dsn := fs.String("db", "", "database DSN or SQLite file")
	data := fs.String("data", "", "data directory holding eacgate.db")
	limit := fs.Int("limit", 20, "list: number of newest events (0: all)")
	if err := fs.Parse(c.args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.stdout, auditUsage)
			return 0
		}
		fmt.Fprintf(c.stderr, "eacgate audit %s: %v\n\n%s", sub, err, auditUsage)
		return 2
	}
	if fs.NArg() > 0 || (*dsn == "") == (*data == "") {
		fmt.Fprintf(c.stderr, "eacgate audit %s: exactly one of --db or --data is required\n\n%s", sub, auditUsage)
		return 2
	}
	if *data != "" {
		*dsn = filepath.Join(*data, "eacgate.db")
	}
	if !store.IsPostgresDSN(*dsn) {
		// Do not let a typo create an empty database that then "verifies".
		if _, err := os.Stat(*dsn); err != nil {
			fmt.Fprintf(c.stderr, "eacgate audit %s: %v\n", sub, err)
			return 1
		}
	}
	st, err := store.Open(ctx, *dsn, nil)
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate audit %s: %v\n", sub, err)
		return 1
	}
	defer st.Close()

	switch sub {
	case "verify":
		n, err := st.VerifyAudit(ctx)
		if errors.Is(err, store.ErrAuditBroken) {
			fmt.Fprintf(c.stdout, "audit chain BROKEN: %v (%d events verified before it)\n", err, n)
			return 1
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "eacgate audit verify: %v\n", err)
			return 1
		}
		fmt.Fprintf(c.stdout, "audit chain OK: %d events\n", n)
		return 0
	default: // list
		evs, err := st.ListAudit(ctx, *limit)
		if err != nil {
			fmt.Fprintf(c.stderr, "eacgate audit list: %v\n", err)
			return 1
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tACTION\tTARGET\tSOURCE\tOUTCOME\tDETAILS")
		for _, e := range evs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.UTC().Format(time.RFC3339),
				e.Actor, e.Action, e.Target, e.Source, e.Outcome, e.Details)
		}
		if err := tw.Flush(); err != nil {
			return 1
		}
		return 0
	}
}
