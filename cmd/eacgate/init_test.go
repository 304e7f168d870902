package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitWithSoftKeystore(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("EACGATE_TEST_PASSPHRASE", "correct horse battery")
	cfg := filepath.Join(dir, "eacgate.yaml")
	os.WriteFile(cfg, []byte(`
data: `+filepath.Join(dir, "data")+`
country: UT
dv_mnemonic: DVBORDER
keystore:
  backend: soft
  soft:
    dir: `+filepath.Join(dir, "keys")+`
    passphrase: {env: EACGATE_TEST_PASSPHRASE}
`), 0o600)
	if code, _ := runOut(t, "init", "cvca", "--chr", "UTCVCA00001"); code != 2 {
		t.Fatalf("without --config: exit %d", code)
	}
	if code, out := runOut(t, "init", "cvca", "--config", cfg, "--chr", "XXCVCA00001"); code != 2 || !strings.Contains(out, "country") {
		t.Fatalf("other country: exit %d: %s", code, out)
	}
	if code, out := runOut(t, "init", "cvca", "--config", cfg, "--chr", "UTCVCA00001"); code != 0 || !strings.Contains(out, "CHR: UTCVCA00001") {
		t.Fatalf("init cvca: exit %d: %s", code, out)
	}
	if code, _ := runOut(t, "init", "cvca", "--config", cfg, "--chr", "UTCVCA00002"); code != 1 {
		t.Fatalf("a second CVCA: exit %d", code)
	}
	if code, out := runOut(t, "init", "dv", "--config", cfg, "--chr", "UTDVOTHER00001"); code != 2 || !strings.Contains(out, "dv_mnemonic") {
		t.Fatalf("other mnemonic: exit %d: %s", code, out)
	}
	if code, out := runOut(t, "init", "dv", "--config", cfg, "--chr", "UTDVBORDER00001"); code != 0 || !strings.Contains(out, "CAR: UTCVCA00001") {
		t.Fatalf("init dv: exit %d: %s", code, out)
	}
	if code, out := runOut(t, "cvca", "rollover", "--config", cfg, "--chr", "UTCVCA00001"); code != 1 || !strings.Contains(out, "next sequence number") {
		t.Fatalf("rollover to an existing CHR: exit %d: %s", code, out)
	}
	if code, out := runOut(t, "cvca", "rollover", "--config", cfg, "--chr", "UTCVCA00002", "--years", "2"); code != 0 ||
		!strings.Contains(out, "CHR: UTCVCA00002") || !strings.Contains(out, "CAR: UTCVCA00001") || !strings.Contains(out, "link certificate UTCVCA00002 stored") {
		t.Fatalf("cvca rollover: exit %d: %s", code, out)
	}
	if code, out := runOut(t, "key", "list", "--backend", "soft", "--keystore", filepath.Join(dir, "keys")); code != 0 || !strings.Contains(out, "cvca-UTCVCA00002") {
		t.Fatalf("key list after rollover: exit %d: %s", code, out)
	}
	if code, out := runOut(t, "holder", "list", "--config", cfg); code != 0 || !strings.Contains(out, "DVBORDER") {
		t.Fatalf("holder list: exit %d: %s", code, out)
	}
	if code, out := runOut(t, "audit", "verify", "--data", filepath.Join(dir, "data")); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("audit: exit %d: %s", code, out)
	}
	if code, out := runOut(t, "audit", "list", "--data", filepath.Join(dir, "data")); code != 0 || !strings.Contains(out, "cvca.rollover") {
		t.Fatalf("audit list: exit %d: %s", code, out)
	}
}
