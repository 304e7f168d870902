package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/internal/testenv"
	"eacgate/store"
)

// runSplit runs the command line in-process and returns the exit code, stdout and stderr.
func runSplit(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// Every command and sub-command answers -h with its usage on stdout and exit 0, and only
// serve lists --listen.
func TestHelpForEveryCommandAndSubcommand(t *testing.T) {
	subs := subcommands()
	for name := range commands() {
		lines := [][]string{{name, "-h"}, {name, "--help"}}
		for _, sub := range subs[name] {
			lines = append(lines, []string{name, sub, "-h"}, []string{name, sub, "--help"})
		}
		if len(subs[name]) == 0 {
			lines = append(lines, []string{name, "--help"})
		}
		for _, args := range lines {
			code, out, errOut := runSplit(args...)
			if code != 0 || !strings.Contains(out, "usage") || errOut != "" {
				t.Errorf("%s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
			}
			if listed := strings.Contains(out, "-listen"); listed != (name == "serve") {
				t.Errorf("%s: --listen listed %v", strings.Join(args, " "), listed)
			}
		}
	}
	if code, out, _ := runSplit("help", "holder", "show"); code != 0 || !strings.Contains(out, "-mnemonic") {
		t.Errorf("help holder show: exit %d: %s", code, out)
	}
}

// Usage errors exit 2 with the reason on stderr: an unknown sub-command, an unknown flag,
// a command without its sub-command.
func TestUsageErrorsExit2(t *testing.T) {
	subs := subcommands()
	for name := range commands() {
		var lines [][]string
		if len(subs[name]) > 0 {
			lines = append(lines, []string{name}, []string{name, "no-such-sub"})
		}
		for _, sub := range subs[name] {
			lines = append(lines, []string{name, sub, "--no-such-flag"})
		}
		if len(subs[name]) == 0 {
			lines = append(lines, []string{name, "--no-such-flag"})
		}
		for _, args := range lines {
			code, out, errOut := runSplit(args...)
			if code != 2 || errOut == "" || out != "" {
				t.Errorf("%s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
			}
		}
	}
	for _, args := range [][]string{{"no-such-command"}, nil} {
		if code, out, errOut := runSplit(args...); code != 2 || out != "" || !strings.Contains(errOut, "usage") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	if code, out, _ := runSplit("-h"); code != 0 || !strings.Contains(out, "certificate") {
		t.Errorf("-h: exit %d: %s", code, out)
	}
	for _, args := range [][]string{{"holder", "list", "extra"}, {"certificate", "list", "extra"}, {"operator", "list", "extra"}, {"apiclient", "add", "extra"}, {"serve", "extra"}} {
		if code, _, errOut := runSplit(args...); code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
	}
	if code, _, errOut := runSplit("holder", "show", "--data", t.TempDir()); code != 2 || !strings.Contains(errOut, "--mnemonic") {
		t.Errorf("holder show without a holder: exit %d: %s", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		code, out, _ := runSplit(arg)
		if code != 0 || !strings.HasPrefix(out, "eacgate ") || !strings.Contains(out, runtime.Version()) || !strings.Contains(out, "revision:") {
			t.Errorf("%s: exit %d: %q", arg, code, out)
		}
	}
}

// The VCS settings the go command records are printed.
func TestVersionPrintsVCS(t *testing.T) {
	var out bytes.Buffer
	writeVersion(&out, &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}})
	for _, want := range []string{"eacgate v1.2.3", "revision: 0123abcd", "time:     2026-12-01T10:00:00Z", "modified: true", "go:       go1.26.0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
}

// writeConfig writes a configuration file naming a database and a software keystore.
func writeConfig(t *testing.T, dir string) (cfg, db string) {
	t.Helper()
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("a passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db = filepath.Join(dir, "elsewhere.db")
	cfg = filepath.Join(dir, "eacgate.yaml")
	yaml := "data: " + filepath.Join(dir, "data") + "\ndb: " + db + "\nkeystore:\n  backend: soft\n  soft:\n    dir: " + filepath.Join(dir, "ks") +
		"\n    passphrase:\n      file: " + pass + "\n    kdf: {time: 1, memory_kib: 64, threads: 1}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, db
}

// audit takes the database and key the keystore from --config.
func TestConfigForAuditAndKey(t *testing.T) {
	dir := t.TempDir()
	cfg, db := writeConfig(t, dir)
	good := writeClientCert(t, dir, "good", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), x509.ExtKeyUsageClientAuth)
	if code, out, errOut := runSplit("holder", "add", "--config", cfg, "--country", "UT", "--mnemonic", "ISGATE01", "--role", "terminal", "--tls-cert", good); code != 0 {
		t.Fatalf("holder add: exit %d: %s%s", code, out, errOut)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("the configured database was not used: %v", err)
	}
	if code, out, errOut := runSplit("audit", "verify", "--config", cfg); code != 0 || !strings.Contains(out, "audit chain OK: 1 events") {
		t.Fatalf("audit verify --config: exit %d: %s%s", code, out, errOut)
	}
	if code, out, errOut := runSplit("audit", "list", "--config", cfg); code != 0 || !strings.Contains(out, "holder.add") {
		t.Fatalf("audit list --config: exit %d: %s%s", code, out, errOut)
	}
	if code, out, errOut := runSplit("key", "generate", "--config", cfg, "--label", "k1", "--alg", "ECDSA_SHA_256", "--curve", "brainpoolP256r1"); code != 0 {
		t.Fatalf("key generate --config: exit %d: %s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "ks")); err != nil {
		t.Fatalf("the configured keystore was not used: %v", err)
	}
	if code, out, errOut := runSplit("key", "list", "--config", cfg); code != 0 || !strings.Contains(out, "k1") {
		t.Fatalf("key list --config: exit %d: %s%s", code, out, errOut)
	}
	if code, _, errOut := runSplit("key", "list", "--config", cfg, "--keystore", dir); code == 0 || !strings.Contains(errOut, "not both") {
		t.Fatalf("--config with --keystore: exit %d: %s", code, errOut)
	}
}

// Registering a holder twice, or another holder with the same TLS certificate, says what
// conflicts with what, without the database's words.
func TestDuplicateHolderSaysWhatConflicts(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	certA := writeClientCert(t, dir, "a", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	certB := writeClientCert(t, dir, "b", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	add := func(mnemonic, cert string) (int, string) {
		code, out, errOut := runSplit("holder", "add", "--data", data, "--country", "UT", "--mnemonic", mnemonic, "--role", "terminal", "--tls-cert", cert)
		return code, out + errOut
	}
	if code, out := add("ISGATE01", certA); code != 0 {
		t.Fatalf("first: exit %d: %s", code, out)
	}
	for _, tc := range []struct{ mnemonic, cert, want string }{
		{"ISGATE01", certB, "holder UTISGATE01 already exists"},
		{"ISGATE02", certA, "a holder with this TLS certificate is already registered: UTISGATE01"},
	} {
		code, out := add(tc.mnemonic, tc.cert)
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d: %s", tc.mnemonic, code, out)
		}
		for _, leak := range []string{"constraint", "UNIQUE", "SQLSTATE", "holders."} {
			if strings.Contains(out, leak) {
				t.Errorf("%s: database text %q shown: %s", tc.mnemonic, leak, out)
			}
		}
	}
	// Operators likewise.
	runSplit("operator", "add", "--data", data, "--name", "alice", "--role", "ra_operator", "--tls-cert", certA)
	for _, tc := range []struct{ name, want string }{
		{"alice", "operator alice already exists"},
		{"bob", "an operator with this TLS certificate is already registered: alice"},
	} {
		code, out, errOut := runSplit("operator", "add", "--data", data, "--name", tc.name, "--role", "ra_operator", "--tls-cert", certA)
		if code != 1 || strings.Contains(errOut, "constraint") || !strings.Contains(errOut, tc.want) {
			t.Errorf("duplicate operator %s: exit %d: %s%s", tc.name, code, out, errOut)
		}
	}
}

// A constraint violation the store cannot name is told without the database's words.
func TestErrTextHidesDatabaseText(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	nonce := []byte("n1")
	if err := st.UseRequestNonce(ctx, "k", nonce); err != nil {
		t.Fatal(err)
	}
	err = st.UseRequestNonce(ctx, "k", nonce)
	if got := errText(err); !store.IsConstraintViolation(err) || got != "use request nonce: conflicts with an existing record" {
		t.Errorf("%v: %q", err, got)
	}
}

// certificate list filters and prints a header; show prints one; export writes its bytes.
// holder show prints the holder with its certificates.
func TestCertificateCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := writeClientCert(t, dir, "good", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	if code, out, errOut := runSplit("holder", "add", "--data", data, "--country", "ZZ", "--mnemonic", "DVBP", "--role", "dv_domestic", "--tls-cert", good); code != 0 {
		t.Fatalf("holder add: exit %d: %s%s", code, out, errOut)
	}
	st, err := store.Open(ctx, filepath.Join(data, "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := st.HolderByName(ctx, "ZZ", "DVBP")
	if err != nil {
		t.Fatal(err)
	}
	// Expiry relative to today, so that --expiring-within selects one of the two.
	add := func(file string, role store.Role, holder *int64, status store.CertStatus, notAfter time.Time) {
		raw, err := os.ReadFile(testenv.Vector(t, "openpace/bp256/"+file))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := cvc.ParseCertificate(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddCertificate(ctx, &store.Certificate{HolderID: holder, CHR: cert.CHR, CAR: cert.CAR, Role: role, Status: status,
			NotBefore: cert.EffectiveDate.Time(), NotAfter: notAfter, Raw: raw}); err != nil {
			t.Fatal(err)
		}
	}
	today := now.UTC().Truncate(24 * time.Hour)
	add("cvca.cvcert", store.RoleCVCA, nil, store.CertValid, today.AddDate(1, 0, 0))
	add("dv.cvcert", store.RoleDVDomestic, &h.ID, store.CertSuspended, today.AddDate(0, 0, 10))
	st.Close()
	list := func(args ...string) []string {
		t.Helper()
		code, out, errOut := runSplit(append([]string{"certificate", "list", "--data", data}, args...)...)
		if code != 0 {
			t.Fatalf("list %v: exit %d: %s", args, code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "CHR") {
			t.Fatalf("list %v: no header: %s", args, out)
		}
		var chrs []string
		for _, l := range lines[1:] {
			chrs = append(chrs, strings.Fields(l)[1])
		}
		return chrs
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"ZZDVBP00001", "ZZCVCABP00001"}},
		{[]string{"--status", "suspended"}, []string{"ZZDVBP00001"}},
		{[]string{"--role", "cvca"}, []string{"ZZCVCABP00001"}},
		{[]string{"--country", "de"}, nil},
		{[]string{"--expiring-within", "30"}, []string{"ZZDVBP00001"}},
		{[]string{"--expiring-within", "5"}, nil},
	} {
		if got := list(tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("list %v: %v, want %v", tc.args, got, tc.want)
		}
	}
	if code, _, errOut := runSplit("certificate", "list", "--data", data, "--status", "expired"); code != 2 || errOut == "" {
		t.Errorf("bad --status: exit %d", code)
	}
	code, out, errOut := runSplit("certificate", "show", "--data", data, "ZZDVBP00001")
	if code != 0 || !strings.Contains(out, "status:") || !strings.Contains(out, "suspended") || !strings.Contains(out, "holder:") || !strings.Contains(out, "ZZDVBP") {
		t.Errorf("show: exit %d: %s%s", code, out, errOut)
	}
	exported := filepath.Join(dir, "dv.cvcert")
	if code, out, errOut := runSplit("certificate", "export", "--data", data, "ZZDVBP00001", "--out", exported); code != 0 {
		t.Fatalf("export: exit %d: %s%s", code, out, errOut)
	}
	want, _ := os.ReadFile(testenv.Vector(t, "openpace/bp256/dv.cvcert"))
	if got, _ := os.ReadFile(exported); !bytes.Equal(got, want) {
		t.Error("export: not the stored certificate")
	}
	if code, _, errOut := runSplit("certificate", "show", "--data", data, "ZZNONE00001"); code != 1 || !strings.Contains(errOut, "no certificate") {
		t.Errorf("show unknown: exit %d: %s", code, errOut)
	}
	// trust list is a list too: a header line, then the CVCA certificates.
	code, out, errOut = runSplit("trust", "list", "--data", data)
	if lines := strings.Split(out, "\n"); code != 0 || !strings.HasPrefix(lines[0], "CHR") || !strings.Contains(lines[0], "SHA-256") || !strings.HasPrefix(lines[1], "ZZCVCABP00001") {
		t.Errorf("trust list: exit %d: %s%s", code, out, errOut)
	}
	code, out, errOut = runSplit("holder", "show", "--data", data, "--country", "ZZ", "--mnemonic", "DVBP")
	if code != 0 || !strings.Contains(out, "ZZDVBP") || !strings.Contains(out, "dv_domestic") || !strings.Contains(out, "certificates (1)") || !strings.Contains(out, "ZZDVBP00001") {
		t.Errorf("holder show: exit %d: %s%s", code, out, errOut)
	}
}

// serve's hint names the gateway as serve was told to: the configuration, not --data.
func TestServeHintSelectsTheSameGateway(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", "c.yaml"}, "--config c.yaml"},
		{[]string{"--config", "c.yaml", "--db", "x.db"}, "--config c.yaml --db x.db"},
		{nil, "--data DIR"},
		{[]string{"--data", "d", "--db", "postgres://x"}, "--data DIR --db postgres://x"},
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		var of optionFlags
		of.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if got := of.selection(fs, "DIR"); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.args, got, tc.want)
		}
	}
}

// cvc request --outer-key reads the keys openssl writes: PKCS#8 from genpkey (brainpool
// included) and SEC1 after EC PARAMETERS from ecparam -genkey.
func TestOuterKeyFromOpenSSL(t *testing.T) {
	openssl := testenv.Tool(t, "openssl")
	set := func(f string) string { return testenv.Vector(t, "openpace/bp256/"+f) }
	dir := t.TempDir()
	keys := map[string][]string{
		"genpkey-bp256.pem":  {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:brainpoolP256r1"},
		"genpkey-p256.pem":   {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"},
		"ecparam-bp256.pem":  {"ecparam", "-genkey", "-name", "brainpoolP256r1"},
		"ecparam-prime.pem":  {"ecparam", "-genkey", "-name", "prime256v1", "-noout"},
		"genpkey-bp256.der":  {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:brainpoolP256r1", "-outform", "DER"},
		"ecparam-bp384.sec1": {"ecparam", "-genkey", "-name", "brainpoolP384r1", "-noout", "-outform", "DER"},
	}
	for name, args := range keys {
		path := filepath.Join(dir, name)
		if out, err := exec.Command(openssl, append(args, "-out", path)...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v: %s", args, err, out)
		}
		req := filepath.Join(dir, name+".cvreq")
		code, out, errOut := runSplit("cvc", "request", "--chr", "ZZISBP00003", "--key-out", filepath.Join(dir, name+".new"),
			"--outer-key", path, "--outer-cert", set("is.cvcert"), "--out", req)
		if code != 0 || !strings.Contains(out, "Outer CAR: ZZISBP00001") {
			t.Errorf("%s: exit %d: %s%s", name, code, out, errOut)
		}
	}
}
