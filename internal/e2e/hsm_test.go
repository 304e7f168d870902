package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/cvc"
	"eacgate/hsm/softhsmtest"
	"eacgate/internal/openpace"
)

// A configured gateway with its CA keys in a PKCS#11 token (SoftHSM2): eacgate init creates
// the CVCA and the DV inside the token, eacgate serve --config signs terminal certificates
// with the token's DV key, and openpace verifies them.
func TestConfiguredGatewayWithPKCS11Keys(t *testing.T) {
	tok := softhsmtest.NewToken(t, "eacgate-e2e")
	t.Setenv("EACGATE_TEST_PIN", tok.PIN)
	g := &gateway{bin: eacgateBinary(t), data: t.TempDir()}
	cfg := filepath.Join(t.TempDir(), "eacgate.yaml")
	os.WriteFile(cfg, []byte(`
country: ZZ
dv_mnemonic: DVHSM
keystore:
  backend: pkcs11
  pkcs11:
    module: `+tok.Module+`
    token: eacgate-e2e
    pin:
      env: EACGATE_TEST_PIN
validity_days:
  terminal: 7
`), 0o600)
	g.extra = []string{"--config", cfg}
	for _, args := range [][]string{
		{"init", "cvca", "--chr", "ZZCVCA00001", "--alg", "ECDSA_SHA_256", "--curve", "P-256"},
		{"init", "dv", "--chr", "ZZDVHSM00001"},
	} {
		out, err := exec.Command(g.bin, append(append(args, "--data", g.data), g.extra...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	g.start(t, g.extra...)
	term := g.register(t, "ZZ", "ISHSM01", "terminal")
	res := g.zeep(t, "/dv", term, caCall())
	chain := parseChain(t, certificates(t, res[0]))
	if len(chain) != 2 || chain[1].CHR != "ZZDVHSM00001" {
		t.Fatalf("chain %v", res[0])
	}
	req, _ := newRequest(t, "P-256", "ZZISHSM0100001", "ZZDVHSM00001", "", nil)
	res = g.zeep(t, "/dv", term, requestCall("h-1", req))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("%v", res[0])
	}
	cert, err := cvc.ParseCertificate(certificates(t, res[0])[0])
	if err != nil {
		t.Fatal(err)
	}
	if cert.ExpirationDate != cert.EffectiveDate.AddDays(6) {
		t.Fatalf("validity %s..%s, configured 7 days", cert.EffectiveDate, cert.ExpirationDate)
	}
	openpace.Verifies(t, chain, cert)

	// CVCA rollover with the keys in the token: the new key is made there, a DV request naming
	// the new CVCA certificate switches the running gateway to it, and the DV certificate
	// verifies in openpace from the old root through the link certificate.
	out, err := exec.Command(g.bin, append([]string{"cvca", "rollover", "--chr", "ZZCVCA00002", "--data", g.data}, g.extra...)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "link certificate ZZCVCA00002 stored") {
		t.Fatalf("cvca rollover: %v\n%s", err, out)
	}
	dv := g.register(t, "ZZ", "DVTWO", "dv_domestic")
	cvcas := parseChain(t, certificates(t, g.zeep(t, "/cvca", dv, caCall())[0]))
	if len(cvcas) != 2 || cvcas[1].CHR != "ZZCVCA00002" || cvcas[1].CAR != "ZZCVCA00001" {
		t.Fatalf("CVCA chain after the rollover: %v", cvcas)
	}
	dvReq, _ := newRequest(t, "P-256", "ZZDVTWO00001", "ZZCVCA00002", "", nil)
	res = g.zeep(t, "/cvca", dv, requestCall("h-2", dvReq))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("DV request under the new CVCA key: %v", res[0])
	}
	dvCert, err := cvc.ParseCertificate(certificates(t, res[0])[0])
	if err != nil || dvCert.CAR != "ZZCVCA00002" {
		t.Fatalf("DV certificate by %s: %v", dvCert.CAR, err)
	}
	openpace.Verifies(t, cvcas, dvCert)
}
