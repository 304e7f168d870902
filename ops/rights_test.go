package ops

import (
	"context"
	"errors"
	"slices"
	"testing"

	"eacgate/store"
)

// SetHolderRights normalizes, stores and audits a holder's rights; bad values and unknown
// holders are refused and audited; a refused audit event leaves the rights unchanged.
func TestSetHolderRights(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	term := &store.Holder{Country: "DE", Mnemonic: "T1", Role: store.RoleTerminal, Status: store.HolderActive}
	if err := s.Store.CreateHolder(ctx, term); err != nil {
		t.Fatal(err)
	}
	got, err := s.SetHolderRights(ctx, cli, term.ID, []string{"DG4", "dg3", "dg4"})
	if err != nil || !slices.Equal(got, []string{"dg3", "dg4"}) {
		t.Fatalf("set: %v %v", got, err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "holder.rights", Target: "DET1", Source: "local", Outcome: "ok",
		Details: `{"before":[],"rights":["dg3","dg4"]}`})
	n := countEvents(t, s)
	var re *RightsError
	if _, err := s.SetHolderRights(ctx, rest, term.ID, []string{"dg5"}); !errors.As(err, &re) || countEvents(t, s) != n+1 {
		t.Fatalf("dg5: %v", err)
	}
	if e := lastEvent(t, s); e.Action != "admin.holder.rights" || e.Outcome == "ok" {
		t.Fatalf("dg5: event %+v", e)
	}
	if _, err := s.SetHolderRights(ctx, cli, term.ID+100, []string{"dg3"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown holder: %v", err)
	}
	// The change and its audit event commit together, or neither does.
	if err := s.Store.DB().Exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END`).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetHolderRights(ctx, cli, term.ID, []string{"dg3"}); err == nil {
		t.Fatal("changed without its audit event")
	}
	if err := s.Store.DB().Exec(`DROP TRIGGER refuse_audit`).Error; err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Store.HolderByID(ctx, term.ID); h.Rights != "dg3,dg4" {
		t.Fatalf("rights after a refused audit: %q", h.Rights)
	}
	if got, err := s.SetHolderRights(ctx, cli, term.ID, nil); err != nil || len(got) != 0 {
		t.Fatalf("cleared: %v %v", got, err)
	}
	if h, _ := s.Store.HolderByID(ctx, term.ID); h.Rights != "" {
		t.Fatalf("rights after clearing: %q", h.Rights)
	}
}
