package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"eacgate/internal/pgtest"
)

// reportCerts stores certificates of known statuses and dates; now is 2026-12-02 10:00 UTC.
func reportCerts(t *testing.T, s *Store) {
	t.Helper()
	type c struct {
		chr    string
		role   Role
		status CertStatus
		nb, na time.Time
	}
	certs := []c{
		{"DEDV00001", RoleDVDomestic, CertValid, time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC), day(2027, 1, 1)},                         // active
		{"DEDV00002", RoleDVDomestic, CertValid, time.Date(2026, 2, 1, 0, 0, 0, 123456000, time.UTC), day(2026, 12, 2)},                   // active: expires at the end of today
		{"DET000001", RoleTerminal, CertValid, day(2026, 2, 10), day(2026, 12, 1)},                                                        // expired yesterday
		{"DET000002", RoleTerminal, CertSuspended, day(2026, 2, 11), day(2027, 2, 1)},                                                     // suspended
		{"FRT000001", RoleTerminal, CertRevoked, day(2025, 11, 5), day(2026, 11, 5)},                                                      // revoked and expired
		{"FRDV00001", RoleDVForeign, CertRevoked, day(2026, 11, 30), day(2027, 11, 30)},                                                   // revoked
		{"=cmd|' /C calc'!A0", RoleTerminal, CertValid, time.Date(2026, 11, 30, 12, 0, 0, 0, time.FixedZone("x", 3600)), day(2027, 1, 1)}, // active
	}
	certs = append(certs, c{"X", RoleTerminal, CertValid, day(2026, 3, 1), day(2027, 1, 1)}, c{"XY0000001", RoleTerminal, CertValid, day(2026, 3, 2), day(2027, 1, 1)})
	for i, x := range certs {
		if err := s.AddCertificate(ctx(), &Certificate{CHR: x.chr, CAR: "DECVCA0001", Role: x.role, Status: x.status,
			NotBefore: x.nb, NotAfter: x.na, Raw: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

// testCertificateReports: the lists and counts of each report at a fixed time (expiry at
// the end of the not_after day), keyset streaming, and the statistics grouped in SQL.
func testCertificateReports(t *testing.T, s *Store) {
	reportCerts(t, s)
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	counts, err := s.CertificateReportCounts(ctx(), now)
	want := map[CertReport]int64{CertReportActive: 5, CertReportSuspended: 1, CertReportRevoked: 2, CertReportExpired: 2}
	if err != nil || !reflect.DeepEqual(counts, want) {
		t.Fatalf("counts = %v, %v; want %v", counts, err, want)
	}
	chrs := func(rows []CertReportRow) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r.CHR)
		}
		return out
	}
	rows, err := s.CertificateReport(ctx(), CertReportExpired, now, 10, 0)
	if got := chrs(rows); err != nil || !reflect.DeepEqual(got, []string{"FRT000001", "DET000001"}) {
		t.Fatalf("expired = %v, %v", got, err)
	}
	rows, err = s.CertificateReport(ctx(), CertReportActive, now, 2, 3)
	if got := chrs(rows); err != nil || !reflect.DeepEqual(got, []string{"DEDV00002", "DEDV00001"}) {
		t.Fatalf("active, rows 4 and 5 = %v, %v", got, err)
	}
	if rows[0].NotAfter.Format(time.DateOnly) != "2026-12-02" || rows[0].Status != CertValid || rows[0].Role != RoleDVDomestic {
		t.Fatalf("row = %+v", rows[0])
	}
	if _, err := s.CertificateReport(ctx(), "all", now, 1, 0); err == nil {
		t.Fatal("an unknown report was accepted")
	}

	// Streaming reads every row in id order, across batches.
	for i := range 2100 {
		if err := s.AddCertificate(ctx(), &Certificate{CHR: fmt.Sprintf("UTT%06d", i), CAR: "UTDV00001", Role: RoleTerminal,
			NotBefore: day(2026, 3, 1), NotAfter: day(2027, 3, 1), Raw: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	last := int64(1 << 62)
	if err := s.EachCertificateReport(ctx(), CertReportActive, now, func(r CertReportRow) error {
		if r.ID >= last {
			t.Fatalf("row %d after %d", r.ID, last)
		}
		last = r.ID
		n++
		return nil
	}); err != nil || n != 2105 {
		t.Fatalf("streamed %d, %v", n, err)
	}

	stats := func(by CertStatBy) []CertStat {
		t.Helper()
		st, err := s.CertificateStatistics(ctx(), by)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if got, want := stats(CertStatMonth), []CertStat{{"2025-11", 1}, {"2026-01", 1}, {"2026-02", 3}, {"2026-03", 2102}, {"2026-11", 2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("by month = %v, want %v", got, want)
	}
	if got, want := stats(CertStatRole), []CertStat{{"dv_domestic", 2}, {"dv_foreign", 1}, {"terminal", 2106}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("by role = %v, want %v", got, want)
	}
	if got, want := stats(CertStatCountry), []CertStat{{"=c", 1}, {"DE", 4}, {"FR", 2}, {"UT", 2100}, {"X", 1}, {"XY", 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("by country = %v, want %v", got, want)
	}
	if _, err := s.CertificateStatistics(ctx(), "year"); err == nil {
		t.Fatal("an unknown grouping was accepted")
	}
}

func TestCertificateReportsSQLite(t *testing.T) { testCertificateReports(t, open(t, sqliteDSNFor(t))) }

func TestCertificateReportsPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	testCertificateReports(t, open(t, pgtest.DSN(t)))
}

// testConsoleAudit: the audit browser's filters, keyset pages, date bounds and windows.
func testConsoleAudit(t *testing.T, s *Store) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 60 {
		e := AuditEvent{At: t0.Add(time.Duration(i) * time.Hour), Actor: "console:alice", Action: "console.holder.suspend",
			Target: fmt.Sprintf("holder:UTDV%02d", i), Source: "10.0.0.1", Outcome: "ok"}
		switch i % 4 {
		case 1:
			e.Actor, e.Action, e.Outcome = "rest:bob", "admin.ca.issue", "failed: no key"
		case 2:
			e.Action, e.Outcome = "console.denied", "forbidden"
		case 3:
			e.Actor, e.Action, e.Outcome = "console:carol", "console.holder.register", "refused: bad origin"
		}
		if _, err := s.AppendAudit(ctx(), e); err != nil {
			t.Fatal(err)
		}
	}
	seqs := func(p AuditPage) []int64 {
		var out []int64
		for _, e := range p.Events {
			out = append(out, e.Seq)
		}
		return out
	}
	page := func(f AuditFilter) AuditPage {
		t.Helper()
		p, err := s.ConsoleAudit(ctx(), f)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Unfiltered: newest first, keyset pages.
	p := page(AuditFilter{Limit: 25})
	if len(p.Events) != 25 || p.Events[0].Seq != 60 || p.Next != 36 {
		t.Fatalf("first page: %v next %d", seqs(p), p.Next)
	}
	p = page(AuditFilter{Limit: 25, Before: 11})
	if got := seqs(p); len(got) != 10 || got[0] != 10 || got[9] != 1 || p.Next != 0 {
		t.Fatalf("last page: %v next %d", got, p.Next)
	}
	// Exact action, prefix, actor, target, outcome.
	if got := seqs(page(AuditFilter{Action: "admin.ca.issue", Limit: 3})); !reflect.DeepEqual(got, []int64{58, 54, 50}) {
		t.Fatalf("exact action: %v", got)
	}
	if p := page(AuditFilter{Action: "console.holder.", ActionPrefix: true, Limit: 100}); len(p.Events) != 30 || p.Next != 0 {
		t.Fatalf("prefix: %d events, next %d", len(p.Events), p.Next)
	}
	if p := page(AuditFilter{Action: "console.holder", Limit: 100}); len(p.Events) != 0 {
		t.Fatalf("an exact action matched %d events", len(p.Events))
	}
	if got := seqs(page(AuditFilter{Actor: "carol", Limit: 2})); !reflect.DeepEqual(got, []int64{60, 56}) {
		t.Fatalf("actor: %v", got)
	}
	if got := seqs(page(AuditFilter{Target: "UTDV07", Limit: 10})); !reflect.DeepEqual(got, []int64{8}) {
		t.Fatalf("target: %v", got)
	}
	for o, first := range map[string]int64{"ok": 57, "failed": 58, "denied": 59, "refused": 60} {
		if p := page(AuditFilter{Outcome: o, Limit: 100}); len(p.Events) != 15 || p.Events[0].Seq != first {
			t.Fatalf("outcome %s: %v", o, seqs(p))
		}
	}
	if _, err := s.ConsoleAudit(ctx(), AuditFilter{Outcome: "maybe"}); err == nil {
		t.Fatal("an unknown outcome was accepted")
	}
	// Dates: [from, to) by the events' times (seq i+1 is at t0 + i hours).
	if got := seqs(page(AuditFilter{From: t0.Add(10 * time.Hour), To: t0.Add(13 * time.Hour), Limit: 10})); !reflect.DeepEqual(got, []int64{13, 12, 11}) {
		t.Fatalf("dates: %v", got)
	}
	if p := page(AuditFilter{From: t0.Add(100 * time.Hour)}); len(p.Events) != 0 {
		t.Fatalf("after the last event: %v", seqs(p))
	}
	if p := page(AuditFilter{To: t0}); len(p.Events) != 0 {
		t.Fatalf("before the first event: %v", seqs(p))
	}
	// A window: a filter without an index examines at most Window seqs per page, and says
	// where the next page goes on.
	p = page(AuditFilter{Actor: "bob", Window: 10, Limit: 100})
	if got := seqs(p); !reflect.DeepEqual(got, []int64{58, 54}) || p.Next != 51 || p.SearchedFrom != 51 {
		t.Fatalf("window: %v next %d from %d", got, p.Next, p.SearchedFrom)
	}
	p = page(AuditFilter{Actor: "bob", Window: 10, Limit: 100, Before: 11})
	if got := seqs(p); !reflect.DeepEqual(got, []int64{10, 6, 2}) || p.Next != 0 {
		t.Fatalf("window at the start: %v next %d", got, p.Next)
	}
}

func TestConsoleAuditSQLite(t *testing.T) { testConsoleAudit(t, open(t, sqliteDSNFor(t))) }

func TestConsoleAuditPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	testConsoleAudit(t, open(t, pgtest.DSN(t)))
}
