package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"eacgate/store"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// seedReportCerts stores certificates of known statuses and dates around the fixture's
// clock (2026-12-02 10:00 UTC) and bulk active terminals; it returns the holder's id.
func seedReportCerts(t *testing.T, st *store.Store, bulk int) int64 {
	t.Helper()
	ctx := context.Background()
	h := &store.Holder{Country: "UT", Mnemonic: "DV01", Role: store.RoleDVDomestic}
	if err := st.CreateHolder(ctx, h); err != nil {
		t.Fatal(err)
	}
	certs := []store.Certificate{
		{HolderID: &h.ID, CHR: "UTDV01001", CAR: "UTCVCA001", Role: store.RoleDVDomestic, NotBefore: day(2026, 1, 5), NotAfter: day(2027, 1, 5)},                      // active
		{HolderID: &h.ID, CHR: "UTDV01002", CAR: "UTCVCA001", Role: store.RoleDVDomestic, NotBefore: day(2026, 2, 5), NotAfter: day(2026, 12, 2)},                     // active: until the end of today
		{CHR: "UTT000001", CAR: "UTDV01001", Role: store.RoleTerminal, NotBefore: day(2026, 2, 10), NotAfter: day(2026, 12, 1)},                                       // expired yesterday
		{CHR: "UTT000002", CAR: "UTDV01001", Role: store.RoleTerminal, Status: store.CertSuspended, NotBefore: day(2026, 2, 11), NotAfter: day(2027, 2, 1)},           // suspended
		{CHR: "FRT000001", CAR: "FRDV00001", Role: store.RoleTerminal, Status: store.CertRevoked, NotBefore: day(2025, 11, 5), NotAfter: day(2026, 11, 5)},            // revoked, expired
		{CHR: "=cmd|' /C calc'!A0", CAR: "@SUM(1+1)", Role: store.RoleTerminal, Status: store.CertRevoked, NotBefore: day(2026, 11, 30), NotAfter: day(2027, 11, 30)}, // revoked
	}
	for i := range bulk {
		certs = append(certs, store.Certificate{CHR: fmt.Sprintf("DET%06d", i), CAR: "DEDV00001", Role: store.RoleTerminal,
			NotBefore: day(2026, 3, 1), NotAfter: day(2027, 3, 1)})
	}
	for i := range certs {
		certs[i].Raw = []byte(fmt.Sprint("cert", i))
		if err := st.AddCertificate(ctx, &certs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return h.ID
}

// TestReports: the counts of each report at the injected clock, a report's pages, and its
// CSV (every row, streamed; formulas escaped).
func TestReports(t *testing.T) {
	f := newFixture(t)
	holder := seedReportCerts(t, f.st, 1100)
	b := f.signedIn("rita", store.RoleRAOperator)
	if code := b.get("/console/reports"); code != http.StatusOK || !strings.Contains(b.last, "<title>Reports · eacgate console</title>") {
		t.Fatalf("reports: %d", code)
	}
	for rep, n := range map[string]int{"active": 1102, "suspended": 1, "revoked": 2, "expired": 2} {
		re := regexp.MustCompile(`status=` + rep + `">[^<]+</a></td><td class="num">(\d+)</td>`)
		if m := re.FindStringSubmatch(b.last); m == nil || m[1] != fmt.Sprint(n) {
			t.Fatalf("count of %s: %v, want %d", rep, m, n)
		}
	}
	// Pages of 100.
	if code := b.get("/console/reports/certificates?status=active"); code != http.StatusOK ||
		!strings.Contains(b.last, "<title>Active certificates · eacgate console</title>") || !strings.Contains(b.last, `rel="next"`) {
		t.Fatalf("active: %d", code)
	}
	if n := strings.Count(b.last, `<td class="mono">DET`); n != reportPageSize {
		t.Fatalf("first page: %d rows", n)
	}
	b.get("/console/reports/certificates?status=active&page=12")
	if !strings.Contains(b.last, "UTDV01002") || !strings.Contains(b.last, "UTDV01001") || strings.Contains(b.last, `rel="next"`) {
		t.Fatal("last page of the active certificates")
	}
	b.get("/console/reports/certificates?status=expired")
	if !strings.Contains(b.last, "UTT000001") || !strings.Contains(b.last, "FRT000001") || strings.Contains(b.last, "UTDV01002") {
		t.Fatal("expired certificates")
	}
	if code := b.get("/console/reports/certificates?status=all"); code != http.StatusBadRequest {
		t.Fatalf("unknown report: %d", code)
	}

	// CSV: all rows, streamed.
	res, body := b.fetch("/console/reports/certificates?status=active&format=csv")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("csv: %d %v", res.StatusCode, res.Header)
	}
	records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 1103 || strings.Join(records[0], ",") != "id,chr,car,role,status,not_before,not_after,holder_id" {
		t.Fatalf("csv: %d records, header %v", len(records), records[0])
	}
	last := records[len(records)-1]
	if want := fmt.Sprintf("1,UTDV01001,UTCVCA001,dv_domestic,valid,2026-01-05,2027-01-05,%d", holder); strings.Join(last, ",") != want {
		t.Fatalf("last row %v, want %s", last, want)
	}
	// Formulas are escaped.
	_, body = b.fetch("/console/reports/certificates?status=revoked&format=csv")
	records, err = csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(records) != 3 {
		t.Fatalf("revoked csv: %v, %v", records, err)
	}
	if records[1][1] != "'=cmd|' /C calc'!A0" || records[1][2] != "'@SUM(1+1)" || records[1][7] != "" {
		t.Fatalf("formula not escaped: %q", records[1])
	}
	// An empty report is its header.
	if err := f.st.DB().Exec("DELETE FROM certificates WHERE status = 'suspended'").Error; err != nil {
		t.Fatal(err)
	}
	_, body = b.fetch("/console/reports/certificates?status=suspended&format=csv")
	if string(body) != "id,chr,car,role,status,not_before,not_after,holder_id\n" {
		t.Fatalf("empty report: %q", body)
	}
	// The clock moves on a day: the certificate of today has expired.
	f.clock.Advance(24 * time.Hour)
	later := f.signedIn("rob", store.RoleRAOperator) // the first session has timed out
	later.get("/console/reports")
	if !strings.Contains(later.last, `status=expired">Expired certificates</a></td><td class="num">3</td>`) {
		t.Fatal("expiry does not follow the clock")
	}
}

// TestReportStatistics: certificates per month of issue, role and country, on screen and
// as CSV.
func TestReportStatistics(t *testing.T) {
	f := newFixture(t)
	seedReportCerts(t, f.st, 3)
	b := f.signedIn("carl", store.RoleCAOperator)
	if code := b.get("/console/reports/statistics"); code != http.StatusOK || !strings.Contains(b.last, "<title>Certificate statistics · eacgate console</title>") {
		t.Fatalf("statistics: %d", code)
	}
	for by, wants := range map[string][]string{
		"":        {"<tr><td>2025-11</td><td class=\"num\">1</td></tr>", "<tr><td>2026-02</td><td class=\"num\">3</td></tr>", "<tr><td>2026-03</td><td class=\"num\">3</td></tr>"},
		"month":   {"<tr><td>2026-11</td><td class=\"num\">1</td></tr>", `<td class="num">9</td></tr></tfoot>`},
		"role":    {"<tr><td>Inspection system</td><td class=\"num\">7</td></tr>", "<tr><td>DV (official domestic)</td><td class=\"num\">2</td></tr>"},
		"country": {"<tr><td>UT</td><td class=\"num\">4</td></tr>", "<tr><td>DE</td><td class=\"num\">3</td></tr>", `<td class="num">9</td></tr></tfoot>`},
	} {
		if code := b.get("/console/reports/statistics?by=" + by); code != http.StatusOK {
			t.Fatalf("by %s: %d", by, code)
		}
		for _, want := range wants {
			if !strings.Contains(b.last, want) {
				t.Fatalf("statistics by %q lack %q", by, want)
			}
		}
	}
	if code := b.get("/console/reports/statistics?by=year"); code != http.StatusBadRequest {
		t.Fatalf("by year: %d", code)
	}
	for by, want := range map[string]string{
		"month":   "month,certificates\n2025-11,1\n2026-01,1\n2026-02,3\n2026-03,3\n2026-11,1\n",
		"role":    "role,certificates\ndv_domestic,2\nterminal,7\n",
		"country": "country,certificates\n'=c,1\nDE,3\nFR,1\nUT,4\n",
	} {
		res, body := b.fetch("/console/reports/statistics?format=csv&by=" + by)
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") || string(body) != want {
			t.Fatalf("csv by %s: %d %q", by, res.StatusCode, body)
		}
	}
	if res, _ := b.fetch("/console/reports/statistics?format=csv&by=year"); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("by year: %d", res.StatusCode)
	}
}
