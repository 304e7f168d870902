package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"eacgate/cvc"
	"eacgate/ops"
	"eacgate/store"
	"eacgate/trust"
)

// runTrust: eacgate trust add FILE... [--sha256 HEX] | list [--country CC] — the CVCA
// certificates of other countries, for a DV whose SPOC is another gateway (it cannot fetch
// them from partner SPOCs itself). A country's first root is taken only with its SHA-256,
// as exchanged out of band; later certificates only when they chain to the stored ones.
//
// Adding a trust anchor is a critical task (two persons: eacgate proposal).
func runTrust(ctx context.Context, c cli) int {
	var sum, country string
	st, rest, code := storeCommand(ctx, c, "trust", "add FILE... [--sha256 HEX] [--token-file F] | list [--country CC]\n"+twoPersonHelp, func(sub string, fs *flag.FlagSet) {
		if sub == "add" {
			fs.StringVar(&sum, "sha256", "", "the SHA-256 (hex) of a country's first CVCA root, as exchanged out of band")
		} else {
			fs.StringVar(&country, "country", "", "only this country")
		}
	})
	if st == nil {
		return code
	}
	defer st.Close()
	if c.args[0] == "list" {
		return listTrust(ctx, c, st, country)
	}
	if len(rest) == 0 {
		fmt.Fprintln(c.stderr, "trust add needs CVCA certificate files")
		return 2
	}
	for _, path := range rest {
		cert, err := readCertificateFile(path)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		fp := trust.CertificateSHA256(cert)
		// A trust anchor is a critical task: two persons (eacgate proposal).
		p, err := proposeCritical(ctx, c, st, ops.ActionTrustAdd, ops.TrustAnchor{Certificate: cert.Raw, FormSHA256: sum})
		added := false
		if err == nil && !p.Executed() {
			printProposed(c, p)
			continue
		} else if err == nil {
			added = p.Output.(ops.TrustAnchorResult).Added
		}
		if errors.Is(err, trust.ErrUnverified) && sum == "" {
			err = fmt.Errorf("%w (a first root needs --sha256 %s once its SHA-256 is confirmed out of band)", err, fp)
		} else if trusted, _ := trust.FirstRootTrust(cert, []string{sum}); errors.Is(err, trust.ErrUnverified) && !trusted {
			err = fmt.Errorf("%w, and its SHA-256 is %s, not the one given", err, fp)
		}
		if err != nil {
			fmt.Fprintln(c.stderr, errText(err))
			return 1
		}
		switch {
		case added:
			fmt.Fprintf(c.stdout, "%s added (SHA-256 %s)\n", cert.CHR, fp)
		default:
			fmt.Fprintf(c.stdout, "%s already stored\n", cert.CHR)
		}
	}
	return 0
}

func listTrust(ctx context.Context, c cli, st *store.Store, country string) int {
	rows, err := st.ListCertificates(ctx, store.CertificateFilter{Role: store.RoleCVCA, Country: strings.ToUpper(country)})
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHR\tCAR\tVALID FROM\tVALID TO\tSHA-256")
	for _, r := range rows {
		cert, err := cvc.ParseCertificate(r.Raw)
		if err != nil {
			fmt.Fprintf(tw, "%s\t(unreadable: %v)\n", r.CHR, err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cert.CHR, cert.CAR, cert.EffectiveDate, cert.ExpirationDate, trust.CertificateSHA256(cert))
	}
	tw.Flush()
	return 0
}
