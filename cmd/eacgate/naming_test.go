package main

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
)

// softConfig writes a configuration with a software keystore under dir, plus extra YAML.
func softConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	t.Setenv("EACGATE_TEST_PASSPHRASE", "correct horse battery")
	cfg := filepath.Join(dir, "eacgate.yaml")
	if err := os.WriteFile(cfg, []byte(`
data: `+filepath.Join(dir, "data")+`
country: UT
dv_mnemonic: DVBORDER
keystore:
  backend: soft
  soft:
    dir: `+filepath.Join(dir, "keys")+`
    passphrase: {env: EACGATE_TEST_PASSPHRASE}
`+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// init and cvca rollover take a --chr only by TR-03139 3.1, and --years only within the
// CVCA's 6 months to 3 years (4.7) unless policy.allow_outside_tr03139.
func TestInitNamingAndValidity(t *testing.T) {
	cfg := softConfig(t, t.TempDir(), "")
	for _, chr := range []string{"utCVCA00001", "YYCVCA00001", "UTCVCA01234500001", "UTCV CA00001", "UTCVCA0000a", "UT00001"} {
		for _, args := range [][]string{{"init", "cvca"}, {"cvca", "rollover"}, {"init", "dv"}} {
			if code, out := runOut(t, append(args, "--config", cfg, "--chr", chr)...); code != 2 || !strings.Contains(out, "TR-03139 3.1") {
				t.Errorf("%v --chr %q: exit %d: %s", args, chr, code, out)
			}
		}
	}
	for _, years := range []string{"4", "0"} {
		code, out := runOut(t, "init", "cvca", "--config", cfg, "--chr", "UTCVCA00001", "--years", years)
		if code != 2 || !strings.Contains(out, "CVCA certificates: 6 months to 3 years") || !strings.Contains(out, "allow_outside_tr03139") {
			t.Errorf("--years %s: exit %d: %s", years, code, out)
		}
		if code, out := runOut(t, "cvca", "rollover", "--config", cfg, "--chr", "UTCVCA00002", "--years", years); code != 2 || !strings.Contains(out, "6 months to 3 years") {
			t.Errorf("rollover --years %s: exit %d: %s", years, code, out)
		}
	}
	test := softConfig(t, t.TempDir(), "policy: {allow_outside_tr03139: true}\n")
	code, out := runOut(t, "init", "cvca", "--config", test, "--chr", "UTCVCA00001", "--years", "4")
	if code != 0 || !strings.Contains(out, "allow_outside_tr03139 is set") {
		t.Fatalf("a test PKI's CVCA for 4 years: exit %d: %s", code, out)
	}
}

// holder add refuses every name breaking TR-03139 3.1 (exit 2, the reason said) and
// registers nothing.
func TestHolderAddNaming(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := writeClientCert(t, dir, "good", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	for _, tc := range []struct{ country, mnemonic, want string }{
		{"ut", "ISGATE09", `country code "ut": upper case`},
		{"UTO", "ISGATE09", `country code "UTO": two letters`},
		{"YY", "ISGATE09", "not an ISO 3166-1 alpha-2 code"},
		{"UT", "ISGATE0123", "1 to 9 characters"},
		{"UT", "ISGATE0900001XY", "1 to 9 characters"},
		{"UT", "IS GATE", "no spaces"},
	} {
		code, out := runOut(t, "holder", "add", "--data", data, "--country", tc.country, "--mnemonic", tc.mnemonic, "--role", "terminal", "--tls-cert", good)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("%s %q: exit %d: %s", tc.country, tc.mnemonic, code, out)
		}
	}
	if code, out := runOut(t, "holder", "add", "--data", data, "--country", "UT", "--mnemonic", "", "--role", "terminal", "--tls-cert", good); code != 2 {
		t.Errorf("empty mnemonic: exit %d: %s", code, out)
	}
	if code, out := runOut(t, "holder", "list", "--data", data); code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("holders registered: %s", out)
	}
}

// A configuration with 120-day DV certificates does not start: serve exits 2 naming the
// limit. With policy.allow_outside_tr03139 it loads, and the start is warned.
func TestServeRefusesValidityOutsideTR03139(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "eacgate.yaml")
	if err := os.WriteFile(cfg, []byte("data: "+filepath.Join(dir, "data")+"\nvalidity_days: {dv_domestic: 120}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runOut(t, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	if code != 2 || !strings.Contains(out, "validity_days.dv_domestic: 120 days is outside TR-03139 4.7 (DV certificates: 2 weeks to 3 months") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if err := os.WriteFile(cfg, []byte("validity_days: {dv_domestic: 120}\npolicy: {allow_outside_tr03139: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var of optionFlags
	of.register(fs)
	if err := fs.Parse([]string{"--config", cfg}); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	opts, err := of.options(fs, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if opts.Validity.DVDomestic != 120 || !strings.Contains(logged.String(), "level=WARN") ||
		!strings.Contains(logged.String(), "allow_outside_tr03139 is set") || !strings.Contains(logged.String(), "validity_days.dv_domestic: 120 days") {
		t.Fatalf("warnings: %s", logged.String())
	}
}

// cvc verify does not call VALID a certificate openpace cannot parse: one whose CHR has a
// lower-case country code (as holder add --country ut used to make).
func TestCVCVerifyRefusesLowerCaseCountry(t *testing.T) {
	key, err := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	if err != nil {
		t.Fatal(err)
	}
	today := cvc.DateOf(time.Now())
	root, err := cvc.Issue(cvc.CertificateTemplate{CAR: "UTCVCA00001", CHR: "UTCVCA00001", PublicKey: pub,
		CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3), EffectiveDate: today, ExpirationDate: today.AddDays(30)}, key, cvc.ECDSA_SHA256)
	if err != nil {
		t.Fatal(err)
	}
	// Signed as another implementation would, without cvc.Issue's checks.
	leaf := &cvc.Certificate{ProfileIdentifier: cvc.ProfileIdentifier, CAR: root.CHR, CHR: "utISGATE0900001", PublicKey: pub.WithoutDomain(),
		CHAT: cvc.NewISCHAT(cvc.RoleTerminal, cvc.ISReadDG3), EffectiveDate: today, ExpirationDate: today.AddDays(30)}
	body, err := leaf.EncodeBody()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := cvc.Sign(key, cvc.ECDSA_SHA256, body)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rootFile, leafFile := filepath.Join(dir, "root.cvcert"), filepath.Join(dir, "leaf.cvcert")
	os.WriteFile(rootFile, root.Raw, 0o600)
	os.WriteFile(leafFile, cvc.EncodeConstructed(cvc.TagCVCertificate, body, cvc.EncodeTLV(cvc.TagSignature, sig)), 0o600)
	code, out := runOut(t, "cvc", "verify", "--anchor", rootFile, leafFile)
	if code == 0 || strings.HasPrefix(out, "VALID") || !strings.Contains(out, `country code "ut"`) {
		t.Fatalf("exit %d: %s", code, out)
	}
}
