package store

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"eacgate/internal/pgtest"
	"eacgate/internal/testenv"
)

func runAPIClientKeys(t *testing.T, dsn opener) {
	for name, fn := range map[string]func(*testing.T, string){
		"Migration": testAPIClientKeyMigration,
		"Wrap":      testWrapAPIClientKeys,
	} {
		t.Run(name, func(t *testing.T) { fn(t, dsn(t)) })
	}
}

func TestAPIClientKeysSQLite(t *testing.T) { runAPIClientKeys(t, sqliteDSNFor) }

func TestAPIClientKeysPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	runAPIClientKeys(t, func(t testing.TB) string { return pgtest.DSN(t) })
}

func addClient(t *testing.T, s *Store, name string) *APIClient {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	c := &APIClient{EMKey: "em-" + name, UserName: name, PasswordHash: "h", AESKey: key, Certificate: []byte{0x30}}
	if err := s.CreateAPIClient(ctx(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// A database at version 7 with a client: migration 8 marks its key as in clear and keeps it.
func testAPIClientKeyMigration(t *testing.T, dsn string) {
	s, err := Open(ctx(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`ALTER TABLE api_clients DROP COLUMN key_wrapped`, `DELETE FROM schema_migrations WHERE version = 8`} {
		if err := s.DB().Exec(stmt).Error; err != nil {
			t.Fatal(err)
		}
	}
	key := bytes.Repeat([]byte{7}, 32)
	if err := s.DB().Exec(`INSERT INTO api_clients (em_key, user_name, password_hash, aes_key, certificate, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		"em-old", "old", "h", key, []byte{0x30}, now()).Error; err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dsn)
	c, err := s.APIClientByKey(ctx(), "em-old")
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyWrapped || !bytes.Equal(c.AESKey, key) {
		t.Fatalf("after migration 8: wrapped %v, key %x", c.KeyWrapped, c.AESKey)
	}
	if n, err := s.CountClearAPIClientKeys(ctx()); err != nil || n != 1 {
		t.Fatalf("clear keys: %d, %v", n, err)
	}
}

// WrapAPIClientKeys wraps all clear keys or none, with its audit event in the same
// transaction; the sealed keys are bound to their emKey.
func testWrapAPIClientKeys(t *testing.T, dsn string) {
	s := open(t, dsn)
	a, b := addClient(t, s, "alice"), addClient(t, s, "bob")
	auditCount := func() int64 { return countRows(t, s, "audit_events") }

	failing := testenv.NewKeyWrapper()
	failing.FailAfter = 1
	if n, err := s.WrapAPIClientKeys(ctx(), failing, "test"); err == nil || n != 0 {
		t.Fatalf("failing wrapper: %d, %v", n, err)
	}
	if n, _ := s.CountClearAPIClientKeys(ctx()); n != 2 || auditCount() != 0 {
		t.Fatalf("after a failed wrap: %d clear keys, %d audit events", n, auditCount())
	}

	w := testenv.NewKeyWrapper()
	if n, err := s.WrapAPIClientKeys(ctx(), w, "test"); err != nil || n != 2 {
		t.Fatalf("wrap: %d, %v", n, err)
	}
	for _, want := range []*APIClient{a, b} {
		c, err := s.APIClientByKey(ctx(), want.EMKey)
		if err != nil {
			t.Fatal(err)
		}
		if !c.KeyWrapped || bytes.Contains(c.AESKey, want.AESKey) {
			t.Fatalf("%s: key not wrapped", c.UserName)
		}
		key, err := w.Open(ctx(), c.AESKey, APIClientKeyAAD(c.EMKey))
		if err != nil || !bytes.Equal(key, want.AESKey) {
			t.Fatalf("%s: unwrap: %v", c.UserName, err)
		}
		if _, err := w.Open(ctx(), c.AESKey, APIClientKeyAAD("em-someone-else")); err == nil {
			t.Fatalf("%s: the sealed key opens for another emKey", c.UserName)
		}
	}
	events, err := s.ListAudit(ctx(), 10)
	if err != nil || len(events) != 1 || events[0].Action != "apiclient.keys.wrap" || !strings.Contains(events[0].Details, "bob") {
		t.Fatalf("audit: %+v %v", events, err)
	}
	if _, err := s.VerifyAudit(ctx()); err != nil {
		t.Fatal(err)
	}
	if n, err := s.WrapAPIClientKeys(ctx(), w, "test"); err != nil || n != 0 || auditCount() != 1 {
		t.Fatalf("second wrap: %d, %v, %d audit events", n, err, auditCount())
	}
	// A wrapped key must be longer than a clear one; a clear one 32 bytes.
	bad := &APIClient{EMKey: "em-x", UserName: "x", PasswordHash: "h", AESKey: make([]byte, 32), KeyWrapped: true, Certificate: []byte{0x30}}
	if err := s.CreateAPIClient(ctx(), bad); err == nil {
		t.Fatal("a 32-byte wrapped key was accepted")
	}
}
