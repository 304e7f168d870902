package dvclient

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// The DV client's lease is extended while its holder works: another instance cannot take it
// during a renewal that lasts two lease times, and takes it once it is released. The
// bubble's clock makes the lease times pass without waiting.
func TestDVLeaseExtendedWhileWorking(t *testing.T) { synctest.Test(t, testDVLeaseExtendedWhileWorking) }

func testDVLeaseExtendedWhileWorking(t *testing.T) {
	f := newFixture(t)
	a, b := f.c, f.client("b")
	a.LeaseTTL, b.LeaseTTL = 1500*time.Millisecond, 1500*time.Millisecond
	ctx := context.Background()
	inside := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := a.withLease(ctx, func() error {
			close(inside)
			time.Sleep(3 * time.Second)
			return nil
		})
		done <- err
	}()
	<-inside
	for range 5 {
		time.Sleep(500 * time.Millisecond)
		if ran, err := b.withLease(ctx, func() error { return nil }); err != nil || ran {
			t.Fatalf("the other instance took the lease while it was held (ran %v, %v)", ran, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ran, err := b.withLease(ctx, func() error { return nil }); err != nil || !ran {
		t.Fatalf("lease not free after release (ran %v, %v)", ran, err)
	}
}
