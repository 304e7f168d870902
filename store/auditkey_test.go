package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func testAuditKey(t testing.TB) *AuditKey {
	t.Helper()
	k, err := NewAuditKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testAuditKeyed: with an audit key, every appended event carries the MAC of its hash;
// events from before the key are accepted only as a prefix; a row rewritten with its chain
// recomputed without the key, or appended without it after keyed events, is refused.
func testAuditKeyed(t *testing.T, s *Store, dsn string) {
	for i := range 2 { // legacy: before the key
		if _, err := s.AppendAudit(ctx(), AuditEvent{Actor: "gw", Action: "legacy", Target: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	k := testAuditKey(t)
	s.UseAuditKey(k)
	for i := range 4 {
		e, err := s.AppendAudit(ctx(), AuditEvent{Actor: "gw", Action: "keyed", Target: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		if e.MAC == "" || e.MAC != k.MAC(e.Hash) {
			t.Fatalf("appended event's MAC = %q", e.MAC)
		}
	}
	v, err := s.VerifyAuditFrom(ctx(), AuditEvent{Hash: GenesisHash}, nil)
	if err != nil || v.Events != 6 || v.Unkeyed != 2 || v.Last.Seq != 6 {
		t.Fatalf("VerifyAuditFrom = %+v, %v", v, err)
	}
	if last, ok, err := s.LastKeyedAuditEvent(ctx()); err != nil || !ok || last.Seq != 6 {
		t.Fatalf("LastKeyedAuditEvent = %d, %v, %v", last.Seq, ok, err)
	}

	// An attacker without the key rewrites seq 4 and recomputes the chain from there.
	tamperAudit(t, s, "UPDATE audit_events SET outcome = 'forged' WHERE seq = 4")
	rechain(t, s, 4)
	n, err := s.VerifyAudit(ctx())
	if !errors.Is(err, ErrAuditBroken) || n != 3 || !strings.Contains(err.Error(), "seq 4: MAC mismatch") {
		t.Fatalf("VerifyAudit after rewrite = %d, %v", n, err)
	}
	// Without the key the rewritten chain passes: the MAC is what catches it.
	bare := open(t, dsn)
	if n, err := bare.VerifyAudit(ctx()); err != nil || n != 6 {
		t.Fatalf("unkeyed VerifyAudit = %d, %v", n, err)
	}
	// Dropping the MACs of the rewritten rows makes them look unkeyed: refused after keyed ones.
	tamperAudit(t, s, "UPDATE audit_events SET mac = '' WHERE seq >= 4")
	if _, err := s.VerifyAudit(ctx()); !errors.Is(err, ErrAuditBroken) || !strings.Contains(err.Error(), "seq 4: no MAC after keyed events") {
		t.Fatalf("VerifyAudit after unkeying = %v", err)
	}
}

// rechain recomputes hash and prev_hash from seq on with ComputeHash (no key), the way an
// attacker who can write the database would hide a change.
func rechain(t *testing.T, s *Store, from int64) {
	t.Helper()
	var evs []AuditEvent
	if err := s.DB().Order("seq").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if evs[i].Seq < from {
			continue
		}
		if i > 0 {
			evs[i].PrevHash = evs[i-1].Hash
		}
		evs[i].Hash = evs[i].ComputeHash()
		tamperAudit(t, s, fmt.Sprintf("UPDATE audit_events SET prev_hash = '%s', hash = '%s' WHERE seq = %d", evs[i].PrevHash, evs[i].Hash, evs[i].Seq))
	}
}

func TestAuditMACNeedsKeyLength(t *testing.T) {
	if _, err := NewAuditKey(make([]byte, 16)); err == nil {
		t.Fatal("NewAuditKey accepted a 16-byte key")
	}
}

// BenchmarkAuditMAC is the per-event cost of the keyed chain (one HMAC, the key pre-derived).
func BenchmarkAuditMAC(b *testing.B) {
	k := testAuditKey(b)
	e := AuditEvent{Actor: "gw", Action: "certificate.issue", Target: "DEDV0100001"}
	e.Hash = e.ComputeHash()
	for b.Loop() {
		_ = k.MAC(e.Hash)
	}
}

// BenchmarkAppendAuditKeyed is BenchmarkAppendAudit with the audit key in use.
func BenchmarkAppendAuditKeyed(b *testing.B) {
	benchDialects(b, func(b *testing.B, s *Store) {
		s.UseAuditKey(testAuditKey(b))
		for b.Loop() {
			if _, err := s.AppendAudit(ctx(), AuditEvent{Actor: "gw", Action: "message.accept", Target: "DEDV01", Source: "192.0.2.1", Outcome: "ok_syntax", Details: `{"op":"RequestCertificate"}`}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
