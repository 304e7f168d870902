package store

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"eacgate/internal/pgtest"
)

func TestAccountsSQLite(t *testing.T) { testAccounts(t, open(t, sqliteDSNFor(t))) }

func TestAccountsPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	testAccounts(t, open(t, pgtest.DSN(t)))
}

// One person holds one role (two accounts of one role are fine); a removed account no
// longer counts, cannot be changed, and keeps its row; the last use is written only when
// the one stored is older than the interval.
func testAccounts(t *testing.T, s *Store) {
	var c *ConflictError
	olga := &Operator{Name: "olga", Role: RoleRAOperator, TokenHash: "t1"}
	if err := s.CreateOperator(ctx(), olga); err != nil || olga.Person != "olga" {
		t.Fatalf("create: %v %q", err, olga.Person)
	}
	second := &Operator{Name: "olga-laptop", Person: "olga", Role: RoleRAOperator, TokenHash: "t2"}
	if err := s.CreateOperator(ctx(), second); err != nil {
		t.Fatalf("second account of one person and role: %v", err)
	}
	err := s.CreateOperator(ctx(), &Operator{Name: "olga-audit", Person: "olga", Role: RoleAuditor, TokenHash: "t3"})
	if !errors.As(err, &c) || c.Msg != "person olga already holds the role ra_operator: one person holds one role (TR-03139 5.2)" {
		t.Fatalf("second role for one person: %v", err)
	}
	if err := s.SetOperatorRole(ctx(), olga.ID, RoleAuditor); !errors.As(err, &c) {
		t.Fatalf("role change while the person holds another account: %v", err)
	}
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	if err := s.RemoveOperator(ctx(), second.ID, at); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOperatorRole(ctx(), olga.ID, RoleAuditor); err != nil {
		t.Fatalf("role change once the other account is removed: %v", err)
	}
	if err := s.SetOperatorDisabled(ctx(), second.ID, false); !errors.As(err, &c) || c.Msg != fmt.Sprintf("operator %d was removed", second.ID) {
		t.Fatalf("enable a removed operator: %v", err)
	}
	if err := s.SetOperatorDisabled(ctx(), 999, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("disable nobody: %v", err)
	}
	got, err := s.OperatorByToken(ctx(), "t2")
	if err != nil || got.RemovedAt == nil || !got.RemovedAt.Equal(at) || !got.Disabled {
		t.Fatalf("removed row: %+v %v", got, err)
	}

	if err := s.TouchOperator(ctx(), olga.ID, at, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchOperator(ctx(), olga.ID, at.Add(59*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.OperatorByID(ctx(), olga.ID); got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
		t.Fatalf("last use within a minute rewritten: %v", got.LastUsedAt)
	}
	if err := s.TouchOperator(ctx(), olga.ID, at.Add(61*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.OperatorByID(ctx(), olga.ID); got.LastUsedAt == nil || !got.LastUsedAt.Equal(at.Add(61*time.Second)) {
		t.Fatalf("last use after a minute: %v", got.LastUsedAt)
	}

	cl := &APIClient{EMKey: "em", UserName: "ops", PasswordHash: "h", AESKey: make([]byte, 32), Certificate: []byte{0x30}}
	if err := s.CreateAPIClient(ctx(), cl); err != nil {
		t.Fatal(err)
	}
	exp := at.Add(24 * time.Hour)
	key := make([]byte, 32)
	key[0] = 1
	if err := s.RotateAPIClient(ctx(), cl.ID, APIClientSecrets{PasswordHash: "h2", AESKey: key, ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateAPIClient(ctx(), cl.ID, APIClientSecrets{}); err == nil {
		t.Fatal("rotation without a secret")
	}
	if err := s.TouchAPIClient(ctx(), cl.ID, at, time.Minute); err != nil {
		t.Fatal(err)
	}
	got2, err := s.APIClientByUser(ctx(), "ops")
	if err != nil || got2.PasswordHash != "h2" || got2.AESKey[0] != 1 || got2.ExpiresAt == nil || !got2.ExpiresAt.Equal(exp) || got2.LastUsedAt == nil {
		t.Fatalf("rotated: %+v %v", got2, err)
	}
	if err := s.RemoveAPIClient(ctx(), cl.ID, at); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAPIClientDisabled(ctx(), cl.ID, false); !errors.As(err, &c) {
		t.Fatalf("enable a removed client: %v", err)
	}
	if cs, err := s.ListAPIClients(ctx()); err != nil || len(cs) != 1 || cs[0].RemovedAt == nil {
		t.Fatalf("list: %+v %v", cs, err)
	}
}
