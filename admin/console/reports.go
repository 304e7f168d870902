package console

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"eacgate/ops"
	"eacgate/store"
)

// The reports emCA offers: certificates by status (on screen and as CSV) and statistics
// of the certificates per month, role and country. Every role may read them.
func (h *Handler) reportRoutes() []route {
	return []route{
		{"GET /console/reports", ops.ActionRead, h.reports},
		{"GET /console/reports/certificates", ops.ActionRead, h.reportCertificates},
		{"GET /console/reports/statistics", ops.ActionRead, h.reportStatistics},
	}
}

// reportPageSize is the number of certificates on a page of a report.
const reportPageSize = 100

// reportTitles names each certificate report.
var reportTitles = map[store.CertReport]string{
	store.CertReportActive:    "Active certificates",
	store.CertReportSuspended: "Suspended certificates",
	store.CertReportRevoked:   "Revoked certificates",
	store.CertReportExpired:   "Expired certificates",
}

// reportLink is a report with its count.
type reportLink struct {
	Report store.CertReport
	Title  string
	N      int64
}

// reportsData is the reports page's data.
type reportsData struct {
	Reports []reportLink
}

func (h *Handler) reports(r *request) error {
	counts, err := h.Store.CertificateReportCounts(r.Context(), h.now())
	if err != nil {
		return err
	}
	var d reportsData
	for _, rep := range store.CertReports {
		d.Reports = append(d.Reports, reportLink{rep, reportTitles[rep], counts[rep]})
	}
	return r.render(http.StatusOK, "reports", "Reports", "reports", d)
}

// reportData is a certificate report's page data.
type reportData struct {
	Report  store.CertReport
	Title   string
	Rows    []store.CertReportRow
	Pager   *Pager
	CSVURL  string
	AsOfDay time.Time
}

// reportCertificates lists the certificates of ?status= (a store.CertReport), a page at a
// time, or all of them as CSV (?format=csv).
func (h *Handler) reportCertificates(r *request) error {
	rep := store.CertReport(r.query("status"))
	if !rep.Valid() {
		return badRequest("status: one of active, suspended, revoked or expired")
	}
	now := h.now()
	switch r.query("format") {
	case "csv":
		return h.reportCertificatesCSV(r, rep, now)
	case "", "html":
	default:
		return badRequest("format: csv or none")
	}
	p := r.pager(reportPageSize)
	rows, err := h.Store.CertificateReport(r.Context(), rep, now, p.Limit(), p.Offset())
	if err != nil {
		return err
	}
	rows = rows[:p.Rows(r, len(rows))]
	d := reportData{Report: rep, Title: reportTitles[rep], Rows: rows, Pager: p, AsOfDay: now.UTC().Truncate(24 * time.Hour),
		CSVURL: "/console/reports/certificates?status=" + string(rep) + "&format=csv"}
	return r.render(http.StatusOK, "report_certificates", d.Title, "reports", d)
}

// certCSVHeader is the header row of a certificate report's CSV.
var certCSVHeader = []string{"id", "chr", "car", "role", "status", "not_before", "not_after", "holder_id"}

// reportCertificatesCSV streams the report as CSV, row by row from keyset batches: memory
// stays bounded however many certificates there are. An error after the first byte
// aborts the response (the client sees a failed download, never a shorter file).
func (h *Handler) reportCertificatesCSV(r *request, rep store.CertReport, now time.Time) error {
	var cw *csv.Writer
	rows := 0
	start := func() error {
		setDownload(r.w, "text/csv; charset=utf-8", fmt.Sprintf("certificates-%s-%s.csv", rep, now.UTC().Format("20060102")))
		cw = csv.NewWriter(r.w)
		return cw.Write(certCSVHeader)
	}
	err := h.Store.EachCertificateReport(r.Context(), rep, now, func(c store.CertReportRow) error {
		if cw == nil {
			if err := start(); err != nil {
				return err
			}
		}
		holder := ""
		if c.HolderID != nil {
			holder = strconv.FormatInt(*c.HolderID, 10)
		}
		rows++
		return cw.Write(csvSafe(strconv.FormatInt(c.ID, 10), c.CHR, c.CAR, string(c.Role), string(c.Status),
			c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly), holder))
	})
	if err == nil && cw == nil {
		err = start() // no rows: the header alone
	}
	if err == nil {
		cw.Flush()
		err = cw.Error()
	}
	if err != nil {
		if cw == nil {
			return err
		}
		h.logger().Error("console: certificate report cut short", "report", rep, "rows", rows, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// csvSafe returns the cells with those a spreadsheet would read as a formula (starting
// with = + - @, a tab or a carriage return) prefixed with a single quote.
func csvSafe(cells ...string) []string {
	for i, c := range cells {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			cells[i] = "'" + c
		}
	}
	return cells
}

// statGroupings are the statistics' groupings with their column titles.
var statGroupings = []struct {
	By    store.CertStatBy
	Title string
}{
	{store.CertStatMonth, "Month of issue"},
	{store.CertStatRole, "Role"},
	{store.CertStatCountry, "Country"},
}

// statRow is a group of the statistics with its label (a role in words).
type statRow struct {
	Label string
	N     int64
}

// statisticsData is the statistics page's data: one grouping (each is a scan of an
// index of all certificates: one per request keeps the page quick).
type statisticsData struct {
	By       store.CertStatBy
	Title    string
	Rows     []statRow
	Total    int64
	CSVURL   string
	Grouping []statLink
}

// statLink is a link to a grouping of the statistics.
type statLink struct {
	By      store.CertStatBy
	Current bool
}

// reportStatistics counts the certificates per month of issue (not_before), role or
// country (?by=, month by default), grouped by the database; ?format=csv downloads it.
func (h *Handler) reportStatistics(r *request) error {
	by := store.CertStatBy(r.query("by"))
	if by == "" {
		by = store.CertStatMonth
	}
	d := statisticsData{By: by, CSVURL: "/console/reports/statistics?format=csv&by=" + string(by)}
	for _, g := range statGroupings {
		d.Grouping = append(d.Grouping, statLink{g.By, g.By == by})
		if g.By == by {
			d.Title = g.Title
		}
	}
	if d.Title == "" {
		return badRequest("by: month, role or country")
	}
	switch r.query("format") {
	case "csv":
		return h.reportStatisticsCSV(r, by)
	case "", "html":
	default:
		return badRequest("format: csv or none")
	}
	rows, err := h.Store.CertificateStatistics(r.Context(), by)
	if err != nil {
		return err
	}
	for _, row := range rows {
		label := row.Key
		if by == store.CertStatRole {
			label = holderRoleName(store.Role(row.Key))
		}
		d.Rows = append(d.Rows, statRow{label, row.N})
		d.Total += row.N
	}
	return r.render(http.StatusOK, "report_statistics", "Certificate statistics", "reports", d)
}

// reportStatisticsCSV writes one grouping of the statistics as CSV.
func (h *Handler) reportStatisticsCSV(r *request, by store.CertStatBy) error {
	rows, err := h.Store.CertificateStatistics(r.Context(), by)
	if err != nil {
		return err
	}
	setDownload(r.w, "text/csv; charset=utf-8", fmt.Sprintf("certificates-by-%s-%s.csv", by, h.now().UTC().Format("20060102")))
	cw := csv.NewWriter(r.w)
	_ = cw.Write([]string{string(by), "certificates"})
	for _, row := range rows {
		_ = cw.Write(csvSafe(row.Key, strconv.FormatInt(row.N, 10)))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		h.logger().Warn("console: statistics CSV", "err", err)
	}
	return nil
}
