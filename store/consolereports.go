package store

import (
	"context"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// The console's audit browser and reports: bounded, index-served queries (the console
// must answer quickly with 100,000 certificates and a long audit log).

// AuditFilter selects audit events for the console's audit browser.
type AuditFilter struct {
	// Action is an event name (e.g. "console.holder.suspend"); with ActionPrefix, the
	// names that start with it (e.g. "console.").
	Action       string
	ActionPrefix bool
	// Actor and Target select events whose actor or target contains them (case-sensitive).
	Actor, Target string
	// Outcome is one of AuditOutcomes ("" any).
	Outcome string
	// From and To select events at or after From and before To (zero: unbounded).
	From, To time.Time
	// Before selects events older than this seq (0: from the newest).
	Before int64
	// Limit is the page size (default 50, at most 1,000).
	Limit int
	// Window bounds the seqs one page examines when a filter has no index (actor, target,
	// outcome, action prefix): 0 is DefaultAuditWindow.
	Window int64
}

// DefaultAuditWindow is the number of events one filtered page of the audit browser
// examines at most, so that a rare match never costs a walk through the whole log.
const DefaultAuditWindow = 10000

// AuditOutcomes are the outcome classes AuditFilter.Outcome knows: "ok"; "failed" and
// "refused" (outcomes "failed: ..." and "refused: ..."); "denied" (the *.denied events of
// an operator's role or form refused after sign-in).
var AuditOutcomes = []string{"ok", "failed", "refused", "denied"}

// AuditPage is one page of AuditEvents.
type AuditPage struct {
	// Events are newest first.
	Events []AuditEvent
	// Next is the Before of the next (older) page; 0: there is none.
	Next int64
	// SearchedFrom is set when the page ended at its window before filling up: the events
	// from this seq to the page's start were examined, the older ones not yet (Next goes on).
	SearchedFrom int64
}

// ConsoleAudit returns a page of the events f selects, newest first. Only an exact action
// is served by an index (audit_events(action, seq)); the other filters examine at most
// f.Window seqs per page. Dates become seq bounds by a binary search on seq, which relies
// on events being appended in time order (they are: the append lock orders them and At is
// the time of the append); the dates are also applied to each row.
func (s *Store) ConsoleAudit(ctx context.Context, f AuditFilter) (AuditPage, error) {
	var page AuditPage
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 1000)
	if f.Window <= 0 {
		f.Window = DefaultAuditWindow
	}
	if f.Outcome != "" && !validOutcome(f.Outcome) {
		return page, fmt.Errorf("store: console audit: unknown outcome %q", f.Outcome)
	}
	db := s.db.WithContext(ctx)
	// Two queries: each is one primary-key lookup (SQLite optimises a lone MIN or MAX only).
	var bounds struct{ Lo, Hi int64 }
	if err := db.Raw("SELECT COALESCE(MIN(seq), 0) FROM audit_events").Scan(&bounds.Lo).Error; err != nil {
		return page, wrap("console audit", err)
	}
	if err := db.Raw("SELECT COALESCE(MAX(seq), 0) FROM audit_events").Scan(&bounds.Hi).Error; err != nil {
		return page, wrap("console audit", err)
	}
	top, low := bounds.Hi, bounds.Lo
	if f.Before > 0 {
		top = min(top, f.Before-1)
	}
	if !f.To.IsZero() {
		seq, err := s.firstAuditSeqAt(ctx, f.To, bounds.Lo, bounds.Hi)
		if err != nil {
			return page, err
		}
		if seq > 0 {
			top = min(top, seq-1)
		}
	}
	if !f.From.IsZero() {
		seq, err := s.firstAuditSeqAt(ctx, f.From, bounds.Lo, bounds.Hi)
		if err != nil {
			return page, err
		}
		if seq == 0 {
			return page, nil // every event is older
		}
		low = max(low, seq)
	}
	if top < low || top < 1 {
		return page, nil
	}
	bottom := low
	if f.ActionPrefix || f.Actor != "" || f.Target != "" || f.Outcome != "" {
		bottom = max(low, top-f.Window+1)
	}
	q := db.Model(&AuditEvent{}).Where("seq >= ? AND seq <= ?", bottom, top)
	switch {
	case f.Action != "" && f.ActionPrefix:
		q = q.Where("substr(action, 1, ?) = ?", utf8.RuneCountInString(f.Action), f.Action)
	case f.Action != "":
		q = q.Where("action = ?", f.Action)
	}
	if f.Actor != "" {
		q = q.Where(s.containsSQL("actor"), f.Actor)
	}
	if f.Target != "" {
		q = q.Where(s.containsSQL("target"), f.Target)
	}
	switch f.Outcome {
	case "ok":
		q = q.Where("outcome = 'ok'")
	case "failed", "refused":
		q = q.Where("substr(outcome, 1, ?) = ?", len(f.Outcome), f.Outcome)
	case "denied":
		q = q.Where("(action = 'denied' OR action LIKE '%.denied')")
	}
	if !f.From.IsZero() {
		q = q.Where("at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", f.To.UTC())
	}
	if err := q.Order("seq DESC").Limit(f.Limit + 1).Find(&page.Events).Error; err != nil {
		return page, wrap("console audit", err)
	}
	switch {
	case len(page.Events) > f.Limit:
		page.Events = page.Events[:f.Limit]
		page.Next = page.Events[f.Limit-1].Seq
	case bottom > low:
		page.Next, page.SearchedFrom = bottom, bottom
	}
	return page, nil
}

func validOutcome(o string) bool {
	for _, v := range AuditOutcomes {
		if o == v {
			return true
		}
	}
	return false
}

// containsSQL is the condition "column contains ?" (case-sensitive, no LIKE wildcards).
func (s *Store) containsSQL(column string) string {
	if s.dialect == DialectPostgres {
		return "strpos(" + column + ", ?) > 0"
	}
	return "instr(" + column + ", ?) > 0"
}

// firstAuditSeqAt returns the first seq in [lo, hi] whose event is at or after t, by a
// binary search on seq (0: none is). It costs about log2(n) primary-key lookups where
// FirstAuditSeqSince scans: audit_events has no index on at.
func (s *Store) firstAuditSeqAt(ctx context.Context, t time.Time, lo, hi int64) (int64, error) {
	t = t.UTC()
	atOrAfter := func(seq int64) (bool, error) {
		var evs []AuditEvent
		if err := s.db.WithContext(ctx).Select("seq, at").Where("seq >= ?", seq).Order("seq").Limit(1).Find(&evs).Error; err != nil {
			return false, wrap("console audit", err)
		}
		return len(evs) == 1 && !evs[0].At.Before(t), nil
	}
	if hi < lo || hi == 0 {
		return 0, nil
	}
	if ok, err := atOrAfter(hi); err != nil || !ok {
		return 0, err
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		ok, err := atOrAfter(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// CertReport is one of the certificate reports: the certificates of a status, or the
// expired ones.
type CertReport string

// The certificate reports. A certificate expires at the end of its not_after day (UTC):
// CertReportExpired is every certificate with not_after before today whatever its status,
// CertReportActive a valid one not expired; suspended and revoked are by status alone
// (an expired one included).
const (
	CertReportActive    CertReport = "active"
	CertReportSuspended CertReport = "suspended"
	CertReportRevoked   CertReport = "revoked"
	CertReportExpired   CertReport = "expired"
)

// CertReports lists the reports in the order the console shows them.
var CertReports = []CertReport{CertReportActive, CertReportSuspended, CertReportRevoked, CertReportExpired}

// Valid reports whether r is one of CertReports.
func (r CertReport) Valid() bool { return slices.Contains(CertReports, r) }

// where is r's condition at now (the start of now's UTC day is the expiry bound). For a
// list in id order on SQLite (byID), the expiry term of the active report is kept off
// the index (unary +): SQLite would otherwise range over certificates(status, role,
// not_after, ...) and sort every active certificate, where walking the table backwards by
// id finds a page's rows at once (PostgreSQL's planner has statistics to choose with).
func (r CertReport) where(now time.Time, byID bool) (string, []any, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	switch r {
	case CertReportActive:
		if byID {
			return "status = ? AND +not_after >= ?", []any{CertValid, today}, nil
		}
		return "status = ? AND not_after >= ?", []any{CertValid, today}, nil
	case CertReportSuspended:
		return "status = ?", []any{CertSuspended}, nil
	case CertReportRevoked:
		return "status = ?", []any{CertRevoked}, nil
	case CertReportExpired:
		return "not_after < ?", []any{today}, nil
	}
	return "", nil, fmt.Errorf("store: unknown certificate report %q", r)
}

// CertReportRow is a certificate in a report (without its encoding).
type CertReportRow struct {
	ID        int64      `gorm:"column:id"`
	CHR       string     `gorm:"column:chr"`
	CAR       string     `gorm:"column:car"`
	Role      Role       `gorm:"column:role"`
	Status    CertStatus `gorm:"column:status"`
	NotBefore time.Time  `gorm:"column:not_before"`
	NotAfter  time.Time  `gorm:"column:not_after"`
	HolderID  *int64     `gorm:"column:holder_id"`
}

const certReportColumns = "id, chr, car, role, status, not_before, not_after, holder_id"

// CertificateReport returns limit rows of report r at now from offset on, newest first.
func (s *Store) CertificateReport(ctx context.Context, r CertReport, now time.Time, limit, offset int) ([]CertReportRow, error) {
	cond, args, err := r.where(now, s.dialect == DialectSQLite)
	if err != nil {
		return nil, err
	}
	var rows []CertReportRow
	err = s.db.WithContext(ctx).Model(&Certificate{}).Select(certReportColumns).Where(cond, args...).
		Order("id DESC").Limit(limit).Offset(offset).Scan(&rows).Error
	return rows, wrap("certificate report", err)
}

// EachCertificateReport calls fn with every row of report r at now, newest first, reading
// them in keyset batches of 1,000 (bounded memory, no long-lived cursor). An error of fn
// ends the walk and is returned.
func (s *Store) EachCertificateReport(ctx context.Context, r CertReport, now time.Time, fn func(CertReportRow) error) error {
	const batch = 1000
	cond, args, err := r.where(now, s.dialect == DialectSQLite)
	if err != nil {
		return err
	}
	var after int64 // 0: from the newest
	for {
		q := s.db.WithContext(ctx).Model(&Certificate{}).Select(certReportColumns).Where(cond, args...)
		if after > 0 {
			q = q.Where("id < ?", after)
		}
		var rows []CertReportRow
		if err := q.Order("id DESC").Limit(batch).Scan(&rows).Error; err != nil {
			return wrap("certificate report", err)
		}
		for _, row := range rows {
			if err := fn(row); err != nil {
				return err
			}
		}
		if len(rows) < batch {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

// CertificateReportCounts counts the certificates of each report at now (the index
// index certificates(status, role, not_after, not_before) serves each count).
func (s *Store) CertificateReportCounts(ctx context.Context, now time.Time) (map[CertReport]int64, error) {
	out := map[CertReport]int64{}
	for _, r := range CertReports {
		cond, args, err := r.where(now, false)
		if err != nil {
			return nil, err
		}
		var n int64
		if err := s.aggregate(ctx, func(db *gorm.DB) error { return db.Model(&Certificate{}).Where(cond, args...).Count(&n).Error }); err != nil {
			return nil, wrap("certificate report counts", err)
		}
		out[r] = n
	}
	return out, nil
}

// CertStatBy is a grouping of CertificateStatistics.
type CertStatBy string

// The groupings: the month of not_before (the certificate's effective date, "YYYY-MM",
// UTC), the role, and the holder's country (the CHR's first two characters). Each is
// read from an index, not the table (certificates(status, role, not_after, not_before),
// (chr)).
const (
	CertStatMonth   CertStatBy = "month"
	CertStatRole    CertStatBy = "role"
	CertStatCountry CertStatBy = "country"
)

// CertStat is the number of certificates of one group.
type CertStat struct {
	Key string `gorm:"column:k"`
	N   int64  `gorm:"column:n"`
}

// CertificateStatistics counts all certificates (every status) grouped by by, in the
// order of the key, aggregated by the database over an index: months from the counts per
// distinct not_before (read from the index holding it, not from the table), countries on SQLite by a loose scan of certificates(chr) (one index range per
// country; PostgreSQL hash-aggregates the plain GROUP BY).
func (s *Store) CertificateStatistics(ctx context.Context, by CertStatBy) ([]CertStat, error) {
	pg := s.dialect == DialectPostgres
	var q string
	switch {
	case by == CertStatMonth && pg:
		q = `SELECT to_char(d AT TIME ZONE 'UTC', 'YYYY-MM') AS k, SUM(n) AS n
FROM (SELECT not_before AS d, COUNT(*) AS n FROM certificates GROUP BY not_before) t GROUP BY 1 ORDER BY 1`
	case by == CertStatMonth:
		// SQLite stores a time as text starting "YYYY-MM-DD" in the time's zone, and the
		// store writes certificates' times in UTC (prepareCertificate): the first seven
		// characters are the month, several times cheaper than strftime's parsing.
		q = `SELECT substr(d, 1, 7) AS k, SUM(n) AS n
FROM (SELECT not_before AS d, COUNT(*) AS n FROM certificates GROUP BY not_before) t GROUP BY 1 ORDER BY 1`
	case by == CertStatRole:
		q = "SELECT role AS k, COUNT(*) AS n FROM certificates GROUP BY role ORDER BY role"
	case by == CertStatCountry && pg:
		q = "SELECT substr(chr, 1, 2) AS k, COUNT(*) AS n FROM certificates GROUP BY 1 ORDER BY 1"
	case by == CertStatCountry:
		// Each step finds the next prefix with one index seek past the previous one's
		// strings (char(1114111) is the greatest code point; a one-character CHR's group
		// ends at itself), then counts that prefix's index range.
		q = `WITH RECURSIVE p(c) AS (
	SELECT substr(MIN(chr), 1, 2) FROM certificates
	UNION ALL
	SELECT (SELECT substr(MIN(chr), 1, 2) FROM certificates
		WHERE chr >= p.c || CASE WHEN length(p.c) < 2 THEN char(1) ELSE char(1114111) END)
	FROM p WHERE p.c IS NOT NULL
)
SELECT c AS k, (SELECT COUNT(*) FROM certificates WHERE chr >= c AND chr < c || char(1114111) AND substr(chr, 1, 2) = c) AS n
FROM p WHERE c IS NOT NULL ORDER BY c`
	default:
		return nil, fmt.Errorf("store: certificate statistics: unknown grouping %q", by)
	}
	var out []CertStat
	if err := s.aggregate(ctx, func(db *gorm.DB) error { return db.Raw(q).Scan(&out).Error }); err != nil {
		return nil, wrap("certificate statistics", err)
	}
	return out, nil
}
