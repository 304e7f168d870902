package console

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"eacgate/auditlog"
	"eacgate/store"
)

// fetch gets a path without following redirects and returns the response with its body read.
func (b *browser) fetch(p string) (*http.Response, []byte) {
	b.f.t.Helper()
	res, err := b.c.Get(b.f.srv.URL + p)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.f.t.Fatal(err)
	}
	return res, body
}

// seedAudit appends n events, one an hour from 2026-11-01: every fourth one of each of
// four kinds (seq 1, 5, ... ok console suspensions by alice; 2, 6, ... failed REST
// issuances by bob; 3, 7, ... console refusals; 4, 8, ... refused registrations by carol).
func seedAudit(t *testing.T, st *store.Store, n int) {
	t.Helper()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		e := store.AuditEvent{At: t0.Add(time.Duration(i) * time.Hour), Actor: "console:alice", Action: "console.holder.suspend",
			Target: fmt.Sprintf("holder:UTDV%03d", i+1), Source: "10.0.0.1", Outcome: "ok"}
		switch i % 4 {
		case 1:
			e.Actor, e.Action, e.Outcome, e.Details = "rest:bob", "admin.ca.issue", "failed: no key", `{"reason":"`+strings.Repeat("x", 120)+`"}`
		case 2:
			e.Action, e.Outcome = "console.denied", "forbidden"
		case 3:
			e.Actor, e.Action, e.Outcome = "console:carol", "console.holder.register", "refused: bad origin"
		}
		if _, err := st.AppendAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

var auditSeq = regexp.MustCompile(`<tr>\s*<td class="num">(\d+)</td>`)

// shownSeqs returns the seqs of the audit table's rows on the last page.
func shownSeqs(body string) []string {
	var out []string
	for _, m := range auditSeq.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestAuditLogBrowse: the filters (action exact and prefix, actor, target, outcome,
// dates) and the keyset pages of the audit log, newest first.
func TestAuditLogBrowse(t *testing.T) {
	f := newFixture(t)
	seedAudit(t, f.st, 240)
	b := f.signedIn("ann", store.RoleAuditor) // sign-in appends events of its own, after seq 240
	if code := b.get("/console/audit"); code != http.StatusOK {
		t.Fatalf("audit log: %d", code)
	}
	for _, want := range []string{"<title>Audit log · eacgate console</title>", `<label for="audit-action">`, `<label for="audit-outcome">`,
		`<th scope="col" class="num">Seq</th>`, "Older events"} {
		if !strings.Contains(b.last, want) {
			t.Fatalf("audit log lacks %q", want)
		}
	}
	if got := shownSeqs(b.last); len(got) != auditPageSize {
		t.Fatalf("first page: %d rows", len(got))
	}
	cases := []struct {
		query string
		want  []string // the seqs shown, newest first
	}{
		{"action=admin.ca.issue&before=20", []string{"18", "14", "10", "6", "2"}},
		{"action=console.holder.&before=9", []string{"8", "5", "4", "1"}},
		{"action=console.holder.*&before=9", []string{"8", "5", "4", "1"}},
		{"action=console.holder&before=9", nil},
		{"actor=carol&before=13", []string{"12", "8", "4"}},
		{"target=UTDV007", []string{"7"}},
		{"outcome=denied&before=12", []string{"11", "7", "3"}},
		{"outcome=refused&before=12", []string{"8", "4"}},
		{"outcome=ok&from=2026-11-01&to=2026-11-01", []string{"21", "17", "13", "9", "5", "1"}},
		{"from=2026-11-02&to=2026-11-02&action=console.denied", []string{"47", "43", "39", "35", "31", "27"}},
	}
	for _, c := range cases {
		if code := b.get("/console/audit?" + c.query); code != http.StatusOK {
			t.Fatalf("%s: %d %s", c.query, code, b.last)
		}
		if got := shownSeqs(b.last); strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Fatalf("%s: seqs %v, want %v", c.query, got, c.want)
		}
	}
	// The next page goes on where this one ends, with the same filters.
	b.get("/console/audit?action=admin.ca.issue")
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(b.last)
	if next == nil || !strings.Contains(next[1], "action=admin.ca.issue") {
		t.Fatalf("no next link with the filter: %v", next)
	}
	b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if got := shownSeqs(b.last); len(got) != 60-auditPageSize || got[0] != "38" || got[len(got)-1] != "2" {
		t.Fatalf("second page: %v", got)
	}
	// The details: shortened in the table, in full in a <details> element.
	if !strings.Contains(b.last, "<details><summary>") || !strings.Contains(b.last, strings.Repeat("x", 120)) {
		t.Fatal("no full details")
	}
	for _, bad := range []string{"outcome=maybe", "from=yesterday", "before=x"} {
		if code := b.get("/console/audit?" + bad); code != http.StatusBadRequest {
			t.Fatalf("%s: %d", bad, code)
		}
	}
}

// keyed gives the fixture's console an audit key (a keyed log with checkpoints).
func keyed(t *testing.T, f *fixture) *auditlog.Log {
	t.Helper()
	dir := t.TempDir()
	key, err := auditlog.LoadKey(context.Background(), f.st, filepath.Join(dir, "audit.key"), true, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f.st.UseAuditKey(key.MAC())
	l := &auditlog.Log{Store: f.st, Key: key, HeadFile: filepath.Join(dir, "audit.head"), Now: f.clock.Now}
	f.h.Audit = l
	return l
}

// tamper changes an audit event the way an administrator of the database could (the
// append-only triggers dropped: the key is out of reach).
func tamper(t *testing.T, st *store.Store, stmt string) {
	t.Helper()
	err := st.DB().Transaction(func(tx *gorm.DB) error {
		for _, trg := range []string{"audit_events_no_update", "audit_events_no_delete"} {
			if err := tx.Exec("DROP TRIGGER IF EXISTS " + trg).Error; err != nil {
				return err
			}
		}
		return tx.Exec(stmt).Error
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerify: the verification page says OK, and where the chain breaks once an
// event was changed; unkeyed it checks the chain alone, keyed the checkpoints too.
func TestAuditVerify(t *testing.T) {
	t.Run("unkeyed", func(t *testing.T) {
		f := newFixture(t)
		seedAudit(t, f.st, 10)
		b := f.signedIn("ann", store.RoleAuditor)
		if code := b.get("/console/audit/verify"); code != http.StatusOK || !strings.Contains(b.last, "OK: the audit chain is intact") ||
			!strings.Contains(b.last, "<title>Audit chain verification · eacgate console</title>") || !strings.Contains(b.last, "the hash chain alone") {
			t.Fatalf("verify: %d %s", code, b.last)
		}
		tamper(t, f.st, "UPDATE audit_events SET outcome = 'ok' WHERE seq = 4")
		if code := b.get("/console/audit/verify"); code != http.StatusOK || !strings.Contains(b.last, "BROKEN") || !strings.Contains(b.last, "seq 4: hash mismatch") {
			t.Fatalf("verify after tampering: %d %s", code, b.last)
		}
	})
	t.Run("keyed", func(t *testing.T) {
		f := newFixture(t)
		l := keyed(t, f)
		seedAudit(t, f.st, 10)
		if _, err := l.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		b := f.signedIn("ann", store.RoleAuditor)
		if code := b.get("/console/audit/verify"); code != http.StatusOK || !strings.Contains(b.last, "OK: the audit chain is intact") ||
			!strings.Contains(b.last, "<dt>Last checkpoint</dt><dd>#10 at") || !strings.Contains(b.last, "MACs") {
			t.Fatalf("verify: %d %s", code, b.last)
		}
		tamper(t, f.st, "UPDATE audit_events SET target = 'holder:UTDV999' WHERE seq = 3")
		if code := b.get("/console/audit/verify"); code != http.StatusOK || !strings.Contains(b.last, "BROKEN") || !strings.Contains(b.last, "seq 3") {
			t.Fatalf("verify after tampering: %d %s", code, b.last)
		}
	})
}

// TestAuditExport: the console's export is "eacgate audit export"'s: it verifies offline
// with the checkpoint key's fingerprint; ?since= starts at the first event of that day.
func TestAuditExport(t *testing.T) {
	f := newFixture(t)
	seedAudit(t, f.st, 60)
	b := f.signedIn("ann", store.RoleAuditor)
	if code := b.get("/console/audit/export"); code != http.StatusConflict || !strings.Contains(b.last, "audit key") {
		t.Fatalf("export without the key: %d", code)
	}
	l := keyed(t, f) // the events so far are from before the key
	if _, err := l.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, body := b.fetch("/console/audit/export")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") ||
		res.Header.Get("Content-Type") != "application/jsonl" {
		t.Fatalf("export: %d %v", res.StatusCode, res.Header)
	}
	rep, err := auditlog.VerifyExport(bytes.NewReader(body), l.Key.Public().Fingerprint())
	if err != nil || rep.First != 1 || rep.Events < 60 || rep.OnlineVerification != "ok" {
		t.Fatalf("offline verification: %+v, %v", rep, err)
	}
	// Since 2026-11-02: the first event of that day is seq 25.
	_, body = b.fetch("/console/audit/export?since=2026-11-02")
	rep, err = auditlog.VerifyExport(bytes.NewReader(body), l.Key.Public().Fingerprint())
	if err != nil || rep.First != 25 {
		t.Fatalf("export since: %+v, %v", rep, err)
	}
	if res, _ := b.fetch("/console/audit/export?since=2026-13-01"); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad since: %d", res.StatusCode)
	}
}

// TestAuditForbidden: an RA operator may not read the audit log (403, no navigation link)
// but reads the reports, as every role does.
func TestAuditForbidden(t *testing.T) {
	f := newFixture(t)
	ra := f.signedIn("rita", store.RoleRAOperator)
	if strings.Contains(ra.last, `href="/console/audit"`) {
		t.Fatal("the RA operator's navigation links the audit log")
	}
	for _, p := range []string{"/console/audit", "/console/audit/verify", "/console/audit/export"} {
		if code := ra.get(p); code != http.StatusForbidden {
			t.Fatalf("RA operator: %s: %d", p, code)
		}
	}
	for i, role := range []store.OperatorRole{store.RoleRAOperator, store.RoleCAOperator, store.RoleAuditor, store.RoleSystemAdministrator} {
		b := f.signedIn(fmt.Sprint("op", i), role)
		for _, p := range []string{"/console/reports", "/console/reports/certificates?status=active", "/console/reports/statistics",
			"/console/reports/certificates?status=expired&format=csv", "/console/reports/statistics?format=csv&by=role"} {
			if code := b.get(p); code != http.StatusOK {
				t.Fatalf("%s: %s: %d", role, p, code)
			}
		}
	}
	au := f.signedIn("ann", store.RoleAuditor)
	if !strings.Contains(au.last, `href="/console/audit"`) || au.get("/console/audit") != http.StatusOK {
		t.Fatal("the auditor does not reach the audit log")
	}
}
