package testenv

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends the goroutine.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// recordFatal runs wait on a recorder and returns its failure message ("" if none).
func recordFatal(t *testing.T, wait func(t testing.TB)) string {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait(r)
	}()
	<-done
	return r.msg
}

// eventuallyOn runs Eventually on a recorder and returns its failure message ("" if none).
func eventuallyOn(t *testing.T, timeout time.Duration, cond func() bool) string {
	return recordFatal(t, func(r testing.TB) { Eventually(r, timeout, "the condition", cond) })
}

func TestEventually(t *testing.T) {
	var calls atomic.Int32
	if msg := eventuallyOn(t, time.Minute, func() bool { return calls.Add(1) == 3 }); msg != "" || calls.Load() != 3 {
		t.Fatalf("a condition holding on the third poll: %q after %d polls", msg, calls.Load())
	}
	msg := eventuallyOn(t, time.Millisecond, func() bool { return false })
	if want := "timed out after 1ms waiting for the condition"; msg != want {
		t.Fatalf("a condition never holding: %q, want %q", msg, want)
	}
}

func TestEventuallyReport(t *testing.T) {
	var calls, reports atomic.Int32
	report := func() string { reports.Add(1); return fmt.Sprintf("%d polls", calls.Load()) }
	cond := func() bool { return calls.Add(1) == 3 }
	if msg := recordFatal(t, func(r testing.TB) { EventuallyReport(r, time.Minute, cond, report) }); msg != "" || reports.Load() != 0 {
		t.Fatalf("a condition holding on the third poll: %q, %d reports", msg, reports.Load())
	}
	calls.Store(0)
	msg := recordFatal(t, func(r testing.TB) {
		EventuallyReport(r, time.Millisecond, func() bool { calls.Add(1); return false }, report)
	})
	if want := fmt.Sprintf("timed out after 1ms: %d polls", calls.Load()); msg != want || reports.Load() != 1 {
		t.Fatalf("a condition never holding: %q (%d reports), want %q once", msg, reports.Load(), want)
	}
}
