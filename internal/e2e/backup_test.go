package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/cvc"
)

// TestBackupWhileServingRestoreAndServe backs up a serving gateway that has issued a terminal
// certificate, restores the archive into a fresh data directory, serves from it, and checks
// that the restored gateway has the same CA chain, knows the terminal and its certificate
// (an authenticated renewal succeeds), and that its audit chain verifies.
func TestBackupWhileServingRestoreAndServe(t *testing.T) {
	g := startGateway(t)
	term := g.register(t, "UT", "BACKUP01", "terminal")
	res := g.zeep(t, "/dv", term, caCall())
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("GetCACertificates: %v", res[0])
	}
	caBefore := certificates(t, res[0])
	dv := parseChain(t, caBefore)[1]
	req1, key1 := newRequest(t, "brainpoolP256r1", "UTBACKUP0100001", dv.CHR, "", nil)
	if res = g.zeep(t, "/dv", term, requestCall("b-1", req1)); res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("initial request: %v", res[0])
	}

	// The backup, while the gateway serves.
	archive := filepath.Join(t.TempDir(), "eacgate-backup.tar.gz")
	out := g.run(t, "backup", "--out", archive)
	if !strings.Contains(out, "passphrase is NOT in the archive") {
		t.Errorf("backup output: %s", out)
	}

	restored := &gateway{bin: g.bin, data: filepath.Join(t.TempDir(), "restored")}
	if out, err := exec.Command(g.bin, "restore", "--from", archive, "--data", restored.data).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	// As README tells operators: the passphrase travels apart from the archive. The embedded
	// default keeps it in DATA/keystore.pass unless the environment gives it.
	if os.Getenv("EACGATE_KEYSTORE_PASSPHRASE") == "" {
		pass, err := os.ReadFile(filepath.Join(g.data, "keystore.pass"))
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("EACGATE_KEYSTORE_PASSPHRASE", strings.TrimSpace(string(pass)))
	}
	if _, err := os.Stat(filepath.Join(restored.data, "keystore.pass")); err == nil {
		t.Fatal("the passphrase file was restored")
	}
	restored.start(t)

	res = restored.zeep(t, "/dv", term, caCall())
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("restored GetCACertificates: %v", res[0])
	}
	caAfter := certificates(t, res[0])
	if len(caAfter) != len(caBefore) {
		t.Fatalf("restored CA chain of %d, want %d", len(caAfter), len(caBefore))
	}
	for i := range caBefore {
		if !bytes.Equal(caBefore[i], caAfter[i]) {
			t.Errorf("restored CA certificate %d differs", i)
		}
	}
	// A renewal authenticated with the certificate issued before the backup: the restored
	// gateway signs it with the restored DV key.
	req2, _ := newRequest(t, "brainpoolP256r1", "UTBACKUP0100002", dv.CHR, "UTBACKUP0100001", key1)
	res = restored.zeep(t, "/dv", term, requestCall("b-2", req2))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("renewal on the restored gateway: %v", res[0])
	}
	renewed, err := cvc.ParseCertificate(certificates(t, res[0])[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cvc.Verify(renewed, cvc.VerifyOptions{Anchors: parseChain(t, caAfter)[:1], Intermediates: []*cvc.Certificate{dv}}); err != nil {
		t.Errorf("renewed certificate: %v", err)
	}

	if out := restored.run(t, "audit", "verify"); !strings.Contains(out, "audit chain OK") {
		t.Errorf("audit verify on the restored data: %s", out)
	}
}
