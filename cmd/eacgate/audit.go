package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"eacgate/auditlog"
	"eacgate/gateway"
	"eacgate/store"
)

const auditUsage = `usage: eacgate audit verify (--config FILE | --db DSN | --data DIR)
       eacgate audit verify --file EXPORT (--public-key FILE | --fingerprint HEX)
       eacgate audit export (--config FILE | --db DSN | --data DIR) [--since SEQ|RFC3339] [--out FILE]
       eacgate audit key    (--config FILE | --db DSN | --data DIR)
       eacgate audit list   (--config FILE | --db DSN | --data DIR) [--limit N]

The audit log is a hash chain whose events carry an HMAC with the audit key, a file
outside the database (audit.key_file, default DATA/audit.key); the gateway signs
checkpoints of it every audit.checkpoint_interval and keeps the newest in audit.head_file.

verify walks the log: links, hashes, MACs, the signed checkpoints and the head file (a cut
tail). It prints "audit chain OK: N events ..." and exits 0, or "audit chain BROKEN:
<reason>" and exits 1. With --file it verifies an export offline, trusting only the
checkpoint key given by --public-key or --fingerprint (as recorded from "audit key").
export writes the events from --since on (a seq, or an RFC 3339 time; default all) as JSON
lines to --out (default standard output), with the checkpoints and the checkpoint key's
public part; it signs a final checkpoint only if the log verifies.
key prints the checkpoint public key (PEM) and its SHA-256 fingerprint.
list prints the newest N events (default 20; 0 for all), oldest first.

  --config FILE  the database of this configuration (--db and --data override it)
  --db DSN       database: a SQLite file path, or a PostgreSQL DSN (postgres://... or host=...)
  --data DIR     data directory; the database is DIR/eacgate.db, the key DIR/audit.key
`

// openKeyedStore opens the store of opts with the audit key, so that the events the
// command appends are keyed. Without a key file it opens the store unkeyed while the log
// has no keyed event (the gateway creates the key at its first start), and fails once it has.
func openKeyedStore(ctx context.Context, opts gateway.Options) (*store.Store, *auditlog.Key, error) {
	st, err := store.Open(ctx, opts.DSN, opts.Logger)
	if err != nil {
		return nil, nil, err
	}
	key, err := auditlog.LoadKey(ctx, st, opts.Audit.KeyFile, false, opts.Logger)
	if errors.Is(err, auditlog.ErrNoKey) {
		return st, nil, nil
	}
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	st.UseAuditKey(key.MAC())
	return st, key, nil
}

// runAudit implements "eacgate audit verify|export|key|list".
func runAudit(ctx context.Context, c cli) int {
	if code, done := commandHelp(c, auditUsage); done {
		return code
	}
	sub := c.args[0]
	switch sub {
	case "verify", "export", "key", "list":
	default:
		return unknownSub(c, "audit", auditUsage)
	}
	fs := newFlagSet(c, "eacgate audit "+sub, auditUsage)
	var of optionFlags
	of.register(fs)
	limit := 20
	var file, publicKey, fingerprint, since, out string
	switch sub {
	case "list":
		fs.IntVar(&limit, "limit", 20, "number of newest events (0: all)")
	case "verify":
		fs.StringVar(&file, "file", "", "an export to verify offline")
		fs.StringVar(&publicKey, "public-key", "", "the trusted checkpoint public key (PEM or base64)")
		fs.StringVar(&fingerprint, "fingerprint", "", "the trusted checkpoint key's SHA-256 fingerprint (hex)")
	case "export":
		fs.StringVar(&since, "since", "", "first event: a seq or an RFC 3339 time (default: all)")
		fs.StringVar(&out, "out", "", "file to write (default: standard output)")
	}
	if code, done := parseFlags(c, fs, c.args[1:]); done {
		return code
	}
	set := flagsSet(fs)
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "eacgate audit %s: unexpected argument %q\n\n%s", sub, fs.Arg(0), auditUsage)
		return 2
	}
	if file != "" {
		return verifyExportFile(c, file, publicKey, fingerprint)
	}
	if set["public-key"] || set["fingerprint"] {
		fmt.Fprintf(c.stderr, "eacgate audit verify: --public-key and --fingerprint go with --file\n\n%s", auditUsage)
		return 2
	}
	if !set["config"] && !set["db"] && !set["data"] {
		fmt.Fprintf(c.stderr, "eacgate audit %s: one of --config, --db or --data is required\n\n%s", sub, auditUsage)
		return 2
	}
	opts, err := of.options(fs, slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate audit %s: %v\n", sub, err)
		return 2
	}
	if !store.IsPostgresDSN(opts.DSN) {
		// Do not let a typo create an empty database that then "verifies".
		if _, err := os.Stat(opts.DSN); err != nil {
			fmt.Fprintf(c.stderr, "eacgate audit %s: %v\n", sub, err)
			return 1
		}
	}
	st, key, err := openKeyedStore(ctx, opts)
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate audit %s: %v\n", sub, err)
		return 1
	}
	defer st.Close()
	var lg *auditlog.Log
	if key != nil {
		lg = &auditlog.Log{Store: st, Key: key, HeadFile: opts.Audit.HeadFile, Logger: opts.Logger}
	} else if sub == "export" || sub == "key" {
		fmt.Fprintf(c.stderr, "eacgate audit %s: no audit key file at %s (the gateway creates it at its first start)\n", sub, opts.Audit.KeyFile)
		return 1
	}

	switch sub {
	case "verify":
		return auditVerify(ctx, c, st, lg, opts.Audit.KeyFile)
	case "export":
		return auditExport(ctx, c, st, lg, since, out)
	case "key":
		pub := key.Public()
		fmt.Fprint(c.stdout, pub.PEM())
		fmt.Fprintf(c.stdout, "fingerprint (SHA-256): %s\n", pub.Fingerprint())
		return 0
	default: // list
		evs, err := st.ListAudit(ctx, limit)
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

// auditVerify verifies the log online: with the key (lg) everything, else the chain alone.
func auditVerify(ctx context.Context, c cli, st *store.Store, lg *auditlog.Log, keyFile string) int {
	var line string
	var n int
	var err error
	if lg == nil {
		n, err = st.VerifyAudit(ctx)
		line = fmt.Sprintf("audit chain OK: %d events (UNKEYED: no audit key file at %s, the chain alone was checked)", n, keyFile)
	} else {
		var r auditlog.Report
		r, err = lg.Verify(ctx)
		n = r.Events
		line = fmt.Sprintf("audit chain OK: %d events (%d keyed, %d from before the key), %d signed checkpoints, head at seq %d, %d events not yet checkpointed",
			r.Events, r.Events-r.Unkeyed, r.Unkeyed, r.Checkpoints, r.Head.Seq, r.Uncovered)
	}
	if errors.Is(err, store.ErrAuditBroken) {
		fmt.Fprintf(c.stdout, "audit chain BROKEN: %v (%d events verified before it)\n", err, n)
		return 1
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate audit verify: %v\n", err)
		return 1
	}
	fmt.Fprintln(c.stdout, line)
	return 0
}

// auditExport writes the export; it exits 1 when the log did not verify (the export is
// written all the same).
func auditExport(ctx context.Context, c cli, st *store.Store, lg *auditlog.Log, since, out string) int {
	from := int64(1)
	if since != "" {
		if n, err := strconv.ParseInt(since, 10, 64); err == nil && n >= 1 {
			from = n
		} else if t, err := time.Parse(time.RFC3339, since); err == nil {
			seq, err := st.FirstAuditSeqSince(ctx, t)
			if err != nil {
				fmt.Fprintf(c.stderr, "eacgate audit export: %v\n", err)
				return 1
			}
			if from = seq; seq == 0 { // nothing since then: past the end
				last, err := st.ListAudit(ctx, 1)
				if err != nil {
					fmt.Fprintf(c.stderr, "eacgate audit export: %v\n", err)
					return 1
				}
				from = 1
				if len(last) == 1 {
					from = last[0].Seq + 1
				}
			}
		} else {
			fmt.Fprintf(c.stderr, "eacgate audit export: --since %q: a seq (1 or more) or an RFC 3339 time\n", since)
			return 2
		}
	}
	w, finish := c.stdout, func() error { return nil }
	if out != "" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			fmt.Fprintf(c.stderr, "eacgate audit export: %v\n", err)
			return 1
		}
		w, finish = f, func() error {
			if err := f.Sync(); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}
	}
	sum, err := lg.Export(ctx, w, from)
	if ferr := finish(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate audit export: %v\n", err)
		return 1
	}
	msg := c.stdout
	if out == "" {
		msg = c.stderr // the export itself is on standard output
	}
	if !sum.Verified {
		fmt.Fprintf(msg, "audit export: %d events written, NOT certified: the log failed verification: %s\n", sum.Events, sum.Problem)
		return 1
	}
	fmt.Fprintf(msg, "audit export: %d events written from seq %d, the last covered by a checkpoint signed now (key %s)\n",
		sum.Events, from, lg.Key.Public().Fingerprint())
	return 0
}

// verifyExportFile verifies an export offline against the trusted checkpoint key.
func verifyExportFile(c cli, file, publicKey, fingerprint string) int {
	if (publicKey == "") == (fingerprint == "") {
		fmt.Fprintf(c.stderr, "eacgate audit verify --file: one of --public-key or --fingerprint is required (the key recorded from 'eacgate audit key')\n\n%s", auditUsage)
		return 2
	}
	if publicKey != "" {
		b, err := os.ReadFile(publicKey)
		if err != nil {
			fmt.Fprintf(c.stderr, "eacgate audit verify: %v\n", err)
			return 1
		}
		pub, err := auditlog.ParsePublicKey(b)
		if err != nil {
			fmt.Fprintf(c.stderr, "eacgate audit verify: %s: %v\n", publicKey, err)
			return 1
		}
		fingerprint = pub.Fingerprint()
	}
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate audit verify: %v\n", err)
		return 1
	}
	defer f.Close()
	r, err := auditlog.VerifyExport(f, strings.TrimSpace(fingerprint))
	if errors.Is(err, store.ErrAuditBroken) {
		fmt.Fprintf(c.stdout, "audit export BROKEN: %v (%d events verified before it)\n", err, r.Events)
		return 1
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate audit verify: %v\n", err)
		return 1
	}
	fmt.Fprintf(c.stdout, "audit export OK: %d events (seq %d to %d), %d signed checkpoints, key %s\n",
		r.Events, r.First, r.Last, r.Checkpoints, r.Fingerprint)
	return 0
}
