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
	if !poll(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// EventuallyReport is Eventually with a failure that shows the state: report describes it
// (a count, a listing), and runs only when the wait has timed out, so it may be costly.
func EventuallyReport(t testing.TB, timeout time.Duration, cond func() bool, report func() string) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("timed out after %v: %s", timeout, report())
	}
}

// poll calls cond until it holds (true) or timeout has passed (false). The pause between
// calls doubles from 1ms to 50ms, and is at least as long as the last call took: a costly
// condition (a process run) keeps at most half of a core busy.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		start := time.Now()
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(max(pause, time.Since(start))) // the polling interval
		pause = min(2*pause, 50*time.Millisecond)
	}
}
