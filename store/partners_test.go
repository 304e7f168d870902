package store

import (
	"errors"
	"testing"

	"eacgate/internal/pgtest"
)

func testPartners(t *testing.T, s *Store) {
	p := &Partner{Country: "FR", URL: "https://spoc.fr/spoc", SPOCRoot: []byte("pem"), SPOCRootSHA256: "ab", Rights: "dg3"}
	if err := s.CreatePartner(ctx(), p); err != nil {
		t.Fatal(err)
	}
	var c *ConflictError
	if err := s.CreatePartner(ctx(), &Partner{Country: "FR", URL: "https://x"}); !errors.As(err, &c) {
		t.Fatalf("second FR: %v", err)
	}
	got, err := s.PartnerByCountry(ctx(), "FR")
	if err != nil || got.Status != PartnerActive || got.URL != p.URL || string(got.SPOCRoot) != "pem" || got.Rights != "dg3" {
		t.Fatalf("FR = %+v, %v", got, err)
	}
	if _, err := s.PartnerByCountry(ctx(), "IT"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("IT: %v", err)
	}
	if err := s.SetPartnerStatus(ctx(), "FR", PartnerSuspended); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPartnerStatus(ctx(), "IT", PartnerSuspended); !errors.Is(err, ErrNotFound) {
		t.Fatalf("suspend IT: %v", err)
	}
	if ps, err := s.ListPartners(ctx()); err != nil || len(ps) != 1 || ps[0].Status != PartnerSuspended {
		t.Fatalf("list = %+v, %v", ps, err)
	}
	dv := &Holder{Country: "FR", Mnemonic: "DVFR1", Role: RoleDVForeign}
	if err := s.AddPartnerDV(ctx(), dv, "FRCVCA00001"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPartnerDV(ctx(), &Holder{Country: "FR", Mnemonic: "DVFR1", Role: RoleDVForeign}, ""); !errors.As(err, &c) {
		t.Fatalf("second DVFR1: %v", err)
	}
	if err := s.AddPartnerDV(ctx(), &Holder{Country: "IT", Mnemonic: "DVIT1", Role: RoleDVForeign}, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DV of an unregistered partner: %v", err)
	}
	// A DV registered on its first request (foreign_dvs: auto) is listed too.
	if err := s.CreateHolder(ctx(), &Holder{Country: "FR", Mnemonic: "DVFR2", Role: RoleDVForeign}); err != nil {
		t.Fatal(err)
	}
	dvs, err := s.PartnerDVs(ctx(), "FR")
	if err != nil || len(dvs) != 2 || dvs[0].Mnemonic != "DVFR1" || dvs[0].MaintainingCVCA != "FRCVCA00001" || dvs[1].MaintainingCVCA != "" {
		t.Fatalf("DVs = %+v, %v", dvs, err)
	}
	// In an audited transaction: the DV and its event, or neither.
	allow := refuseAudit(t, s)
	ev := AuditEvent{Actor: "cli:root", Action: "test", Outcome: "ok"}
	err = s.Audited(ctx(), "add", ev, func(tx *Store) error {
		return tx.AddPartnerDV(ctx(), &Holder{Country: "FR", Mnemonic: "DVFR3", Role: RoleDVForeign}, "")
	})
	allow()
	if err == nil {
		t.Fatal("audit refused, change committed")
	}
	if _, err := s.HolderByName(ctx(), "FR", "DVFR3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DVFR3 after a refused audit: %v", err)
	}
}

func TestPartnersSQLite(t *testing.T) { testPartners(t, open(t, sqliteDSNFor(t))) }

func TestPartnersPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	testPartners(t, open(t, pgtest.DSN(t)))
}
