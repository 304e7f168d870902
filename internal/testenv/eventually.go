package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds and fails the test ("timed out after ... waiting for
// what") when it has not within timeout. It is for a test waiting on what another goroutine
// or process does without telling (a log line, a row, a file); the timeout bounds the wait
// and plays no part in what is asserted. Call it from the test's goroutine.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pause) // the polling interval, doubled up to 50ms
		pause = min(2*pause, 50*time.Millisecond)
	}
}
