package store

import (
	"errors"
	"testing"

	"eacgate/internal/pgtest"
)

// testHolderRights: a holder's rights are normalized, kept, read on the hot path, and
// RightsBits turns them into CHAT bits (none: nil, the issuer's policy).
func testHolderRights(t *testing.T, s *Store) {
	h := &Holder{Country: "UT", Mnemonic: "TERM1", Role: RoleTerminal, TLSFingerprint: "ab12"}
	if err := s.CreateHolder(ctx(), h); err != nil {
		t.Fatal(err)
	}
	if got, err := s.HolderByID(ctx(), h.ID); err != nil || got.Rights != "" || RightsBits(got.Rights) != nil {
		t.Fatalf("new holder = %+v, %v", got, err)
	}
	if err := s.SetHolderRights(ctx(), h.ID, " DG4,dg3,dg4"); err != nil {
		t.Fatal(err)
	}
	rh, err := s.RequestHolderByFingerprint(ctx(), "AB12")
	if err != nil || rh.Holder.Rights != "dg3,dg4" {
		t.Fatalf("hot path = %+v, %v", rh, err)
	}
	if err := s.SetHolderRights(ctx(), h.ID, "dg5"); err == nil {
		t.Fatal("dg5 accepted")
	}
	if err := s.SetHolderRights(ctx(), h.ID+100, "dg3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown holder: %v", err)
	}
	if err := s.SetHolderRights(ctx(), h.ID, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := s.HolderByID(ctx(), h.ID); err != nil || got.Rights != "" {
		t.Fatalf("cleared = %+v, %v", got, err)
	}
}

func TestHolderRightsSQLite(t *testing.T) { testHolderRights(t, open(t, sqliteDSNFor(t))) }

func TestHolderRightsPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	testHolderRights(t, open(t, pgtest.DSN(t)))
}

func TestRightsBits(t *testing.T) {
	if b := RightsBits("dg3"); len(b) != 1 || b[0] == 0 || RightsBits("dg3,dg4")[0] == b[0] {
		t.Fatalf("bits = %x", b)
	}
}

// A partner country's DV gets the rights both its own setting and the partner's registration
// grant; other holders their own.
func TestGrantedRights(t *testing.T) {
	s := open(t, sqliteDSNFor(t))
	dg3, dg4, both := RightsBits("dg3"), RightsBits("dg4"), RightsBits("dg3,dg4")
	dv := &Holder{Country: "ZZ", Mnemonic: "DVA", Role: RoleDVForeign}
	term := &Holder{Country: "UT", Mnemonic: "T1", Role: RoleTerminal, Rights: "dg4"}
	want := func(h *Holder, w []byte) {
		t.Helper()
		got, err := s.GrantedRights(ctx(), h)
		if err != nil || string(got) != string(w) {
			t.Fatalf("%s%s: rights %x, want %x (%v)", h.Country, h.Mnemonic, got, w, err)
		}
	}
	want(dv, nil) // neither limits: the policy's
	want(term, dg4)
	if err := s.CreatePartner(ctx(), &Partner{Country: "ZZ", URL: "https://zz.example/spoc", Rights: "dg3"}); err != nil {
		t.Fatal(err)
	}
	want(dv, dg3)
	dv.Rights = "dg3,dg4"
	want(dv, dg3)
	dv.Rights = "dg4"
	want(dv, []byte{0}) // the two settings grant nothing in common
	if got := IntersectRights(both, nil); string(got) != string(both) {
		t.Fatalf("no limit on one side: %x", got)
	}
}
