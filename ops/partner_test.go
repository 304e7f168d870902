package ops

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
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/internal/catest"
	"eacgate/store"
	"eacgate/trust"
)

// testRootCA is a self-signed X.509 CA certificate (PEM) and the hex SHA-256 of its DER.
func testRootCA(t *testing.T) ([]byte, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "SPOC root FR"},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), hex.EncodeToString(sum[:])
}

func testRegistration(t *testing.T) (PartnerRegistration, *cvc.Certificate) {
	t.Helper()
	root, rootSum := testRootCA(t)
	cvca := catest.CVCA(t, "FRCVCA00001", "brainpoolP256r1").Certificate()
	return PartnerRegistration{Country: "FR", URL: "https://spoc.fr.example/spoc", SPOCRootPEM: root, SPOCRootSHA256: rootSum,
		CVCA: []*cvc.Certificate{cvca}, CVCASHA256: []string{trust.CertificateSHA256(cvca)}, Rights: "dg4,dg3"}, cvca
}

// A registration whose SPOC root or CVCA certificate is not the one of the form's SHA-256 is
// refused as a whole, and audited.
func TestRegisterPartnerChecksFingerprints(t *testing.T) {
	ctx := context.Background()
	wrong := strings.Repeat("ab", 32)
	for name, spoil := range map[string]func(*PartnerRegistration){
		"SPOC root": func(r *PartnerRegistration) { r.SPOCRootSHA256 = wrong },
		"CVCA":      func(r *PartnerRegistration) { r.CVCASHA256 = []string{wrong} },
	} {
		t.Run(name, func(t *testing.T) {
			s := newService(t)
			r, _ := testRegistration(t)
			spoil(&r)
			if _, err := s.RegisterPartner(ctx, cli, r); !errors.Is(err, ErrFingerprintMismatch) {
				t.Fatalf("register: %v", err)
			}
			if ev := lastEvent(t, s); ev.Action != "partner.register" || !strings.HasPrefix(ev.Outcome, "failed: the SHA-256 does not match") {
				t.Fatalf("event %+v", ev)
			}
			if _, err := s.Store.PartnerByCountry(ctx, "FR"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("partner stored: %v", err)
			}
			if chain, _ := s.Store.CVCAChain(ctx, "FR"); len(chain) != 0 {
				t.Fatal("CVCA certificate stored")
			}
		})
	}
}

// The partner, its CVCA certificates and the audit event are written together.
func TestRegisterPartner(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	r, cvca := testRegistration(t)
	if err := s.Store.DB().Exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END`).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterPartner(ctx, cli, r); err == nil {
		t.Fatal("registered without its audit event")
	}
	if _, err := s.Store.PartnerByCountry(ctx, "FR"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("partner stored without its event: %v", err)
	}
	if chain, _ := s.Store.CVCAChain(ctx, "FR"); len(chain) != 0 {
		t.Fatal("CVCA certificate stored without its event")
	}
	if err := s.Store.DB().Exec(`DROP TRIGGER refuse_audit`).Error; err != nil {
		t.Fatal(err)
	}
	p, err := s.RegisterPartner(ctx, rest, r)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rights != "dg3,dg4" || p.Status != store.PartnerActive || len(p.SPOCRootSHA256) != 64 {
		t.Fatalf("partner %+v", p)
	}
	if chain, _ := s.Store.CVCAChain(ctx, "FR"); len(chain) != 1 || chain[0].CHR != cvca.CHR {
		t.Fatalf("chain %+v", chain)
	}
	if ev := lastEvent(t, s); ev.Action != "admin.partner.register" || ev.Target != "partner:FR" || ev.Outcome != "ok" ||
		!strings.Contains(ev.Details, trust.CertificateSHA256(cvca)) {
		t.Fatalf("event %+v", ev)
	}
	if _, err := s.RegisterPartner(ctx, rest, r); PublicText(err) != "partner FR already registered" {
		t.Fatalf("second registration: %v", err)
	}

	if err := s.SuspendPartner(ctx, cli, "FR", "audit"); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "partner.suspend", Target: "partner:FR", Source: "local", Outcome: "ok"})
	if got, _ := s.Store.PartnerByCountry(ctx, "FR"); got.Status != store.PartnerSuspended {
		t.Fatalf("status %s", got.Status)
	}
	if err := s.ReinstatePartner(ctx, cli, "FR", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Store.PartnerByCountry(ctx, "FR"); got.Status != store.PartnerActive {
		t.Fatalf("status %s", got.Status)
	}
	if err := s.SuspendPartner(ctx, cli, "IT", ""); PublicText(err) != "not found" {
		t.Fatalf("suspend IT: %v", err)
	}

	h, err := s.AddPartnerDV(ctx, cli, "FR", "DVFR1", "FRCVCA00001")
	if err != nil || h.Role != store.RoleDVForeign {
		t.Fatalf("add DV: %+v, %v", h, err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "partner.dv_add", Target: "FRDVFR1", Source: "local", Outcome: "ok"})
	if _, err := s.AddPartnerDV(ctx, cli, "IT", "DVIT1", ""); PublicText(err) != "not found" {
		t.Fatalf("DV of an unregistered partner: %v", err)
	}
	if got, err := s.PartnerDV(ctx, "FR", "DVFR1"); err != nil || got.ID != h.ID {
		t.Fatalf("PartnerDV: %+v, %v", got, err)
	}
}
