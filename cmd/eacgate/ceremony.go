package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"eacgate/cvca"
	"eacgate/store"
)

const ceremonyUsage = `usage: eacgate ceremony [--config FILE | --data DIR] [--chr CHR] [--spoc-root FILE.pem] [--spoc-url URL] [--json]

ceremony prints the key ceremony record of the CVCA certificate CHR (default: the newest):
its CHR, CAR, SHA-256, validity, algorithm and curve, the key's label and keystore, who
carried it out, proposed and witnessed it (from its audit event), and what our
registration form gives partners (TR-03139 Appendix D): part I the country, part II our
SPOC's root CA certificate (--spoc-root, with its SHA-256 and subject) and URL, part III our
CVCA certificates with their SHA-256. init cvca and cvca rollover print it when they finish.
It reads only the database: no keystore is needed.
`

// runCeremony: eacgate ceremony.
func runCeremony(ctx context.Context, c cli) int {
	var chr, rootFile, spocURL string
	var asJSON bool
	opts, rest, code, done := optionsFor(c, "eacgate ceremony", ceremonyUsage, c.args, func(fs *flag.FlagSet) {
		fs.StringVar(&chr, "chr", "", "the CVCA certificate (default: the newest of the configured country)")
		fs.StringVar(&rootFile, "spoc-root", "", "our SPOC's TLS root CA certificate (X.509 PEM): registration form part II")
		fs.StringVar(&spocURL, "spoc-url", "", "our SPOC's URL: registration form part II")
		fs.BoolVar(&asJSON, "json", false, "print the record as JSON")
	})
	if done {
		return code
	}
	if len(rest) > 0 {
		fmt.Fprintf(c.stderr, "eacgate ceremony: unexpected argument %q\n", rest[0])
		return 2
	}
	var root []byte
	if rootFile != "" {
		var err error
		if root, err = os.ReadFile(rootFile); err != nil {
			fmt.Fprintf(c.stderr, "--spoc-root: %v\n", err)
			return 2
		}
	}
	st, err := store.Open(ctx, opts.DSN, opts.Logger)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	defer st.Close()
	r, err := cvca.RecordOf(ctx, st, opts.Country, strings.ToUpper(chr))
	if err == nil && root != nil {
		err = r.AddSPOCRoot(root, spocURL)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate ceremony: %v\n", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		return 0
	}
	writeCeremony(c.stdout, r)
	return 0
}

// writeCeremony writes the ceremony record for people (and the command a partner runs to
// register us, in the words of eacgate partner add).
func writeCeremony(w io.Writer, r *cvca.Record) {
	crt, cer := r.Certificate, r.Ceremony
	fmt.Fprintf(w, "Key ceremony record (TR-03139 5.2.1)\n")
	kind := "self-signed"
	if crt.Link {
		kind = "link certificate, signed by the previous key " + crt.CAR
	}
	fmt.Fprintf(w, "  CVCA certificate:  %s (%s)\n", crt.CHR, kind)
	fmt.Fprintf(w, "  CHR:               %s\n", crt.CHR)
	fmt.Fprintf(w, "  CAR:               %s\n", crt.CAR)
	fmt.Fprintf(w, "  SHA-256:           %s\n", crt.SHA256)
	fmt.Fprintf(w, "  Effective:         %s\n", crt.Effective)
	fmt.Fprintf(w, "  Expiration:        %s\n", crt.Expiration)
	fmt.Fprintf(w, "  Algorithm:         %s\n", crt.Algorithm)
	if crt.Curve != "" {
		fmt.Fprintf(w, "  Curve:             %s\n", crt.Curve)
	}
	if crt.KeyLabel != "" {
		fmt.Fprintf(w, "  Key:               %s (%s keystore)\n", crt.KeyLabel, crt.Keystore)
	}
	if !cer.Recorded {
		fmt.Fprintf(w, "  Ceremony:          not in the audit log (made before ceremonies were recorded)\n")
	} else {
		fmt.Fprintf(w, "  Carried out:       %s by %s (audit event %s, seq %d)\n", cer.At.UTC().Format("2006-01-02 15:04:05Z"), cer.Actor, cer.Event, cer.Seq)
		if cer.Proposer == "" {
			fmt.Fprintf(w, "  Proposed by:       - (bootstrap command, no two-person proposal)\n")
		} else {
			fmt.Fprintf(w, "  Proposed by:       %s (proposal %s)\n", cer.Proposer, cer.ProposalID)
			fmt.Fprintf(w, "  Witnessed by:      %s\n", strings.Join(cer.Witnesses, ", "))
		}
	}
	f := r.Form
	fmt.Fprintf(w, "\nRegistration form (TR-03139 Appendix D)\n")
	fmt.Fprintf(w, "  Part I    member state:       %s\n", f.PartI.Country)
	rootArgs := "--spoc-root SPOC-ROOT.pem --spoc-root-sha256 HEX"
	url := "URL"
	if p := f.PartII; p != nil {
		if p.URL != "" {
			fmt.Fprintf(w, "  Part II   SPOC URL:           %s\n", p.URL)
			url = p.URL
		}
		fmt.Fprintf(w, "  Part II   SPOC root SHA-256:  %s\n", p.RootSHA256)
		fmt.Fprintf(w, "  Part II   SPOC root subject:  %s\n", p.RootSubject)
		rootArgs = "--spoc-root SPOC-ROOT.pem --spoc-root-sha256 " + p.RootSHA256
	} else {
		fmt.Fprintf(w, "  Part II   (give --spoc-root FILE.pem for our SPOC's root CA certificate)\n")
	}
	fmt.Fprintf(w, "  Part III  CVCA certificates (CHR, SHA-256):\n")
	var files, sums []string
	for _, e := range f.PartIII {
		fmt.Fprintf(w, "            %s  %s\n", e.CHR, e.SHA256)
		files = append(files, e.CHR+".cvcert")
		sums = append(sums, e.SHA256)
	}
	fmt.Fprintf(w, "\nA partner running eacgate registers us with:\n  eacgate partner add %s --country %s --url %s %s --cvca-sha256 %s\n",
		strings.Join(files, " "), f.PartI.Country, url, rootArgs, strings.Join(sums, ","))
}
