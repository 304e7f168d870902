package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"eacgate/internal/pgtest"
)

func testConsoleSessions(t *testing.T, s *Store) {
	ctx := context.Background()
	o := &Operator{Name: "olga", Role: RoleRAOperator, Person: "olga", TokenHash: sha64("a")}
	if err := s.CreateOperator(ctx, o); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	a := &ConsoleSession{TokenHash: sha64("1"), OperatorID: o.ID, Remote: "192.0.2.1", CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(8 * time.Hour)}
	b := &ConsoleSession{TokenHash: sha64("2"), OperatorID: o.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(8 * time.Hour)}
	for _, c := range []*ConsoleSession{a, b} {
		if err := s.CreateConsoleSession(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateConsoleSession(ctx, &ConsoleSession{TokenHash: sha64("1"), OperatorID: o.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second session with the same token: %v", err)
	}
	if _, err := s.ConsoleSessionByToken(ctx, sha64("9")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	// Activity is written at most once per interval.
	if err := s.TouchConsoleSession(ctx, a.ID, t0.Add(10*time.Second), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := s.ConsoleSessionByToken(ctx, sha64("1"))
	if err != nil || !got.LastSeenAt.Equal(t0) || got.Remote != "192.0.2.1" {
		t.Fatalf("touched within the interval: %+v %v", got, err)
	}
	if err := s.TouchConsoleSession(ctx, a.ID, t0.Add(time.Minute), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.ConsoleSessionByToken(ctx, sha64("1")); !got.LastSeenAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("not touched after the interval: %v", got.LastSeenAt)
	}
	// Ending one session; ending every session of the operator; an ended one stays ended.
	if err := s.EndConsoleSession(ctx, a.ID, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.EndConsoleSessionsOf(ctx, o.ID, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	a2, _ := s.ConsoleSessionByToken(ctx, sha64("1"))
	b2, _ := s.ConsoleSessionByToken(ctx, sha64("2"))
	if a2.EndedAt == nil || !a2.EndedAt.Equal(t0.Add(2*time.Minute)) || b2.EndedAt == nil || !b2.EndedAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("ended: %v %v", a2.EndedAt, b2.EndedAt)
	}
	if err := s.TouchConsoleSession(ctx, a.ID, t0.Add(time.Hour), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if a3, _ := s.ConsoleSessionByToken(ctx, sha64("1")); !a3.LastSeenAt.Equal(t0.Add(time.Minute)) {
		t.Fatal("an ended session was touched")
	}
}

func TestConsoleSessionsSQLite(t *testing.T) { testConsoleSessions(t, open(t, sqliteDSNFor(t))) }

func TestConsoleSessionsPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	testConsoleSessions(t, open(t, pgtest.DSN(t)))
}
