package store

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/pgtest"
)

// cvCert makes a CV certificate of key for chr under car (signed by key itself: only its
// fields matter here).
func cvCert(t testing.TB, car, chr string, role cvc.Role, key *ecc.PrivateKey) *Certificate {
	t.Helper()
	pub, err := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), role == cvc.RoleCVCA)
	if err != nil {
		t.Fatal(err)
	}
	today := cvc.DateOf(time.Now())
	c, err := cvc.Issue(cvc.CertificateTemplate{CAR: car, CHR: chr, PublicKey: pub, CHAT: cvc.NewISCHAT(role, cvc.ISReadDG3),
		EffectiveDate: today, ExpirationDate: today.AddDays(30)}, key, cvc.ECDSA_SHA256)
	if err != nil {
		t.Fatal(err)
	}
	r := map[cvc.Role]Role{cvc.RoleCVCA: RoleCVCA, cvc.RoleDVDomestic: RoleDVDomestic, cvc.RoleTerminal: RoleTerminal}[role]
	return &Certificate{CHR: chr, CAR: car, Role: r, NotBefore: c.EffectiveDate.Time(), NotAfter: c.ExpirationDate.Time(), Raw: c.Raw}
}

func newKey(t testing.TB) *ecc.PrivateKey {
	t.Helper()
	k, err := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestUniqueCertificatesSQLite(t *testing.T) { testUniqueCertificates(t, open(t, sqliteDSNFor(t))) }

func TestUniqueCertificatesPostgres(t *testing.T) {
	testUniqueCertificates(t, open(t, pgtest.DSN(t)))
}

func TestKeyHashBackfillSQLite(t *testing.T) { testKeyHashBackfill(t, open(t, sqliteDSNFor(t))) }

func TestKeyHashBackfillPostgres(t *testing.T) { testKeyHashBackfill(t, open(t, pgtest.DSN(t))) }

// The database refuses a second certificate with the same CHR under one CAR and a second
// certificate of one public key, on every insertion path, with ErrDuplicateCertificate;
// a CVCA link certificate and its self-signed twin certify one key.
func testUniqueCertificates(t *testing.T, s *Store) {
	cvcaKey, cvcaKey2, k1, k2, k3 := newKey(t), newKey(t), newKey(t), newKey(t), newKey(t)
	for _, c := range []*Certificate{
		cvCert(t, "UTCVCA00001", "UTCVCA00001", cvc.RoleCVCA, cvcaKey),
		cvCert(t, "UTCVCA00001", "UTCVCA00002", cvc.RoleCVCA, cvcaKey2), // link
		cvCert(t, "UTCVCA00002", "UTCVCA00002", cvc.RoleCVCA, cvcaKey2), // its self-signed twin
	} {
		if err := s.AddCertificate(ctx(), c); err != nil {
			t.Fatalf("CVCA certificate %s under %s: %v", c.CHR, c.CAR, err)
		}
	}
	first := cvCert(t, "UTCVCA00001", "UTDV00001", cvc.RoleDVDomestic, k1)
	if err := s.AddCertificate(ctx(), first); err != nil {
		t.Fatal(err)
	}
	if first.KeySHA256 == "" {
		t.Fatal("no key hash stored")
	}
	for name, c := range map[string]*Certificate{
		"same CHR and CAR, new key": cvCert(t, "UTCVCA00001", "UTDV00001", cvc.RoleDVDomestic, k2),
		"same key, new CHR":         cvCert(t, "UTCVCA00001", "UTDV00002", cvc.RoleDVDomestic, k1),
		"same key, other CAR":       cvCert(t, "UTCVCA00002", "UTDV00003", cvc.RoleDVDomestic, k1),
		"a CVCA's key for a DV":     cvCert(t, "UTCVCA00002", "UTDV00004", cvc.RoleDVDomestic, cvcaKey2),
	} {
		err := s.AddCertificate(ctx(), c)
		if name == "a CVCA's key for a DV" {
			// CVCA certificates are outside the key's uniqueness (their rows are not
			// compared), so only DV and terminal certificates collide with each other.
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if !errors.Is(err, ErrDuplicateCertificate) {
			t.Errorf("%s: %v, want ErrDuplicateCertificate", name, err)
		}
	}
	if err := s.AddCertificate(ctx(), cvCert(t, "UTCVCA00002", "UTDV00001", cvc.RoleDVDomestic, k2)); err != nil {
		t.Fatalf("the same CHR under another CAR: %v", err)
	}
	// The per-request path: the answer with a repeated certificate is refused whole.
	before := countRows(t, s, "messages")
	m := &Message{Originator: "holder:1", MessageID: "m-1", Operation: "RequestCertificate", ReturnCode: "ok_cert_available"}
	err := s.AcceptAnswered(ctx(), m, cvCert(t, "UTCVCA00001", "UTDV00001", cvc.RoleDVDomestic, k3))
	if !errors.Is(err, ErrDuplicateCertificate) || m.ID != 0 || countRows(t, s, "messages") != before {
		t.Fatalf("AcceptAnswered with a repeated CHR: %v (message %d)", err, m.ID)
	}
	m.ReturnCode = "failure_request_not_accepted"
	if err := s.AcceptAnswered(ctx(), m); err != nil {
		t.Fatalf("the refusal after it: %v", err)
	}
	// The asynchronous path.
	q := &Message{Originator: "holder:1", MessageID: "m-2", Operation: "RequestCertificate"}
	if err := s.AcceptMessage(ctx(), q, nil); err != nil {
		t.Fatal(err)
	}
	err = s.AnswerMessage(ctx(), q.ID, "ok_cert_available", nil, cvCert(t, "UTCVCA00001", "UTDV00005", cvc.RoleDVDomestic, k1))
	if !errors.Is(err, ErrDuplicateCertificate) {
		t.Fatalf("AnswerMessage with a repeated key: %v", err)
	}
	if got, _ := s.MessageByID(ctx(), q.ID); got.State == MessageAnswered {
		t.Fatal("the message was answered with the refused certificate")
	}
}

// Migration 7 keeps the repeated CHRs and keys stored before it: the later rows are flagged
// or left without a key hash, the first of a key keeps it, and the indexes are created.
func testKeyHashBackfill(t *testing.T, s *Store) {
	db := s.DB()
	for _, stmt := range []string{`DROP INDEX uq_certificates_car_chr`, `DROP INDEX uq_certificates_key`} {
		if err := db.Exec(stmt).Error; err != nil {
			t.Fatal(err)
		}
	}
	k1, k2 := newKey(t), newKey(t)
	rows := []*Certificate{
		cvCert(t, "UTCVCA00001", "UTDV00001", cvc.RoleDVDomestic, k1),
		cvCert(t, "UTCVCA00001", "UTDV00001", cvc.RoleDVDomestic, k2), // the same CHR again
		cvCert(t, "UTCVCA00001", "UTDV00002", cvc.RoleDVDomestic, k1), // the same key again
		{CHR: "UTDV00009", CAR: "UTCVCA00001", Role: RoleDVDomestic, NotBefore: day(2026, 1, 1), NotAfter: day(2026, 2, 1), Raw: []byte{1}},
	}
	for _, c := range rows {
		if err := s.AddCertificate(ctx(), c); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Exec(`UPDATE certificates SET key_sha256 = '', legacy_duplicate = FALSE`).Error; err != nil {
		t.Fatal(err)
	}
	var m7 migration
	for _, m := range migrations {
		if m.version == 7 {
			m7 = m
		}
	}
	tx := db.Begin()
	if err := tx.Exec(m7.statements(s.Dialect())[2]).Error; err != nil {
		t.Fatal(err)
	}
	if err := m7.then(s, tx); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit().Error; err != nil {
		t.Fatal(err)
	}
	var got []struct {
		ID              int64
		KeySHA256       string
		LegacyDuplicate bool
	}
	if err := db.Raw(`SELECT id, key_sha256, legacy_duplicate FROM certificates ORDER BY id`).Scan(&got).Error; err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].KeySHA256 != rows[0].KeySHA256 || got[0].LegacyDuplicate || !got[1].LegacyDuplicate ||
		got[1].KeySHA256 == "" || got[2].KeySHA256 != "" || got[2].LegacyDuplicate || got[3].KeySHA256 != "" {
		t.Fatalf("after the backfill: %+v", got)
	}
	if err := s.AddCertificate(ctx(), cvCert(t, "UTCVCA00001", "UTDV00003", cvc.RoleDVDomestic, k1)); !errors.Is(err, ErrDuplicateCertificate) {
		t.Fatalf("a key certified before the migration: %v", err)
	}
	if err := s.AddCertificate(ctx(), cvCert(t, "UTCVCA00001", "UTDV00001", cvc.RoleDVDomestic, newKey(t))); !errors.Is(err, ErrDuplicateCertificate) {
		t.Fatalf("a CHR issued before the migration: %v", err)
	}
}
