package store

import (
	"fmt"
	"testing"
	"time"

	"eacgate/internal/pgtest"
)

// benchDialects runs fn against a fresh SQLite file and, when a server is available, a fresh
// PostgreSQL database.
func benchDialects(b *testing.B, fn func(b *testing.B, s *Store)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, open(b, sqliteDSNFor(b))) })
	b.Run("postgres", func(b *testing.B) { fn(b, open(b, pgtest.DSN(b))) })
}

func BenchmarkAcceptMessage(b *testing.B) {
	benchDialects(b, func(b *testing.B, s *Store) {
		req := make([]byte, 2048)
		i := 0
		for b.Loop() {
			i++
			m := &Message{Originator: "DEDV01", MessageID: fmt.Sprint("msg-", i), Operation: "RequestCertificate", Request: req}
			if err := s.AcceptMessage(ctx(), m, &OutboxItem{TargetURL: "https://dv.example/cb", Payload: req}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkClaimOutbox measures one worker cycle: claim the oldest due item, mark it
// delivered (leased items left pending would make the benchmark measure their skipping).
func BenchmarkClaimOutbox(b *testing.B) {
	benchDialects(b, func(b *testing.B, s *Store) {
		past := time.Now().Add(-time.Hour)
		// Refill in batches outside the timer so each claim finds a due item.
		fill := func() {
			b.StopTimer()
			for range 500 {
				if err := s.EnqueueOutbox(ctx(), &OutboxItem{TargetURL: "https://dv.example/cb", Payload: []byte("x"), NextAttemptAt: past}); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		n := 0
		for b.Loop() {
			if n%500 == 0 {
				fill()
			}
			n++
			it, err := s.ClaimOutbox(ctx(), "bench", time.Now(), time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.MarkDelivered(ctx(), it.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendAudit(b *testing.B) {
	benchDialects(b, func(b *testing.B, s *Store) {
		for b.Loop() {
			if _, err := s.AppendAudit(ctx(), AuditEvent{Actor: "gw", Action: "message.accept", Target: "DEDV01", Source: "192.0.2.1", Outcome: "ok_syntax", Details: `{"op":"RequestCertificate"}`}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
