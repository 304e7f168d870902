package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/internal/openpace"
	"eacgate/internal/testenv"
)

// spocRoot writes a self-signed X.509 CA certificate (our SPOC's TLS root) as PEM and
// returns its file and the SHA-256 of its DER.
func spocRoot(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "UT SPOC Root", Country: []string{"UT"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "spoc-root.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return file, hex.EncodeToString(sum[:])
}

// sha256sum is the SHA-256 of file by coreutils' sha256sum.
func sha256sum(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, "sha256sum"), file).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

// readCVC reads an exported CV certificate.
func readCVC(t *testing.T, file string) *cvc.Certificate {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cvc.ParseCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// init cvca and cvca rollover print the ceremony record; eacgate ceremony prints it for the
// newest or a named CVCA certificate, as text and JSON, with part II from the SPOC root
// given: the SHA-256 is the one sha256sum computes of the exported certificate, which
// openpace verifies.
func TestCeremonyRecord(t *testing.T) {
	dir := t.TempDir()
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
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runOut(t, "ceremony", "--config", cfg); code != 1 {
		t.Fatalf("ceremony without a CVCA: exit %d: %s", code, out)
	}
	code, out := runOut(t, "init", "cvca", "--config", cfg, "--chr", "UTCVCA00001")
	if code != 0 || !strings.Contains(out, "Key ceremony record") || !strings.Contains(out, "Part III") || !strings.Contains(out, "bootstrap command") {
		t.Fatalf("init cvca: exit %d: %s", code, out)
	}
	code, out = runOut(t, "cvca", "rollover", "--config", cfg, "--chr", "UTCVCA00002", "--years", "2")
	if code != 0 || !strings.Contains(out, "CVCA certificate:  UTCVCA00002 (link certificate, signed by the previous key UTCVCA00001)") {
		t.Fatalf("cvca rollover: exit %d: %s", code, out)
	}

	exported := map[string]*cvc.Certificate{}
	sums := map[string]string{}
	for _, chr := range []string{"UTCVCA00001", "UTCVCA00002"} {
		file := filepath.Join(dir, chr+".cvcert")
		if code, out := runOut(t, "certificate", "export", chr, "--config", cfg, "--out", file); code != 0 {
			t.Fatalf("certificate export %s: exit %d: %s", chr, code, out)
		}
		exported[chr], sums[chr] = readCVC(t, file), sha256sum(t, file)
	}
	root, link := exported["UTCVCA00001"], exported["UTCVCA00002"]
	openpace.Verifies(t, []*cvc.Certificate{root}, link)

	rootFile, rootSum := spocRoot(t, dir)
	code, out = runOut(t, "ceremony", "--config", cfg, "--spoc-root", rootFile, "--spoc-url", "https://spoc.ut.example/spoc")
	if code != 0 {
		t.Fatalf("ceremony: exit %d: %s", code, out)
	}
	for _, want := range []string{
		"CHR:               UTCVCA00002", "CAR:               UTCVCA00001", "SHA-256:           " + sums["UTCVCA00002"],
		"Effective:         " + link.EffectiveDate.String(), "Expiration:        " + link.ExpirationDate.String(),
		"Algorithm:         " + link.PublicKey.Algorithm.String(), "Curve:             brainpoolP256r1",
		"Key:               cvca-UTCVCA00002 (software keystore)", "(audit event cvca.rollover",
		"Part I    member state:       UT", "Part II   SPOC URL:           https://spoc.ut.example/spoc",
		"Part II   SPOC root SHA-256:  " + rootSum, "SPOC root subject:  CN=UT SPOC Root,C=UT",
		"UTCVCA00001  " + sums["UTCVCA00001"], "UTCVCA00002  " + sums["UTCVCA00002"],
		"--cvca-sha256 " + sums["UTCVCA00001"] + "," + sums["UTCVCA00002"],
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ceremony: no %q in\n%s", want, out)
		}
	}

	code, out = runOut(t, "ceremony", "--config", cfg, "--chr", "UTCVCA00001", "--json")
	if code != 0 {
		t.Fatalf("ceremony --json: exit %d: %s", code, out)
	}
	var r cvca.Record
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("ceremony --json: %v\n%s", err, out)
	}
	if c := r.Certificate; c.CHR != "UTCVCA00001" || c.CAR != "UTCVCA00001" || c.SHA256 != sums["UTCVCA00001"] || c.Link ||
		c.Effective != root.EffectiveDate.String() || c.KeyLabel != "cvca" || c.Keystore != "software" ||
		!r.Ceremony.Recorded || r.Ceremony.Event != "init.cvca" || !strings.HasPrefix(r.Ceremony.Actor, "cli:") ||
		r.Form.PartII != nil || len(r.Form.PartIII) != 1 {
		t.Fatalf("ceremony --json: %s", out)
	}
	if code, out := runOut(t, "ceremony", "--config", cfg, "--spoc-root", cfg); code != 1 || !strings.Contains(out, "not a PEM certificate") {
		t.Fatalf("ceremony with a SPOC root that is not one: exit %d: %s", code, out)
	}
}
