package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/internal/testenv"
)

// runOut runs "eacgate args..." and returns the exit code and stdout and stderr together.
func runOut(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), args, &out, &out)
	return code, out.String()
}

func TestCVCPrint(t *testing.T) {
	code, out := runOut(t, "cvc", "print", testenv.Vector(t, "public/14_DE0000024001HW_at_with_extensions.cvcert"))
	if code != 0 || !strings.Contains(out, "CHR: DE0000024001HW") || !strings.Contains(out, "Read DG 17") || !strings.Contains(out, "id-sector") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out = runOut(t, "cvc", "print", testenv.Vector(t, "public/07_SEABSP00002_is_renewal_auth.cvreq"))
	if code != 0 || !strings.Contains(out, "Outer CAR: SEABSP00001") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte{0x7F, 0x21, 0x05, 1, 2}, 0o600)
	if code, _ := runOut(t, "cvc", "print", garbage); code != 1 {
		t.Fatalf("garbage: exit %d", code)
	}
}

func TestCVCVerify(t *testing.T) {
	pub := func(f string) string { return testenv.Vector(t, "public/"+f) }
	chain := []string{"cvc", "verify", "--anchor", pub("11_DECVCAeID00102_cvca_eid.cvcert"),
		"--chain", pub("12_DECVCAeID00103_link_by_00102.cvcert"), "--chain", pub("13_DEDVeIDDTR101415_dv_eid.cvcert")}
	leaf := pub("14_DE0000024001HW_at_with_extensions.cvcert")
	if code, out := runOut(t, append(chain, "--at", "2014-11-07", leaf)...); code != 0 || !strings.HasPrefix(out, "VALID") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if code, out := runOut(t, append(chain, leaf)...); code != 1 || !strings.Contains(out, "expired") {
		t.Fatalf("today: exit %d: %s", code, out)
	}
	if code, out := runOut(t, "cvc", "verify", "--anchor", pub("02_BECVCA00001_cvca_epass_be.cvcert"), "--at", "2014-11-07", leaf); code != 1 || !strings.Contains(out, "issuer") {
		t.Fatalf("wrong anchor: exit %d: %s", code, out)
	}
	// A flipped signature bit.
	raw, err := os.ReadFile(pub("03_BEDVBUZABE006_dv_epass_be.cvcert"))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-3] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.cvcert")
	os.WriteFile(bad, raw, 0o600)
	if code, out := runOut(t, "cvc", "verify", "--anchor", pub("02_BECVCA00001_cvca_epass_be.cvcert"), "--at", "2010-09-01", bad); code != 1 || !strings.Contains(out, "signature") {
		t.Fatalf("bad signature: exit %d: %s", code, out)
	}
	if code, _ := runOut(t, "cvc", "verify", leaf); code != 2 {
		t.Fatalf("no anchor: exit %d", code)
	}
}

// cvc request makes a new key and an authenticated renewal request with the key and
// certificate of an openpace-made terminal; cvc verify accepts it.
func TestCVCRequest(t *testing.T) {
	set := func(f string) string { return testenv.Vector(t, "openpace/bp256/"+f) }
	dir := t.TempDir()
	req, key := filepath.Join(dir, "renew.cvreq"), filepath.Join(dir, "new.pkcs8")
	code, out := runOut(t, "cvc", "request", "--chr", "ZZISBP00003", "--car", "ZZDVBP00001", "--curve", "brainpoolP256r1",
		"--key-out", key, "--outer-key", set("is.pkcs8"), "--outer-cert", set("is.cvcert"), "--out", req)
	if code != 0 || !strings.Contains(out, "Outer CAR: ZZISBP00001") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	// The openpace vectors were made on 2026-11-22; the terminal certificate is valid for a month.
	code, out = runOut(t, "cvc", "verify", "--anchor", set("cvca.cvcert"), "--chain", set("dv.cvcert"), "--chain", set("is.cvcert"), "--at", "2026-11-22", req)
	if code != 0 || !strings.Contains(out, "outer signature by") {
		t.Fatalf("verify: exit %d: %s", code, out)
	}
	// The same request verified against the wrong outer signer fails.
	code, out = runOut(t, "cvc", "verify", "--anchor", testenv.Vector(t, "openpace/p256/cvca.cvcert"), req)
	if code != 1 {
		t.Fatalf("wrong anchor: exit %d: %s", code, out)
	}
	// Reusing the key file refuses to overwrite it.
	if code, _ := runOut(t, "cvc", "request", "--chr", "ZZISBP00004", "--key-out", key, "--out", req); code != 1 {
		t.Fatalf("overwrite: exit %d", code)
	}
}

// The same with keys in the software keystore: the new key is generated there and the
// outer signature is made by an imported key.
func TestCVCRequestWithKeystore(t *testing.T) {
	set := func(f string) string { return testenv.Vector(t, "openpace/bp256/"+f) }
	dir := t.TempDir()
	keys, pass := filepath.Join(dir, "keys"), filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err := hsm.OpenSoft(hsm.SoftConfig{Dir: keys, Passphrase: hsm.Secret{File: pass}, KDF: hsm.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(set("is.pkcs8"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Import("is-current", old, cvc.ECDSA_SHA256); err != nil {
		t.Fatal(err)
	}
	ks.Close()
	req := filepath.Join(dir, "renew.cvreq")
	code, out := runOut(t, "cvc", "request", "--chr", "ZZISBP00005", "--car", "ZZDVBP00001",
		"--backend", "soft", "--keystore", keys, "--passphrase-file", pass,
		"--label", "is-next", "--outer-label", "is-current", "--outer-cert", set("is.cvcert"), "--out", req)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	code, out = runOut(t, "cvc", "verify", "--anchor", set("cvca.cvcert"), "--chain", set("dv.cvcert"), "--chain", set("is.cvcert"), "--at", "2026-11-22", req)
	if code != 0 {
		t.Fatalf("verify: exit %d: %s", code, out)
	}
	// Both a key file and a keystore label for the new key is a usage error.
	if code, _ := runOut(t, "cvc", "request", "--chr", "ZZISBP00006", "--label", "x", "--key-out", filepath.Join(dir, "k"), "--out", req); code != 2 {
		t.Fatalf("two key sources: exit %d", code)
	}
}
