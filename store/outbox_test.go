package store

import (
	"errors"
	"slices"
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

// On SQLite, the workers that take the outbox lock release the leases of the instance that
// held it before (it died: the lock is gone with it) and no other's: leases of another
// process's workers on the same file stay. PostgreSQL never releases any.
func testTakeBackLeases(t *testing.T, s *Store, dsn string) {
	t0 := time.Now().UTC()
	for _, u := range []string{"https://a/cb", "https://b/cb", "https://c/cb"} {
		if err := s.EnqueueOutbox(ctx(), &OutboxItem{TargetURL: u, Payload: []byte("x"), NextAttemptAt: t0.Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	sqlite := s.Dialect() == DialectSQLite
	// The first process: takes the lock, leases an item, dies (its lock goes with it).
	n, unlock, err := s.TakeBackOrphanedLeases(ctx(), "dead")
	if err != nil || n != 0 {
		t.Fatalf("first start: released %d, %v", n, err)
	}
	if _, err := s.ClaimOutbox(ctx(), "dead/0", t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	unlock()
	// Another process's workers lease an item without the lock (it is free now, but they
	// do not ask for it: they stand for a process that started while "dead" lived).
	other := open(t, dsn)
	if _, err := other.ClaimOutbox(ctx(), "live/0", t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	// The restart takes the lock: the dead instance's lease is released, the live one's not.
	n, unlock, err = s.TakeBackOrphanedLeases(ctx(), "restarted")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if want := map[bool]int64{true: 1, false: 0}[sqlite]; n != want {
		t.Fatalf("released %d leases, want %d", n, want)
	}
	items, err := s.ListOutbox(ctx(), OutboxPending)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range items {
		if o.LockedBy == "dead/0" && sqlite {
			t.Errorf("the dead instance's lease was kept")
		}
	}
	if !slices.ContainsFunc(items, func(o OutboxItem) bool { return o.LockedBy == "live/0" }) {
		t.Fatalf("the live process's lease was released: %+v", items)
	}
	// While the restarted one holds the lock, a third taker gets nothing.
	if n, unlock3, err := other.TakeBackOrphanedLeases(ctx(), "third"); err != nil || n != 0 {
		t.Fatalf("a second taker released %d leases, %v", n, err)
	} else {
		unlock3()
	}
}
