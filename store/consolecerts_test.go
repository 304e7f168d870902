package store

import (
	"fmt"
	"testing"
	"time"

	"eacgate/internal/pgtest"
)

// testConsoleLists: the console's filtered pages of holders, certificates, a holder's
// messages and proposals (a DV with 300 terminals, each with a certificate under the DV's).
func testConsoleLists(t *testing.T, s *Store) {
	dv := &Holder{Country: "UT", Mnemonic: "DVA", Role: RoleDVDomestic}
	other := &Holder{Country: "UT", Mnemonic: "DVB", Role: RoleDVDomestic}
	for _, h := range []*Holder{dv, other} {
		if err := s.CreateHolder(ctx(), h); err != nil {
			t.Fatal(err)
		}
	}
	base := day(2026, 1, 1)
	dvCert := &Certificate{HolderID: &dv.ID, CHR: "UTDVA00001", CAR: "UTCVCA00001", Role: RoleDVDomestic, NotBefore: base, NotAfter: base.AddDate(1, 0, 0), Raw: []byte{1}}
	if err := s.AddCertificate(ctx(), dvCert); err != nil {
		t.Fatal(err)
	}
	var terms []*Holder
	var certs []*Certificate
	for i := range 300 {
		h := &Holder{Country: "UT", Mnemonic: fmt.Sprintf("T%03d", i), Role: RoleTerminal, Status: HolderActive}
		if i%10 == 0 {
			h.Status = HolderSuspended
		}
		terms = append(terms, h)
	}
	if err := s.DB().CreateInBatches(terms, 100).Error; err != nil {
		t.Fatal(err)
	}
	for i, h := range terms {
		car := "UTDVA00001"
		if i >= 250 {
			car = "UTDVB00001" // under the other DV
		}
		certs = append(certs, &Certificate{HolderID: &h.ID, CHR: fmt.Sprintf("UT%s00001", h.Mnemonic), CAR: car, Role: RoleTerminal,
			Status: CertValid, NotBefore: base, NotAfter: base.AddDate(0, 0, 10+i), Raw: []byte{byte(i), 2}, CreatedAt: base})
	}
	if err := s.DB().CreateInBatches(certs, 100).Error; err != nil {
		t.Fatal(err)
	}
	page := func(f HolderSearch) []string {
		t.Helper()
		hs, err := s.SearchHolders(ctx(), f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hs {
			out = append(out, h.Mnemonic)
		}
		return out
	}
	if got := page(HolderSearch{Role: RoleTerminal, Limit: 51, Offset: 50}); len(got) != 51 || got[0] != "T050" {
		t.Fatalf("terminals page 2 = %v", got)
	}
	if got := page(HolderSearch{Role: RoleTerminal, Status: HolderSuspended}); len(got) != 30 || got[1] != "T010" {
		t.Fatalf("suspended = %v", got)
	}
	if got := page(HolderSearch{NamePrefix: "T29"}); len(got) != 10 || got[0] != "T290" {
		t.Fatalf("prefix T29 = %v", got)
	}
	if got := page(HolderSearch{NamePrefix: "t29"}); len(got) != 0 {
		t.Fatalf("prefix is case-sensitive: %v", got)
	}
	if got := page(HolderSearch{NamePrefix: "T_9"}); len(got) != 0 {
		t.Fatalf("_ is not a wildcard: %v", got)
	}
	if got := page(HolderSearch{DV: dv.ID, Limit: 1000}); len(got) != 250 || got[249] != "T249" {
		t.Fatalf("terminals of the DV = %d %v", len(got), got)
	}
	if got := page(HolderSearch{DV: other.ID}); len(got) != 0 {
		t.Fatalf("DVB has no certificate: %v", got)
	}
	if got := page(HolderSearch{Country: "ZZ"}); len(got) != 0 {
		t.Fatalf("country ZZ = %v", got)
	}

	cpage := func(f CertificateSearch) []Certificate {
		t.Helper()
		cs, err := s.SearchCertificates(ctx(), f)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	if got := cpage(CertificateSearch{Role: RoleTerminal, Limit: 20}); len(got) != 20 || got[0].CHR != "UTT29900001" || got[0].Raw != nil {
		t.Fatalf("newest terminal certificates = %+v", got[0])
	}
	if got := cpage(CertificateSearch{CARPrefix: "UTDVB", Limit: 100}); len(got) != 50 {
		t.Fatalf("CAR prefix = %d", len(got))
	}
	if got := cpage(CertificateSearch{CHRPrefix: "UTT1", Limit: 1000}); len(got) != 100 {
		t.Fatalf("CHR prefix = %d", len(got))
	}
	if got := cpage(CertificateSearch{Country: "UT", Limit: 1000}); len(got) != 301 {
		t.Fatalf("country = %d", len(got))
	}
	// Expiring within 5 days of day 20 of the terminals' validity: not_after day 20..24.
	now := base.AddDate(0, 0, 20).Add(13 * time.Hour)
	got := cpage(CertificateSearch{ExpiringBefore: base.AddDate(0, 0, 25), Now: now})
	if len(got) != 5 || got[0].CHR != "UTT01000001" {
		t.Fatalf("expiring = %d %+v", len(got), got)
	}
	if got := cpage(CertificateSearch{HolderID: dv.ID}); len(got) != 1 || got[0].ID != dvCert.ID {
		t.Fatalf("holder's certificates = %+v", got)
	}

	// Messages of a holder, newest first, a page at a time.
	for i := range 30 {
		m := &Message{Originator: "UTDVA", MessageID: fmt.Sprintf("m%d", i), Operation: "RequestCertificate", HolderID: &dv.ID, ReturnCode: "ok_cert_available"}
		if err := s.AcceptAnswered(ctx(), m); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := s.MessagesOfHolder(ctx(), dv.ID, 21, 20)
	if err != nil || len(ms) != 10 || ms[0].MessageID != "m9" || ms[0].State != MessageAnswered || ms[0].ReturnCode != "ok_cert_available" {
		t.Fatalf("messages page 2 = %+v, %v", ms, err)
	}
	if ms, err := s.MessagesOfHolder(ctx(), other.ID, 20, 0); err != nil || len(ms) != 0 {
		t.Fatalf("other holder's messages = %+v, %v", ms, err)
	}

	// Proposals by state.
	for i := range 3 {
		p := &Proposal{Task: "holder.register", Params: "{}", Description: fmt.Sprintf("Register %d.", i), SHA256: sha64(fmt.Sprint(i)),
			ProposerName: "olga", ProposerPerson: "Olga", ProposerRole: RoleRAOperator, Quorum: 2, ExpiresAt: base.Add(time.Hour)}
		if err := s.CreateProposal(ctx(), p); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := s.CloseProposal(ctx(), p.ID, ProposalOpen, ProposalRejected, base, "paul", "no"); err != nil {
				t.Fatal(err)
			}
		} else if err := s.AddApproval(ctx(), &ProposalApproval{ProposalID: p.ID, OperatorName: "paul", Person: "Paul", Role: RoleRAOperator}); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := s.ProposalsPage(ctx(), ProposalOpen, 1, 0)
	if err != nil || len(ps) != 1 || ps[0].Description != "Register 2." || len(ps[0].Approvals) != 1 {
		t.Fatalf("open proposals = %+v, %v", ps, err)
	}
	if ps, err := s.ProposalsPage(ctx(), "", 10, 0); err != nil || len(ps) != 3 {
		t.Fatalf("all proposals = %d, %v", len(ps), err)
	}
}

func TestConsoleListsSQLite(t *testing.T) { testConsoleLists(t, open(t, sqliteDSNFor(t))) }

func TestConsoleListsPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	testConsoleLists(t, open(t, pgtest.DSN(t)))
}

// seedConsole stores 20,000 terminals with 100,000 certificates, 100 of the terminals under
// a second DV, and three DVs (the third without terminals).
func seedConsole(b *testing.B, s *Store) (dvs []int64) {
	base := day(2026, 1, 1)
	var hs []*Holder
	for i := range 20000 {
		hs = append(hs, &Holder{Country: "UT", Mnemonic: fmt.Sprintf("T%05d", i), Role: RoleTerminal, Status: HolderActive})
	}
	for _, m := range []string{"DVA", "DVB", "DVC"} {
		hs = append(hs, &Holder{Country: "UT", Mnemonic: m, Role: RoleDVDomestic, Status: HolderActive})
	}
	if err := s.DB().CreateInBatches(hs, 500).Error; err != nil {
		b.Fatal(err)
	}
	var cs []*Certificate
	for i := range 100000 {
		h, car, st := hs[i%20000], "UTDVA00001", CertValid
		if i%20000 >= 19900 {
			car = "UTDVB00001"
		}
		if i%50 == 0 {
			st = CertRevoked
		}
		cs = append(cs, &Certificate{HolderID: &h.ID, CHR: fmt.Sprintf("UT%s%05d", h.Mnemonic, i/20000), CAR: car, Role: RoleTerminal, Status: st,
			NotBefore: base, NotAfter: base.AddDate(0, 0, i%1000), Raw: []byte(fmt.Sprint(i)), CreatedAt: base})
	}
	for _, h := range hs[20000:] {
		dvs = append(dvs, h.ID)
		cs = append(cs, &Certificate{HolderID: &h.ID, CHR: "UT" + h.Mnemonic + "00001", CAR: "UTCVCA00001", Role: RoleDVDomestic, Status: CertValid,
			NotBefore: base, NotAfter: base.AddDate(1, 0, 0), Raw: []byte(h.Mnemonic), CreatedAt: base})
	}
	if err := s.DB().CreateInBatches(cs, 500).Error; err != nil {
		b.Fatal(err)
	}
	if s.DB().Name() == "postgres" { // as autovacuum would have by now (SQLite keeps no statistics unless asked)
		if err := s.DB().Exec("ANALYZE").Error; err != nil {
			b.Fatal(err)
		}
	}
	return dvs
}

// BenchmarkConsoleSearch measures one page of the console's lists over 100,000
// certificates, for each kind of filter (every one should take well under a millisecond
// or two: an index walked in the list's order).
func BenchmarkConsoleSearch(b *testing.B) {
	benchDialects(b, func(b *testing.B, s *Store) {
		dvs := seedConsole(b, s)
		now := day(2026, 1, 1).AddDate(0, 0, 500)
		certs := map[string]CertificateSearch{
			"all": {}, "role": {Role: RoleTerminal}, "status": {Status: CertRevoked}, "country": {Country: "UT"},
			"chr": {CHRPrefix: "UTT1"}, "car": {CARPrefix: "UTDVB"}, "expiring": {ExpiringBefore: now.AddDate(0, 0, 7), Now: now},
			"role+country": {Role: RoleTerminal, Country: "UT"}, "status+expiring": {Status: CertValid, ExpiringBefore: now.AddDate(0, 0, 7), Now: now},
			"rare-role+country": {Role: RoleDVDomestic, Country: "UT"}, "holder": {HolderID: dvs[0]},
		}
		for name, f := range certs {
			f.Limit = 51
			b.Run("certificates/"+name, func(b *testing.B) {
				for b.Loop() {
					if _, err := s.SearchCertificates(ctx(), f); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		holders := map[string]HolderSearch{"all": {}, "role": {Role: RoleDVDomestic}, "name": {NamePrefix: "T123"},
			"dv-many": {DV: dvs[0]}, "dv-few": {DV: dvs[1]}, "dv-none": {DV: dvs[2]}}
		for name, f := range holders {
			f.Limit = 51
			b.Run("holders/"+name, func(b *testing.B) {
				for b.Loop() {
					if _, err := s.SearchHolders(ctx(), f); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}
