package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/internal/catest"
	"eacgate/store"
	"eacgate/trust"
)

// The partner registry by CLI: the form's SHA-256 are checked, the partner and its DVs are
// listed with their status, suspended and reinstated, and every change is audited.
func TestPartnerCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "SPOC root ZZ"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	rootSum := hex.EncodeToString(sum[:])
	rootFile := filepath.Join(dir, "root.pem")
	cvca := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1").Certificate()
	cvcaFile := filepath.Join(dir, "zz.cvcert")
	if err := os.WriteFile(rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cvcaFile, cvca.Raw, 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := strings.Repeat("00", 32)
	add := func(rootSHA, cvcaSHA string) (int, string) {
		return runOut(t, "partner", "add", cvcaFile, "--data", data, "--country", "zz", "--url", "https://spoc.zz.example/spoc",
			"--spoc-root", rootFile, "--spoc-root-sha256", rootSHA, "--cvca-sha256", cvcaSHA, "--rights", "dg3")
	}
	for _, tc := range [][2]string{{wrong, trust.CertificateSHA256(cvca)}, {rootSum, wrong}} {
		if code, out := add(tc[0], tc[1]); code != 1 || !strings.Contains(out, "the SHA-256 does not match the registration form") {
			t.Fatalf("wrong SHA-256: exit %d: %s", code, out)
		}
	}
	if code, out := runOut(t, "partner", "list", "--data", data); code != 0 || strings.Contains(out, "ZZ") {
		t.Fatalf("refused registrations listed: %s", out)
	}
	if code, out := add(rootSum, trust.CertificateSHA256(cvca)); code != 0 || !strings.Contains(out, "partner ZZ registered") {
		t.Fatalf("add: exit %d: %s", code, out)
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"partner", "show", "zz"}, "ZZCVCA00001  " + trust.CertificateSHA256(cvca)},
		{[]string{"partner", "suspend", "ZZ", "--reason", "audit"}, "partner ZZ suspended"},
		{[]string{"partner", "list"}, "ZZ       suspended"},
		{[]string{"partner", "reinstate", "ZZ"}, "partner ZZ active"},
		{[]string{"partner", "dv", "add", "ZZ", "DVA", "--cvca", "ZZCVCA00001"}, "DV ZZDVA: add done"},
		{[]string{"partner", "dv", "suspend", "ZZ", "DVA"}, "DV ZZDVA: suspend done"},
		{[]string{"partner", "dv", "list", "ZZ"}, "ZZDVA  suspended  ZZCVCA00001"},
	}
	for _, s := range steps {
		if code, out := runOut(t, append(s.args, "--data", data)...); code != 0 || !strings.Contains(out, s.want) {
			t.Fatalf("%v: exit %d: %s", s.args, code, out)
		}
	}
	if code, out := runOut(t, "partner", "suspend", "QQ", "--data", data); code != 1 || !strings.Contains(out, "not found") {
		t.Fatalf("suspend an unregistered partner: exit %d: %s", code, out)
	}
	st, err := store.Open(context.Background(), filepath.Join(data, "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ListAudit(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action+" "+e.Outcome[:2])
	}
	got := strings.Join(actions, ",")
	for _, want := range []string{"partner.register fa", "partner.register ok", "partner.suspend ok", "partner.reinstate ok", "partner.dv_add ok", "holder.suspended ok"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit log lacks %q: %s", want, got)
		}
	}
}
