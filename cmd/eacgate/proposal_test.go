package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"eacgate/admin"
	"eacgate/store"
)

var (
	proposalLine = regexp.MustCompile(`proposal (\d+) created`)
	hashLine     = regexp.MustCompile(`(?m)^SHA-256: ([0-9a-f]{64})$`)
	tokenOnly    = regexp.MustCompile(`(?m)^([0-9a-f]{64})$`)
)

// The CLI's two-person principle: bootstrap runs critical tasks at once while no operator
// exists and lets the first two system administrators be created; then a critical command
// creates a proposal, which neither its proposer, nor another token of the same person,
// nor a wrong role can approve, which a second person of the right role can (the result is
// the proposal's), and which cannot be approved once withdrawn or expired.
func TestCLITwoPersonPrinciple(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	cert := func(name string) string {
		return writeClientCert(t, dir, name, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	}
	// Bootstrap: no operator yet.
	if code, out := runOut(t, "holder", "add", "--data", data, "--country", "UT", "--mnemonic", "DV1", "--role", "dv_domestic", "--tls-cert", cert("dv1")); code != 0 ||
		!strings.Contains(out, "registered holder") {
		t.Fatalf("bootstrap holder add: %d %s", code, out)
	}
	tokens := map[string]string{}
	for _, name := range []string{"ada", "bob"} {
		code, out := runOut(t, "operator", "add", "--data", data, "--name", name, "--role", "system_administrator")
		m := tokenOnly.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("bootstrap operator %s: %d %s", name, code, out)
		}
		tokens[name] = m[1]
	}
	// Bootstrap is over: two system administrators exist.
	if code, out := runOut(t, "operator", "add", "--data", data, "--name", "olga", "--role", "ra_operator"); code != 1 || !strings.Contains(out, "needs an operator account") {
		t.Fatalf("operator add without a token after bootstrap: %d %s", code, out)
	}
	if code, out := runOut(t, "holder", "add", "--data", data, "--country", "UT", "--mnemonic", "DV9", "--role", "dv_domestic", "--tls-cert", cert("dv9")); code != 1 ||
		!strings.Contains(out, "EACGATE_OPERATOR_TOKEN") {
		t.Fatalf("holder add without a token: %d %s", code, out)
	}
	tokenFile := func(name string) string {
		path := filepath.Join(dir, name+".token")
		if err := os.WriteFile(path, []byte(tokens[name]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	propose := func(args ...string) (id, hash string) {
		t.Helper()
		code, out := runOut(t, args...)
		m, h := proposalLine.FindStringSubmatch(out), hashLine.FindStringSubmatch(out)
		if code != 0 || m == nil || h == nil {
			t.Fatalf("%v: %d %s", args, code, out)
		}
		return m[1], h[1]
	}
	approve := func(who, id, hash string) (int, string) {
		return runOut(t, "proposal", "approve", id, "--sha256", hash, "--data", data, "--token-file", tokenFile(who))
	}
	// Creating an operator: ada proposes, bob approves; the token printed works afterwards.
	code, out := runOut(t, "operator", "add", "--data", data, "--name", "olga", "--person", "Olga", "--role", "ra_operator", "--token-file", tokenFile("ada"))
	id, hash := proposalLine.FindStringSubmatch(out), hashLine.FindStringSubmatch(out)
	tok := tokenOnly.FindStringSubmatch(out)
	if code != 0 || id == nil || hash == nil || tok == nil {
		t.Fatalf("operator add by ada: %d %s", code, out)
	}
	tokens["olga"] = tok[1]
	if code, out := approve("ada", id[1], hash[1]); code != 1 || !strings.Contains(out, "proposer's own person") {
		t.Fatalf("approval by the proposer: %d %s", code, out)
	}
	if code, out := approve("bob", id[1], hash[1]); code != 0 || !strings.Contains(out, "executed") {
		t.Fatalf("approval by bob: %d %s", code, out)
	}
	// More operators, directly in the store: olga's second account, a CA operator, paul.
	st, err := store.Open(ctx, filepath.Join(data, "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []store.Operator{{Name: "olga-2", Person: "Olga", Role: store.RoleRAOperator},
		{Name: "carl", Role: store.RoleCAOperator}, {Name: "paul", Role: store.RoleRAOperator}} {
		tokens[o.Name] = "token-of-" + o.Name
		o.TokenHash = admin.TokenHash(tokens[o.Name])
		if err := st.CreateOperator(ctx, &o); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	pid, h := propose("holder", "add", "--data", data, "--country", "UT", "--mnemonic", "DV2", "--role", "dv_domestic", "--tls-cert", cert("dv2"),
		"--ip", "192.0.2.0/24", "--token-file", tokenFile("olga"))
	for _, c := range []struct{ who, hash, want string }{
		{"olga", h, "proposer's own person"},
		{"olga-2", h, "proposer's own person"},
		{"carl", h, "may not approve"},
		{"paul", strings.Repeat("0", 64), "SHA-256 given is not the proposal's"},
	} {
		if code, out := approve(c.who, pid, c.hash); code != 1 || !strings.Contains(out, c.want) {
			t.Fatalf("approval by %s: %d %s", c.who, code, out)
		}
	}
	if _, out := runOut(t, "holder", "list", "--data", data); strings.Contains(out, "DV2") {
		t.Fatalf("DV2 registered by one person:\n%s", out)
	}
	if code, out := approve("paul", pid, h); code != 0 || !strings.Contains(out, "executed") {
		t.Fatalf("approval by paul: %d %s", code, out)
	}
	if code, out := runOut(t, "holder", "show", "--data", data, "--country", "UT", "--mnemonic", "DV2"); code != 0 || !strings.Contains(out, "192.0.2.0/24") ||
		!strings.Contains(out, "dv_domestic") {
		t.Fatalf("DV2: %d %s", code, out)
	}

	// Withdrawn, then expired proposals cannot be approved.
	pid, h = propose("holder", "revoke", "--data", data, "--country", "UT", "--mnemonic", "DV2", "--reason", "gone", "--token-file", tokenFile("olga"))
	if code, out := runOut(t, "proposal", "withdraw", pid, "--data", data, "--token-file", tokenFile("olga")); code != 0 || !strings.Contains(out, "withdrawn") {
		t.Fatalf("withdraw: %d %s", code, out)
	}
	if code, out := approve("paul", pid, h); code != 1 || !strings.Contains(out, "withdrawn") {
		t.Fatalf("approval of a withdrawn proposal: %d %s", code, out)
	}
	pid, h = propose("holder", "revoke", "--data", data, "--country", "UT", "--mnemonic", "DV2", "--reason", "gone", "--token-file", tokenFile("olga"))
	st, err = store.Open(ctx, filepath.Join(data, "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DB().Exec("UPDATE proposals SET expires_at = ? WHERE id = ?", time.Now().Add(-time.Minute).UTC(), pid).Error; err != nil {
		t.Fatal(err)
	}
	st.Close()
	if code, out := approve("paul", pid, h); code != 1 || !strings.Contains(out, "expired") {
		t.Fatalf("approval of an expired proposal: %d %s", code, out)
	}
	if code, out := runOut(t, "proposal", "list", "--data", data); code != 0 || strings.Count(out, "holder.revoke") != 2 || !strings.Contains(out, "expired") {
		t.Fatalf("list: %d %s", code, out)
	}
	if _, out := runOut(t, "holder", "show", "--data", data, "--country", "UT", "--mnemonic", "DV2"); strings.Contains(out, "revoked") {
		t.Fatalf("DV2 revoked by one person:\n%s", out)
	}
	if code, out := runOut(t, "audit", "list", "--data", data); code != 0 || !strings.Contains(out, `"bootstrap":true`) || !strings.Contains(out, "proposal.approve") {
		t.Fatalf("audit: %d %s", code, out)
	}
}

// CVCA init run by a CA operator is a proposal; another CA operator's approval makes the
// key and certificate with the proposal's parameters.
func TestCLIKeyTaskNeedsTwoPersons(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("EACGATE_TEST_PASSPHRASE", "correct horse battery")
	cfg := filepath.Join(dir, "eacgate.yaml")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(cfg, []byte(`
data: `+data+`
country: UT
keystore:
  backend: soft
  soft:
    dir: `+filepath.Join(dir, "keys")+`
    passphrase: {env: EACGATE_TEST_PASSPHRASE}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(data, "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, o := range []store.Operator{{Name: "carl", Role: store.RoleCAOperator}, {Name: "cora", Role: store.RoleCAOperator},
		{Name: "olga", Role: store.RoleRAOperator}} {
		o.TokenHash = admin.TokenHash("token-of-" + o.Name)
		if err := st.CreateOperator(ctx, &o); err != nil {
			t.Fatal(err)
		}
		files[o.Name] = filepath.Join(dir, o.Name)
		os.WriteFile(files[o.Name], []byte("token-of-"+o.Name), 0o600)
	}
	st.Close()
	if code, out := runOut(t, "init", "cvca", "--config", cfg, "--chr", "UTCVCA00001"); code != 1 || !strings.Contains(out, "needs an operator account") {
		t.Fatalf("init cvca without a token: %d %s", code, out)
	}
	code, out := runOut(t, "init", "cvca", "--config", cfg, "--chr", "UTCVCA00001", "--years", "2", "--token-file", files["carl"])
	id, hash := proposalLine.FindStringSubmatch(out), hashLine.FindStringSubmatch(out)
	if code != 0 || id == nil || hash == nil || !strings.Contains(out, "Create the CVCA: new key and certificate UTCVCA00001, valid 2 years") {
		t.Fatalf("init cvca by carl: %d %s", code, out)
	}
	if code, out := runOut(t, "key", "list", "--backend", "soft", "--keystore", filepath.Join(dir, "keys")); strings.Contains(out, "cvca") {
		t.Fatalf("key made by one person: %d %s", code, out)
	}
	for who, want := range map[string]string{"carl": "proposer's own person", "olga": "may not approve"} {
		if code, out := runOut(t, "proposal", "approve", id[1], "--sha256", hash[1], "--config", cfg, "--token-file", files[who]); code != 1 || !strings.Contains(out, want) {
			t.Fatalf("approval by %s: %d %s", who, code, out)
		}
	}
	if code, out := runOut(t, "proposal", "approve", id[1], "--sha256", hash[1], "--config", cfg, "--token-file", files["cora"]); code != 0 ||
		!strings.Contains(out, "executed") || !strings.Contains(out, `"chr":"UTCVCA00001"`) {
		t.Fatalf("approval by cora: %d %s", code, out)
	}
	if code, out := runOut(t, "certificate", "list", "--config", cfg); code != 0 || !strings.Contains(out, "UTCVCA00001") {
		t.Fatalf("certificates: %d %s", code, out)
	}
}
