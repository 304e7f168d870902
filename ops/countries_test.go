package ops

import (
	"context"
	"errors"
	"slices"
	"testing"

	"eacgate/store"
)

// The RA operator keeps the foreign countries each domestic DV may ask: the list and its
// audit event commit together; bad codes, the own country and other roles are refused and
// audited.
func TestSetHolderForeignCountries(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	dv := &store.Holder{Country: "DE", Mnemonic: "DVA", Role: store.RoleDVDomestic, Status: store.HolderActive}
	term := &store.Holder{Country: "DE", Mnemonic: "T1", Role: store.RoleTerminal, Status: store.HolderActive}
	for _, h := range []*store.Holder{dv, term} {
		if err := s.Store.CreateHolder(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SetHolderForeignCountries(ctx, cli, dv.ID, []string{"ZZ", "FR", "ZZ"})
	if err != nil || !slices.Equal(got, []string{"FR", "ZZ"}) {
		t.Fatalf("set: %v %v", got, err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "holder.countries", Target: "DEDVA", Source: "local", Outcome: "ok",
		Details: `{"before":[],"countries":["FR","ZZ"]}`})
	if got, _ := s.HolderForeignCountries(ctx, dv.ID); !slices.Equal(got, []string{"FR", "ZZ"}) {
		t.Fatalf("stored %v", got)
	}
	for _, bad := range [][]string{{"zz"}, {"Z"}, {"DE"}, {"Z1"}} {
		n := countEvents(t, s)
		var ce *CountriesError
		if _, err := s.SetHolderForeignCountries(ctx, rest, dv.ID, bad); !errors.As(err, &ce) || countEvents(t, s) != n+1 {
			t.Fatalf("%v: %v", bad, err)
		}
		if e := lastEvent(t, s); e.Action != "admin.holder.countries" || e.Outcome == "ok" {
			t.Fatalf("%v: event %+v", bad, e)
		}
	}
	if _, err := s.SetHolderForeignCountries(ctx, cli, term.ID, []string{"ZZ"}); err == nil {
		t.Fatal("a terminal got a list")
	}
	if _, err := s.SetHolderForeignCountries(ctx, cli, dv.ID+100, []string{"ZZ"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown holder: %v", err)
	}
	if got, _ := s.SetHolderForeignCountries(ctx, cli, dv.ID, nil); len(got) != 0 {
		t.Fatalf("cleared: %v", got)
	}
	if got, _ := s.HolderForeignCountries(ctx, dv.ID); len(got) != 0 {
		t.Fatalf("after clearing: %v", got)
	}
}
