package store

import (
	"fmt"
	"testing"
	"time"

	"eacgate/internal/pgtest"
)

// dashFixture adds holders, certificates and messages for the console's aggregations.
type dashFixture struct {
	t   *testing.T
	s   *Store
	now time.Time
	n   int
}

func (f *dashFixture) holder(country, mnemonic string, role Role) *Holder {
	f.t.Helper()
	h := &Holder{Country: country, Mnemonic: mnemonic, Role: role}
	if err := f.s.CreateHolder(ctx(), h); err != nil {
		f.t.Fatal(err)
	}
	return h
}

// cert adds a certificate of holder h (nil: none) expiring days after now's date.
func (f *dashFixture) cert(h *Holder, role Role, car, chr string, days int, status CertStatus) *Certificate {
	f.t.Helper()
	f.n++
	c := &Certificate{CHR: chr, CAR: car, Role: role, Status: status, Raw: []byte{1},
		KeySHA256: fmt.Sprintf("%064x", f.n), NotBefore: midnight(f.now).AddDate(0, 0, -30), NotAfter: midnight(f.now).AddDate(0, 0, days)}
	if h != nil {
		c.HolderID = &h.ID
	}
	if err := f.s.AddCertificate(ctx(), c); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// message stores a message created at at.
func (f *dashFixture) message(m Message, at time.Time) {
	f.t.Helper()
	f.n++
	if m.Originator == "" {
		m.Originator = "self"
	}
	if m.Operation == "" {
		m.Operation = "RequestCertificate"
	}
	if m.Direction == "" {
		m.Direction = Incoming
	}
	m.MessageID = fmt.Sprintf("m%d", f.n)
	m.State = MessageAnswered
	m.CreatedAt, m.UpdatedAt = at.UTC(), at.UTC()
	if err := f.s.db.Create(&m).Error; err != nil {
		f.t.Fatal(err)
	}
}

func testConsoleDashboard(t *testing.T, s *Store) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	f := &dashFixture{t: t, s: s, now: now}
	cvca := f.cert(nil, RoleCVCA, "UTCVCA00001", "UTCVCA00001", 800, CertValid)
	f.cert(nil, RoleCVCA, "UTCVCA00001", "UTCVCA00002", 1000, CertValid) // link
	f.cert(nil, RoleCVCA, "UTCVCA00002", "UTCVCA00002", 1000, CertValid) // self-signed twin
	f.cert(nil, RoleCVCA, "FRCVCA00001", "FRCVCA00001", 500, CertValid)
	f.cert(nil, RoleCVCA, "ITCVCA00001", "ITCVCA00001", 500, CertValid)
	dv := f.holder("UT", "DVOWN", RoleDVDomestic)
	f.cert(dv, RoleDVDomestic, "UTCVCA00001", "UTDVOWN00001", -5, CertValid)
	dvCert := f.cert(dv, RoleDVDomestic, "UTCVCA00002", "UTDVOWN00002", 40, CertValid)
	f.cert(dv, RoleDVForeign, "FRCVCA00001", "UTDVOWNFR001", 3, CertValid)
	frNew := f.cert(dv, RoleDVForeign, "FRCVCA00001", "UTDVOWNFR002", 10, CertValid)
	itCert := f.cert(dv, RoleDVForeign, "ITCVCA00001", "UTDVOWNIT001", 12, CertValid)
	f.cert(dv, RoleDVForeign, "ITCVCA00001", "UTDVOWNIT002", 50, CertSuspended)
	dv2 := f.holder("UT", "DVTWO", RoleDVDomestic)
	f.cert(dv2, RoleDVDomestic, "UTCVCA00002", "UTDVTWO00001", 60, CertValid)
	var terms []*Holder
	for i := range 3 {
		h := f.holder("UT", fmt.Sprintf("IS%d", i), RoleTerminal)
		terms = append(terms, h)
		f.cert(h, RoleTerminal, "UTDVOWN00002", fmt.Sprintf("UTIS%d00001", i), []int{3, 20, 200}[i], CertValid)
	}
	f.cert(terms[0], RoleTerminal, "UTDVOWN00001", "UTIS000000", -10, CertValid) // expired
	f.cert(terms[1], RoleTerminal, "UTDVOWN00002", "UTIS100002", 5, CertSuspended)
	frDV := f.holder("FR", "DVFR", RoleDVForeign)
	f.cert(frDV, RoleDVForeign, "UTCVCA00002", "FRDVFR00001", 80, CertValid)

	counts, err := s.CountByRoleStatus(ctx())
	if err != nil {
		t.Fatal(err)
	}
	find := func(rs []RoleStatusCount, role Role, status string) int64 {
		for _, r := range rs {
			if r.Role == role && r.Status == status {
				return r.N
			}
		}
		return 0
	}
	if find(counts.Certificates, RoleTerminal, "valid") != 4 || find(counts.Certificates, RoleTerminal, "suspended") != 1 ||
		find(counts.Holders, RoleTerminal, "active") != 3 || find(counts.Holders, RoleDVDomestic, "active") != 2 {
		t.Fatalf("counts = %+v", counts)
	}

	exp, err := s.CountExpiringWindows(ctx(), now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[Role]ExpiringCount{}
	for _, e := range exp {
		got[e.Role] = e
	}
	// Terminals: 3 (in 7), 20 (in 30); 200 is out, the expired and suspended ones too.
	// Foreign DV certificates: 3, 10, 12 (in 30), 80 (in 90).
	if e := got[RoleTerminal]; e.In7 != 1 || e.In30 != 2 || e.In90 != 2 {
		t.Fatalf("terminals expiring = %+v", e)
	}
	if e := got[RoleDVForeign]; e.In7 != 1 || e.In30 != 3 || e.In90 != 4 {
		t.Fatalf("foreign DVs expiring = %+v", e)
	}
	if e := got[RoleDVDomestic]; e.In7 != 0 || e.In30 != 0 || e.In90 != 2 {
		t.Fatalf("domestic DVs expiring = %+v", e)
	}

	soon, err := s.ExpiringSoonest(ctx(), now, 30, 3)
	if err != nil {
		t.Fatal(err)
	}
	var chrs []string
	for _, c := range soon {
		chrs = append(chrs, c.CHR)
	}
	if fmt.Sprint(chrs) != "[UTDVOWNFR001 UTIS000001 UTDVOWNFR002]" {
		t.Fatalf("soonest = %v", chrs)
	}

	use, err := s.CertificatesInUse(ctx(), now, "UT", "DVOWN")
	if err != nil {
		t.Fatal(err)
	}
	if len(use.CVCA) != 2 || use.CVCA[0].CHR != "UTCVCA00002" || use.CVCA[1].CHR != "UTCVCA00002" {
		t.Fatalf("cvca in use = %+v", use.CVCA)
	}
	if use.DV == nil || use.DV.ID != dv.ID || use.DVDomestic == nil || use.DVDomestic.ID != dvCert.ID {
		t.Fatalf("dv in use = %+v %+v", use.DV, use.DVDomestic)
	}
	if len(use.DVForeign) != 2 || use.DVForeign[0].ID != frNew.ID || use.DVForeign[1].ID != itCert.ID {
		t.Fatalf("foreign dv certificates in use = %+v", use.DVForeign)
	}
	if use, err := s.CertificatesInUse(ctx(), now, "UT", "NODV"); err != nil || use.DV != nil || len(use.CVCA) != 2 {
		t.Fatalf("without a DV: %+v, %v", use, err)
	}
	_ = cvca

	// Messages: held requests, partner contacts, refusals.
	if err := s.CreatePartner(ctx(), &Partner{Country: "FR", URL: "https://spoc.fr"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePartner(ctx(), &Partner{Country: "IT", URL: "https://spoc.it"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePartner(ctx(), &Partner{Country: "DE", URL: "https://spoc.de"}); err != nil {
		t.Fatal(err)
	}
	frSPOC := f.holder("FR", "SPOC", RoleSPOC)
	f.message(Message{HolderID: &frSPOC.ID, Operation: "GeneralMessage", ReturnCode: "ok"}, now.Add(-3*time.Hour))
	f.message(Message{Direction: Outgoing, Peer: "spoc:FR", Operation: "RequestCertificate", ReturnCode: "ok_cert_available"}, now.Add(-time.Hour))
	f.message(Message{Direction: Outgoing, Peer: "spoc:IT", Operation: "GetCACertificates", ReturnCode: "failure_internal_error"}, now.Add(-2*time.Hour))
	f.message(Message{HolderID: &terms[0].ID, ReturnCode: "failure_syntax", Approval: ApprovalPending}, now.Add(-24*time.Hour))
	f.message(Message{HolderID: &terms[1].ID, ReturnCode: "failure_syntax"}, now.Add(-48*time.Hour))
	f.message(Message{HolderID: &terms[1].ID, ReturnCode: "failure_syntax"}, now.Add(-8*24*time.Hour)) // too old
	f.message(Message{HolderID: &terms[2].ID, ReturnCode: ""}, now.Add(-time.Hour))                    // not answered
	f.message(Message{HolderID: &frDV.ID, ReturnCode: "failure_inner_signature"}, now.Add(-30*time.Minute))

	if n, err := s.CountPendingApprovals(ctx()); err != nil || n != 1 {
		t.Fatalf("pending approvals = %d, %v", n, err)
	}
	pc, err := s.PartnerContacts(ctx())
	if err != nil || len(pc) != 3 {
		t.Fatalf("partner contacts = %+v, %v", pc, err)
	}
	// DE: never; FR: its DV's request, 30 minutes ago (newer than ours to its SPOC); IT: ours.
	if !pc[0].Last.IsZero() || pc[0].Country != "DE" {
		t.Fatalf("DE = %+v", pc[0])
	}
	if !pc[1].Last.Equal(now.Add(-30*time.Minute)) || pc[1].LastDirection != Incoming {
		t.Fatalf("FR = %+v", pc[1])
	}
	if !pc[2].Last.Equal(now.Add(-2*time.Hour)) || pc[2].LastDirection != Outgoing || pc[2].LastOperation != "GetCACertificates" {
		t.Fatalf("IT = %+v", pc[2])
	}

	refusals, capped, err := s.RecentRefusals(ctx(), now.AddDate(0, 0, -7))
	if err != nil || capped {
		t.Fatal(err, capped)
	}
	if fmt.Sprint(refusals) != "[{failure_syntax 2} {failure_inner_signature 1} {failure_internal_error 1}]" {
		t.Fatalf("refusals = %v", refusals)
	}

	// The hierarchy.
	dvs, total, err := s.DomesticDVs(ctx(), 50, 2)
	if err != nil || total != 2 || len(dvs) != 2 {
		t.Fatalf("domestic DVs = %+v, %d, %v", dvs, total, err)
	}
	if d := dvs[0]; d.ID != dv.ID || d.Newest == nil || d.Newest.ID != dvCert.ID || d.Terminals != 3 || len(d.First) != 2 ||
		d.First[0].ID != terms[0].ID || d.First[1].ID != terms[1].ID {
		t.Fatalf("DVOWN = %+v", d)
	}
	if d := dvs[1]; d.ID != dv2.ID || d.Terminals != 0 || len(d.First) != 0 {
		t.Fatalf("DVTWO = %+v", d)
	}
	partners, err := s.PartnerCVCAs(ctx(), "UT", dv.ID, 1)
	if err != nil || len(partners) != 2 {
		t.Fatalf("partner CVCAs = %+v, %v", partners, err)
	}
	if p := partners[0]; p.Country != "FR" || len(p.CVCA) != 1 || len(p.OurDV) != 1 || p.OurDV[0].ID != frNew.ID {
		t.Fatalf("FR = %+v", p)
	}
	if p := partners[1]; p.Country != "IT" || len(p.CVCA) != 1 || len(p.OurDV) != 1 {
		t.Fatalf("IT = %+v", p)
	}
	fdvs, n, err := s.ForeignDVsCertified(ctx(), "UT", 50)
	if err != nil || n != 1 || len(fdvs) != 1 || fdvs[0].CHR != "FRDVFR00001" {
		t.Fatalf("foreign DVs certified = %+v, %d, %v", fdvs, n, err)
	}
}

func TestConsoleDashboardSQLite(t *testing.T) { testConsoleDashboard(t, open(t, sqliteDSNFor(t))) }

func TestConsoleDashboardPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	testConsoleDashboard(t, open(t, pgtest.DSN(t)))
}
