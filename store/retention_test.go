package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Prune deletes finished messages, finished outbox items and nonces older than the
// retention, keeps what is unfinished or still referred to, and audits what it deleted.
func testPrune(t *testing.T, s *Store, _ string) {
	answered := &Message{Originator: "UTPRUNE", MessageID: "old-answered", Operation: "RequestCertificate"}
	delivered := &Message{Originator: "UTPRUNE", MessageID: "old-delivered", Operation: "RequestCertificate"}
	waiting := &Message{Originator: "UTPRUNE", MessageID: "still-waiting", Operation: "RequestCertificate"}
	for _, m := range []*Message{answered, delivered, waiting} {
		if err := s.AcceptMessage(ctx(), m, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []*Message{answered, delivered} {
		if err := s.AnswerMessage(ctx(), m.ID, "ok_cert_available", nil); err != nil {
			t.Fatal(err)
		}
	}
	done := &OutboxItem{MessageRowID: &delivered.ID, TargetURL: "https://dv.example/cb", Payload: []byte("p"), NextAttemptAt: time.Now()}
	if err := s.EnqueueOutbox(ctx(), done); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimOutbox(ctx(), "w-prune", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx(), done.ID, "w-prune"); err != nil {
		t.Fatal(err)
	}
	if err := s.UseRequestNonce(ctx(), "em-prune", []byte("nonce-1")); err != nil {
		t.Fatal(err)
	}

	// A retention that keeps everything deletes nothing and writes no event.
	p, err := s.Prune(ctx(), Retention{}, 0)
	if err != nil || p != (Pruned{}) {
		t.Fatalf("zero retention: %+v, %v", p, err)
	}
	p, err = s.Prune(ctx(), Retention{MessagesBefore: time.Now().Add(time.Hour), NoncesBefore: time.Now().Add(time.Hour)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Messages != 2 || p.Outbox != 1 || p.Nonces != 1 {
		t.Fatalf("pruned %+v, want 2 messages, 1 outbox item, 1 nonce", p)
	}
	for _, m := range []*Message{answered, delivered} {
		if _, err := s.MessageByID(ctx(), m.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("message %s kept: %v", m.MessageID, err)
		}
	}
	if _, err := s.MessageByID(ctx(), waiting.ID); err != nil {
		t.Errorf("unfinished message deleted: %v", err)
	}
	events, err := s.ListAudit(ctx(), 10)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events {
		found = found || (e.Action == "retention.prune" && strings.Contains(e.Details, `"messages":2`))
	}
	if !found {
		t.Fatalf("no audit event for the deletion in %+v", events)
	}
	if _, err := s.VerifyAudit(ctx()); err != nil {
		t.Fatal(err)
	}
}
