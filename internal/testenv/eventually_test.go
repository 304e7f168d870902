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

// eventuallyOn runs Eventually on a recorder and returns its failure message ("" if none).
func eventuallyOn(t *testing.T, timeout time.Duration, cond func() bool) string {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Eventually(r, timeout, "the condition", cond)
	}()
	<-done
	return r.msg
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
