package store

import (
	"errors"
	"testing"
	"time"
)

// A worker whose lease ran out and was taken over cannot overwrite the new holder's result:
// MarkFailed, MarkDelivered and DeferOutbox check the lease holder.
func testOutboxLeaseHolder(t *testing.T, s *Store, _ string) {
	t0 := time.Now().UTC().Truncate(time.Second)
	item := &OutboxItem{TargetURL: "https://a/cb", Payload: []byte("a"), NextAttemptAt: t0.Add(-time.Minute)}
	if err := s.EnqueueOutbox(ctx(), item); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimOutbox(ctx(), "old", t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	// The lease runs out; "new" takes the item.
	if got, err := s.ClaimOutbox(ctx(), "new", t0.Add(2*time.Minute), time.Minute); err != nil || got.ID != item.ID {
		t.Fatalf("take over: %+v %v", got, err)
	}
	if err := s.MarkFailed(ctx(), item.ID, "old", "late failure", t0.Add(time.Hour), 1); !errors.Is(err, ErrConflict) {
		t.Fatalf("MarkFailed by the old holder: %v", err)
	}
	if err := s.MarkDelivered(ctx(), item.ID, "old"); !errors.Is(err, ErrConflict) {
		t.Fatalf("MarkDelivered by the old holder: %v", err)
	}
	if err := s.DeferOutbox(ctx(), item.ID, "old", "late", t0.Add(time.Hour)); !errors.Is(err, ErrConflict) {
		t.Fatalf("DeferOutbox by the old holder: %v", err)
	}
	o, _ := s.OutboxByID(ctx(), item.ID)
	if o.State != OutboxPending || o.Attempts != 0 || o.LockedBy != "new" || o.LastError != "" {
		t.Fatalf("the new holder's item was changed: %+v", o)
	}
	// The holder defers it (not an attempt), then it fails once and is delivered.
	if err := s.DeferOutbox(ctx(), item.ID, "new", "processing failed: keystore", t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	o, _ = s.OutboxByID(ctx(), item.ID)
	if o.Attempts != 0 || o.LockedBy != "" || o.LastError != "processing failed: keystore" || !o.NextAttemptAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("deferred: %+v", o)
	}
	if _, err := s.ClaimOutbox(ctx(), "new", t0.Add(3*time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx(), item.ID, "new", "HTTP 503", t0.Add(4*time.Minute), 5); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimOutbox(ctx(), "new", t0.Add(4*time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx(), item.ID, "new"); err != nil {
		t.Fatal(err)
	}
	if o, _ = s.OutboxByID(ctx(), item.ID); o.State != OutboxDone || o.Attempts != 1 {
		t.Fatalf("delivered: %+v", o)
	}
}

// On SQLite, the first to take the outbox lock releases the leases a dead process left; a
// second taker (another process's workers) releases nothing. PostgreSQL never does.
func testTakeBackLeases(t *testing.T, s *Store, dsn string) {
	t0 := time.Now().UTC()
	for _, u := range []string{"https://a/cb", "https://b/cb"} {
		if err := s.EnqueueOutbox(ctx(), &OutboxItem{TargetURL: u, Payload: []byte("x"), NextAttemptAt: t0.Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ClaimOutbox(ctx(), "dead/0", t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	n, unlock, err := s.TakeBackOrphanedLeases(ctx())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	want := int64(1)
	if s.Dialect() == DialectPostgres {
		want = 0
	}
	if n != want {
		t.Fatalf("released %d leases, want %d", n, want)
	}
	// Another process's workers on the same file: the lock is taken, nothing is released.
	if _, err := s.ClaimOutbox(ctx(), "live/0", t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	other := open(t, dsn)
	n2, unlock2, err := other.TakeBackOrphanedLeases(ctx())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock2()
	if n2 != 0 {
		t.Fatalf("a second taker released %d leases", n2)
	}
	// Once the first one stops, the next start takes them back.
	unlock()
	if s.Dialect() == DialectSQLite {
		n3, unlock3, err := other.TakeBackOrphanedLeases(ctx())
		if err != nil {
			t.Fatal(err)
		}
		defer unlock3()
		if n3 == 0 {
			t.Fatal("nothing released after the first taker stopped")
		}
	}
}
