package store

import (
	"fmt"
	"sync/atomic"
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

// BenchmarkAcceptMessage measures the asynchronous path's write: a request with its outbox
// item, 16 in flight (SetParallelism 8 on 2 cores), as under load.
func BenchmarkAcceptMessage(b *testing.B) {
	benchDialects(b, func(b *testing.B, s *Store) {
		req := make([]byte, 2048)
		var seq atomic.Int64
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m := &Message{Originator: "DEDV01", MessageID: fmt.Sprint("msg-", seq.Add(1)), Operation: "RequestCertificate", Request: req}
				if err := s.AcceptMessage(ctx(), m, &OutboxItem{TargetURL: "https://dv.example/cb", Payload: req}); err != nil {
					b.Fatal(err)
				}
			}
		})
		if groups, requests := s.GroupCommitStats(); groups > 0 {
			b.ReportMetric(float64(requests)/float64(groups), "requests/commit")
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
			if err := s.MarkDelivered(ctx(), it.ID, "bench"); err != nil {
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

// BenchmarkAcceptAnswered measures the write of a synchronous request (message, answer and
// certificate) with 8 requests in flight, as the gateway's handlers issue them: on SQLite
// they share group commits.
func BenchmarkAcceptAnswered(b *testing.B) {
	benchDialects(b, func(b *testing.B, s *Store) {
		h := &Holder{Country: "DE", Mnemonic: "IS01", Role: RoleTerminal}
		if err := s.CreateHolder(ctx(), h); err != nil {
			b.Fatal(err)
		}
		var seq atomic.Int64
		raw := make([]byte, 250)
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			hid := h.ID
			for pb.Next() {
				i := seq.Add(1)
				m := &Message{Originator: "holder:1", MessageID: fmt.Sprint("m-", i), HolderID: &hid, Operation: "RequestCertificate",
					Request: raw, ReturnCode: "ok_cert_available", Result: raw}
				c := &Certificate{HolderID: &hid, CHR: fmt.Sprintf("DEIS01%05d", i%100000), CAR: "DEDV0100001", Role: RoleTerminal,
					NotBefore: time.Now(), NotAfter: time.Now().Add(24 * time.Hour), Raw: raw}
				if err := s.AcceptAnswered(ctx(), m, c); err != nil {
					b.Fatal(err)
				}
			}
		})
		if groups, requests := s.GroupCommitStats(); groups > 0 {
			b.ReportMetric(float64(requests)/float64(groups), "requests/commit")
		}
	})
}

// BenchmarkRequestHolder measures the per-request read of the holder with its newest and
// current certificates (100 certificates on record).
func BenchmarkRequestHolder(b *testing.B) {
	benchDialects(b, func(b *testing.B, s *Store) {
		h := &Holder{Country: "DE", Mnemonic: "IS01", Role: RoleTerminal, TLSFingerprint: "ab"}
		if err := s.CreateHolder(ctx(), h); err != nil {
			b.Fatal(err)
		}
		for i := range 100 {
			hid := h.ID
			if err := s.AddCertificate(ctx(), &Certificate{HolderID: &hid, CHR: fmt.Sprintf("DEIS01%05d", i), CAR: "DEDV0100001",
				Role: RoleTerminal, NotBefore: time.Now(), NotAfter: time.Now().Add(24 * time.Hour), Raw: []byte{1}}); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			if rh, err := s.RequestHolderByFingerprint(ctx(), "ab"); err != nil || rh.Current == nil {
				b.Fatal(rh, err)
			}
		}
	})
}
