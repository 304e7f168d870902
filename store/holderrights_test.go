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
