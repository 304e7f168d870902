package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"eacgate/ops"
	"eacgate/store"
	"eacgate/trust"
)

const partnerUsage = `add CVCA-FILE... --country CC --url URL --spoc-root FILE.pem --spoc-root-sha256 HEX --cvca-sha256 HEX[,HEX...] [--rights dg3,dg4]
       | list | show CC | suspend CC [--reason TEXT] | reinstate CC [--reason TEXT]
       | dv add CC MNEMONIC [--cvca CHR] | dv list CC | dv suspend CC MNEMONIC [--reason TEXT] | dv reinstate CC MNEMONIC [--reason TEXT]

The partner registry (TR-03139 3.2.2, Appendix D). add takes the registration form: the
SPOC root CA certificate and the CVCA certificates are refused unless their SHA-256 are the
ones given (from the signed form). A partner absent from spoc.partners in the YAML is
added to the routing table when the gateway starts; its newer CVCA certificates come by
GetCACertificates (at once when registered by the REST API, else when its answers need
them). A suspended partner's requests are refused
and nothing is forwarded to it. With spoc.foreign_dvs: registered, the DV list is the
allow-list of the partner's DVs. add, reinstate, dv add and dv reinstate are critical tasks
(suspend runs at once).` + twoPersonHelp

// runPartner: eacgate partner add|list|show|suspend|reinstate|dv ... — the registered
// partner countries, through ops.
func runPartner(ctx context.Context, c cli) int {
	var country, url, rootFile, rootSum, cvcaSums, rights, reason, maintaining string
	st, rest, code := storeCommand(ctx, c, "partner", partnerUsage, func(sub string, fs *flag.FlagSet) {
		switch sub {
		case "add":
			fs.StringVar(&country, "country", "", "the partner's country (ISO 3166-1 alpha-2), part I")
			fs.StringVar(&url, "url", "", "the partner's SPOC URL, part II")
			fs.StringVar(&rootFile, "spoc-root", "", "the partner SPOC's root CA certificate (X.509 PEM), part II")
			fs.StringVar(&rootSum, "spoc-root-sha256", "", "the SHA-256 (hex) of the SPOC root, from the registration form")
			fs.StringVar(&cvcaSums, "cvca-sha256", "", "the SHA-256 (hex, comma-separated) of the CVCA certificates, part III")
			fs.StringVar(&rights, "rights", "", "the data groups its DVs may be given: dg3, dg4 or dg3,dg4 (default: our CVCA's policy)")
		case "suspend", "reinstate":
			fs.StringVar(&reason, "reason", "", "why (recorded in the audit log)")
		case "dv":
			fs.StringVar(&maintaining, "cvca", "", "dv add: the CHR of the CVCA maintaining the DV, part IV")
			fs.StringVar(&reason, "reason", "", "dv suspend, dv reinstate: why (recorded in the audit log)")
		}
	})
	if st == nil {
		return code
	}
	defer st.Close()
	svc := cliOps(c, st)
	actor := cliActor()
	actor.Words = errText
	switch c.args[0] {
	case "add":
		return partnerAdd(ctx, c, svc, actor, rest, ops.PartnerRegistration{Country: strings.ToUpper(country), URL: url,
			SPOCRootSHA256: rootSum, CVCASHA256: strings.Split(cvcaSums, ","), Rights: rights}, rootFile)
	case "list":
		return partnerList(ctx, c, st)
	case "dv":
		return partnerDV(ctx, c, svc, actor, rest, maintaining, reason)
	}
	if len(rest) != 1 {
		fmt.Fprintf(c.stderr, "partner %s needs one country\n", c.args[0])
		return 2
	}
	cc := strings.ToUpper(rest[0])
	var err error
	switch c.args[0] {
	case "show":
		return partnerShow(ctx, c, st, cc)
	case "suspend":
		err = svc.SuspendPartner(ctx, actor, cc, reason)
	case "reinstate": // two persons (eacgate proposal)
		p, code := runCritical(ctx, c, st, ops.ActionPartnerReinstate, ops.PartnerReinstatement{Country: cc, Reason: reason})
		if p == nil {
			return code
		}
	}
	if err != nil {
		fmt.Fprintln(c.stderr, errText(err))
		return 1
	}
	fmt.Fprintf(c.stdout, "partner %s %s\n", cc, map[string]string{"suspend": "suspended", "reinstate": "active"}[c.args[0]])
	return 0
}

func partnerAdd(ctx context.Context, c cli, svc *ops.Service, actor ops.Actor, files []string, r ops.PartnerRegistration, rootFile string) int {
	if r.Country == "" || r.URL == "" || rootFile == "" || r.SPOCRootSHA256 == "" || len(files) == 0 {
		fmt.Fprintln(c.stderr, "partner add needs CVCA certificate files, --country, --url, --spoc-root, --spoc-root-sha256 and --cvca-sha256")
		return 2
	}
	root, err := os.ReadFile(rootFile)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	r.SPOCRootPEM = root
	for _, path := range files {
		cert, err := readCertificateFile(path)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		r.CVCA = append(r.CVCA, cert)
	}
	done, code := runCritical(ctx, c, svc.Store, ops.ActionPartnerRegister, r.Params()) // two persons (eacgate proposal)
	if done == nil {
		return code
	}
	p := done.Output.(*store.Partner)
	fmt.Fprintf(c.stdout, "partner %s registered (SPOC root SHA-256 %s, %d CVCA certificates); the gateway routes to it from its next start and fetches its newer CVCA certificates when its answers need them\n",
		p.Country, p.SPOCRootSHA256, len(r.CVCA))
	return 0
}

func partnerList(ctx context.Context, c cli, st *store.Store) int {
	ps, err := st.ListPartners(ctx)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNTRY\tSTATUS\tURL\tRIGHTS\tREGISTERED")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Country, p.Status, p.URL, orDash(p.Rights), p.CreatedAt.UTC().Format("2006-01-02 15:04"))
	}
	tw.Flush()
	return 0
}

func partnerShow(ctx context.Context, c cli, st *store.Store, country string) int {
	p, err := st.PartnerByCountry(ctx, country)
	if err != nil {
		fmt.Fprintln(c.stderr, errText(err))
		return 1
	}
	fmt.Fprintf(c.stdout, "country:          %s\nstatus:           %s\nurl:              %s\nspoc root sha256: %s\nrights:           %s\n",
		p.Country, p.Status, p.URL, p.SPOCRootSHA256, orDash(p.Rights))
	chain, err := trust.New(st).Chain(ctx, country)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	fmt.Fprintln(c.stdout, "cvca certificates:")
	for _, cert := range chain {
		fmt.Fprintf(c.stdout, "  %s  %s\n", cert.CHR, trust.CertificateSHA256(cert))
	}
	dvs, err := st.PartnerDVs(ctx, country)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	fmt.Fprintf(c.stdout, "dvs:              %d (eacgate partner dv list %s)\n", len(dvs), country)
	return 0
}

func partnerDV(ctx context.Context, c cli, svc *ops.Service, actor ops.Actor, rest []string, maintaining, reason string) int {
	if len(rest) < 2 {
		fmt.Fprintln(c.stderr, "partner dv needs add|list|suspend|reinstate and a country")
		return 2
	}
	action, cc := rest[0], strings.ToUpper(rest[1])
	if action == "list" {
		dvs, err := svc.Store.PartnerDVs(ctx, cc)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DV\tSTATUS\tMAINTAINING CVCA")
		for _, d := range dvs {
			fmt.Fprintf(tw, "%s%s\t%s\t%s\n", d.Country, d.Mnemonic, d.Status, orDash(d.MaintainingCVCA))
		}
		tw.Flush()
		return 0
	}
	if len(rest) != 3 {
		fmt.Fprintf(c.stderr, "partner dv %s needs a country and a mnemonic\n", action)
		return 2
	}
	mnemonic := rest[2]
	var err error
	switch action {
	case "add": // two persons (eacgate proposal)
		p, code := runCritical(ctx, c, svc.Store, ops.ActionPartnerDVAdd, ops.PartnerDVRegistration{Country: cc, Mnemonic: mnemonic, MaintainingCVCA: maintaining})
		if p == nil {
			return code
		}
	case "suspend", "reinstate":
		var h *store.Holder
		if h, err = svc.PartnerDV(ctx, cc, mnemonic); err == nil {
			if action == "suspend" {
				_, err = svc.SuspendHolder(ctx, actor, h.ID, reason)
			} else {
				p, code := runCritical(ctx, c, svc.Store, ops.ActionHolderReinstate, ops.NewHolderStatusChange(h, reason))
				if p == nil {
					return code
				}
			}
		}
	default:
		fmt.Fprintf(c.stderr, "partner dv: unknown action %q (add, list, suspend, reinstate)\n", action)
		return 2
	}
	if err != nil {
		fmt.Fprintln(c.stderr, errText(err))
		return 1
	}
	fmt.Fprintf(c.stdout, "DV %s%s: %s done\n", cc, mnemonic, action)
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
