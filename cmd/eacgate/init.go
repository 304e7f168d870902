package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/gateway"
	"eacgate/ops"
	"eacgate/server"
	"eacgate/trust"
)

const initUsage = `usage: eacgate init cvca --config FILE --chr CHR [--alg ALG] [--curve CURVE | --rsa-bits N] [--years N] [--token-file F]
       eacgate init dv   --config FILE --chr CHR [--alg ALG] [--curve CURVE | --rsa-bits N]

init cvca creates the country's CVCA: a key in the configured keystore (software or PKCS#11)
and its self-signed certificate. init dv creates the DV's key and has it certified by the
CVCA of the same gateway, or, with dv_client.cvca_url configured, by that remote CVCA (which
must have registered this gateway's TLS certificate, tls_cert (default DATA/tls.crt), for the DV). The CHR is country + mnemonic + 5-character sequence number and
must match the configuration's country (and dv_mnemonic for the DV). init cvca is a critical
task.
` + twoPersonHelp

const cvcaUsage = `usage: eacgate cvca rollover --config FILE --chr CHR [--alg ALG] [--curve CURVE | --rsa-bits N] [--years N] [--token-file F]

cvca rollover moves the CVCA to a new key: the key is made in the configured keystore (label
cvca_key-CHR; by default with the current key's algorithm and curve) and certified by the
current key in a link certificate (CHR: the next sequence number, e.g. UTCVCA00002), valid
for --years from today. DV certificates are issued under the new key from then on: serving
gateways take it up within a minute; DVs get the link certificate with GetCACertificates and
SPOC partners are sent it (new_cer_available_notification). Certificates under earlier keys
stay valid, and DV requests may still name an earlier CVCA certificate.
A rollover is a critical task.
` + twoPersonHelp

func runInit(ctx context.Context, c cli) int {
	if code, done := commandHelp(c, initUsage); done {
		return code
	}
	if c.args[0] != "cvca" && c.args[0] != "dv" {
		return unknownSub(c, "init", initUsage)
	}
	return createKey(ctx, c, c.args[0], initUsage)
}

// runCVCA: eacgate cvca rollover.
func runCVCA(ctx context.Context, c cli) int {
	if code, done := commandHelp(c, cvcaUsage); done {
		return code
	}
	if c.args[0] != "rollover" {
		return unknownSub(c, "cvca", cvcaUsage)
	}
	return createKey(ctx, c, "rollover", cvcaUsage)
}

// createKey makes a CA key and its certificate: role cvca (self-signed), dv (certified by
// the local or a remote CVCA) or rollover (a new CVCA key with its link certificate).
func createKey(ctx context.Context, c cli, role, usage string) int {
	name := "eacgate init " + role
	if role == "rollover" {
		name = "eacgate cvca rollover"
	}
	fs := newFlagSet(c, name, usage)
	var of optionFlags
	of.register(fs)
	c.registerSessionFlags(name, fs)
	chr := fs.String("chr", "", "holder reference of the new certificate")
	algName := fs.String("alg", "", "TR-03110 algorithm (default ECDSA_SHA_256 for a new CVCA; a DV follows its CVCA, a rollover the current key)")
	curve := fs.String("curve", "", "curve of an EC key (default brainpoolP256r1 for a new CVCA)")
	rsaBits := fs.Int("rsa-bits", 0, "size of an RSA key (default 3072)")
	years := fs.Int("years", 3, "CVCA validity in years (TR-03139 4.7: 1 to 3)")
	if code, done := parseFlags(c, fs, c.args[1:]); done {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(c.stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		return 2
	}
	log := slog.New(slog.NewTextHandler(c.stderr, nil))
	opts, err := of.options(fs, log)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 2
	}
	opts.Demo = false
	if of.config == "" {
		fmt.Fprintf(c.stderr, "%s needs --config: serve must find the same country, keys and DV mnemonic (without a configuration, serve runs the demo PKI)\n", name)
		return 2
	}
	ref, err := cvc.ParseReference(*chr)
	if err == nil {
		err = cvc.CheckHolderName(ref.Country(), ref.Mnemonic())
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "--chr %q: %v (TR-03139 3.1: country code, mnemonic of 1 to 9 characters, 5-character sequence number)\n", *chr, err)
		return 2
	}
	if role != "dv" && !opts.CommonPolicy.AllowOutsideTR03139 {
		if err := authority.CheckTR03139Validity(cvc.RoleCVCA, *years*365); err != nil {
			fmt.Fprintf(c.stderr, "--years %d: %v; set policy.allow_outside_tr03139: true for a test PKI\n", *years, err)
			return 2
		}
	}
	if opts.Country != ref.Country() {
		fmt.Fprintf(c.stderr, "--chr %s: the configuration's country is %q (set country: %s)\n", *chr, opts.Country, ref.Country())
		return 2
	}
	if mn := ref.Mnemonic(); role == "dv" && opts.DVMnemonic != mn {
		fmt.Fprintf(c.stderr, "--chr %s: the configuration's dv_mnemonic is %q (set dv_mnemonic: %s)\n", *chr, opts.DVMnemonic, mn)
		return 2
	}
	spec, err := gateway.KeySpec(role, *algName, *curve, *rsaBits)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 2
	}
	remote := role == "dv" && opts.DVClient.CVCAURL != ""
	if remote {
		// The CVCA knows this gateway by its TLS certificate (the one serve uses).
		cert, err := server.LoadOrCreateTLSCertificate(opts.TLSCert, opts.TLSKey, []string{"localhost"})
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		opts.Identity = &cert
	}
	g, err := gateway.OpenStores(ctx, opts)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	defer g.Close()
	if role != "dv" { // CVCA init and rollover: two persons (eacgate proposal) unless bootstrap
		params := ops.CVCAKeyParams{CHR: *chr, Alg: *algName, Curve: *curve, RSABits: *rsaBits, Years: *years}
		if proposed, code := proposeKeyTask(ctx, c, g, role, params); proposed {
			return code
		}
	}
	by := cvca.Ceremony{Actor: "cli:" + os.Getenv("USER")}
	var cert *cvc.Certificate
	switch {
	case role == "cvca":
		cert, err = g.InitCVCA(ctx, by, *chr, spec, *years)
	case role == "rollover":
		cert, err = g.RolloverCVCA(ctx, by, *chr, spec, *years)
	case remote:
		cert, err = g.InitDVRemote(ctx, by, *chr, spec)
	default:
		cert, err = g.InitDV(ctx, by, *chr, spec)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", name, err)
		// A rollover's link certificate is stored (with its audit events and the
		// partners' notifications) although taking it up here failed: it is shown, and
		// the exit status still says 1.
		if cert == nil || role != "rollover" {
			return 1
		}
	}
	_ = cert.Describe(c.stdout)
	if role != "dv" {
		// What partners need: the ceremony record of the new CVCA certificate.
		r, rerr := cvca.RecordOf(ctx, g.Store, opts.Country, cert.CHR)
		if rerr != nil {
			fmt.Fprintln(c.stderr, rerr)
			return 1
		}
		fmt.Fprintln(c.stdout)
		writeCeremony(c.stdout, r)
	}
	if role == "rollover" {
		fmt.Fprintf(c.stdout, "\nlink certificate %s stored (SHA-256 %s); serving gateways issue under it within a minute\n", cert.CHR, trust.CertificateSHA256(cert))
		if err != nil {
			return 1
		}
		return 0
	}
	fmt.Fprintf(c.stdout, "\n%s created; start the gateway with: eacgate serve", cert.CHR)
	if of.config != "" {
		fmt.Fprintf(c.stdout, " --config %s", of.config)
	}
	fmt.Fprintln(c.stdout)
	return 0
}
