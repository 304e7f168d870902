package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"eacgate/cvc"
	"eacgate/store"
	"eacgate/trust"
)

const certificateUsage = `list [--status S] [--role ROLE] [--country CC] [--expiring-within DAYS]
       eacgate certificate show ID|CHR
       eacgate certificate export ID|CHR [--out FILE]

list prints the stored certificates, newest first. show prints one (or all those with
the CHR: a CVCA's self-signed and link certificates share it). export writes one as
binary (DER), to FILE or standard output.`

// runCertificate: eacgate certificate list|show|export.
func runCertificate(ctx context.Context, c cli) int {
	var f store.CertificateFilter
	var status, role, out string
	days := -1
	st, rest, code := storeCommand(ctx, c, "certificate", certificateUsage, func(sub string, fs *flag.FlagSet) {
		switch sub {
		case "list":
			fs.StringVar(&status, "status", "", "only certificates in this status: valid, suspended or revoked")
			fs.StringVar(&role, "role", "", "only certificates of this role: cvca, dv_domestic, dv_foreign, terminal, spoc")
			fs.StringVar(&f.Country, "country", "", "only certificates of this country (the CHR's first two letters)")
			fs.IntVar(&days, "expiring-within", -1, "only certificates not yet expired that expire within DAYS days")
		case "export":
			fs.StringVar(&out, "out", "", "write the certificate here (default: standard output)")
		}
	})
	if st == nil {
		return code
	}
	defer st.Close()
	switch c.args[0] {
	case "list":
		f.Status, f.Role, f.Country = store.CertStatus(status), store.Role(role), strings.ToUpper(f.Country)
		if status != "" && !f.Status.Valid() {
			fmt.Fprintf(c.stderr, "--status %q: want valid, suspended or revoked\n", status)
			return 2
		}
		if role != "" && !f.Role.Valid() {
			fmt.Fprintf(c.stderr, "--role %q: want cvca, dv_domestic, dv_foreign, terminal or spoc\n", role)
			return 2
		}
		if days >= 0 {
			f.Now = time.Now()
			f.ExpiringBefore = f.Now.UTC().Truncate(24*time.Hour).AddDate(0, 0, days+1)
		}
		certs, err := st.ListCertificates(ctx, f)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		printCertificates(ctx, c.stdout, st, certs)
		return 0
	}
	if len(rest) != 1 {
		fmt.Fprintf(c.stderr, "certificate %s needs one certificate ID or CHR\n", c.args[0])
		return 2
	}
	certs, err := findCertificates(ctx, st, rest[0])
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	if c.args[0] == "show" {
		for i, sc := range certs {
			if i > 0 {
				fmt.Fprintln(c.stdout)
			}
			showCertificate(ctx, c.stdout, st, sc)
		}
		return 0
	}
	if len(certs) > 1 {
		ids := make([]string, len(certs))
		for i, sc := range certs {
			ids[i] = strconv.FormatInt(sc.ID, 10)
		}
		fmt.Fprintf(c.stderr, "%s names %d certificates (IDs %s): export one by its ID\n", rest[0], len(certs), strings.Join(ids, ", "))
		return 1
	}
	if out == "" {
		_, err = c.stdout.Write(certs[0].Raw)
	} else {
		err = writeNewFile(out, certs[0].Raw, 0o644)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "certificate export: %v\n", err)
		return 1
	}
	if out != "" {
		fmt.Fprintf(c.stdout, "%s (ID %d) written to %s\n", certs[0].CHR, certs[0].ID, out)
	}
	return 0
}

// findCertificates is the certificate with this row ID, or those with this CHR.
func findCertificates(ctx context.Context, st *store.Store, ref string) ([]store.Certificate, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		sc, err := st.CertificateByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("no certificate with ID %d", id)
		}
		if err != nil {
			return nil, err
		}
		return []store.Certificate{*sc}, nil
	}
	certs, err := st.CertificatesByCHR(ctx, ref)
	if err == nil && len(certs) == 0 {
		err = fmt.Errorf("no certificate with CHR %s (see 'eacgate certificate list')", ref)
	}
	return certs, err
}

// printCertificates prints a table of certificates, its header line first.
func printCertificates(ctx context.Context, w io.Writer, st *store.Store, certs []store.Certificate) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCHR\tCAR\tROLE\tSTATUS\tVALID FROM\tVALID TO\tHOLDER")
	for _, sc := range certs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sc.ID, sc.CHR, sc.CAR, sc.Role, sc.Status,
			sc.NotBefore.UTC().Format(time.DateOnly), sc.NotAfter.UTC().Format(time.DateOnly), holderName(ctx, st, sc.HolderID))
	}
	tw.Flush()
}

// showCertificate prints what the store records of a certificate, then the certificate.
func showCertificate(ctx context.Context, w io.Writer, st *store.Store, sc store.Certificate) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "ID:\t%d\n", sc.ID)
	fmt.Fprintf(tw, "status:\t%s\n", sc.Status)
	fmt.Fprintf(tw, "role:\t%s\n", sc.Role)
	fmt.Fprintf(tw, "holder:\t%s\n", holderName(ctx, st, sc.HolderID))
	fmt.Fprintf(tw, "stored:\t%s\n", sc.CreatedAt.UTC().Format(time.RFC3339))
	cert, err := cvc.ParseCertificate(sc.Raw)
	if err != nil {
		fmt.Fprintf(tw, "certificate:\tunreadable: %v\n", err)
		tw.Flush()
		return
	}
	fmt.Fprintf(tw, "SHA-256:\t%s\n", trust.CertificateSHA256(cert))
	tw.Flush()
	_ = cert.Describe(w)
}
