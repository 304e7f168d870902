package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"eacgate/auditlog"
	"eacgate/ops"
	"eacgate/store"
)

// The audit log: browsing with filters, the chain's verification and the export (the
// same as GET /admin/v1/audit/verify and "eacgate audit export"), and the reports
// (reports.go), which every role may read.
func (h *Handler) auditRoutes() []route {
	return append([]route{
		{"GET /console/audit", ops.ActionAuditRead, h.auditLog},
		{"GET /console/audit/verify", ops.ActionAuditRead, h.auditVerify},
		{"GET /console/audit/export", ops.ActionAuditRead, h.auditExport},
	}, h.reportRoutes()...)
}

// auditPageSize is the number of events on a page of the audit log.
const auditPageSize = 50

// auditForm is the audit log's filter form as the operator typed it.
type auditForm struct {
	Action, Actor, Target, Outcome, From, To string
}

// auditRow is an event with its details shortened for the table.
type auditRow struct {
	store.AuditEvent
	// Short is the beginning of the details; Full (when they are longer) all of them, indented.
	Short, Full string
}

// auditData is the audit log page's data.
type auditData struct {
	Form     auditForm
	Outcomes []string
	Events   []auditRow
	// NextURL is the older page (the same filters); NewestURL the first page when this is
	// not it.
	NextURL, NewestURL string
	// SearchedFrom: the page stopped at its search window (store.AuditPage).
	SearchedFrom int64
	Before       int64
}

// detailsShort is the number of characters of an event's details shown in the table.
const detailsShort = 80

// auditLog browses the audit log newest first (GET form of filters, keyset pages by seq).
func (h *Handler) auditLog(r *request) error {
	form := auditForm{Action: r.query("action"), Actor: r.query("actor"), Target: r.query("target"),
		Outcome: r.query("outcome"), From: r.query("from"), To: r.query("to")}
	f := store.AuditFilter{Actor: form.Actor, Target: form.Target, Outcome: form.Outcome, Limit: auditPageSize}
	if f.Action = strings.TrimSuffix(form.Action, "*"); f.Action != form.Action || strings.HasSuffix(f.Action, ".") {
		f.ActionPrefix = true
	}
	for _, s := range []string{form.Action, form.Actor, form.Target} {
		if len(s) > 200 {
			return badRequest("A filter is longer than 200 characters.")
		}
	}
	if f.Outcome != "" && !validAuditOutcome(f.Outcome) {
		return badRequest("Unknown outcome %q: one of %s.", f.Outcome, strings.Join(store.AuditOutcomes, ", "))
	}
	var err error
	if f.From, err = parseDay("from", form.From); err != nil {
		return err
	}
	if f.To, err = parseDay("to", form.To); err != nil {
		return err
	}
	if !f.To.IsZero() {
		f.To = f.To.AddDate(0, 0, 1) // the To day included
	}
	var before int64
	if s := r.query("before"); s != "" {
		if before, err = strconv.ParseInt(s, 10, 64); err != nil || before < 1 {
			return badRequest("bad before %q", s)
		}
		f.Before = before
	}
	page, err := h.Store.ConsoleAudit(r.Context(), f)
	if err != nil {
		return err
	}
	d := auditData{Form: form, Outcomes: store.AuditOutcomes, SearchedFrom: page.SearchedFrom, Before: before}
	for _, e := range page.Events {
		d.Events = append(d.Events, auditRowOf(e))
	}
	link := func(before int64) string {
		q := r.URL.Query()
		q.Del("before")
		if before > 0 {
			q.Set("before", strconv.FormatInt(before, 10))
		}
		if len(q) == 0 {
			return r.URL.Path
		}
		return r.URL.Path + "?" + q.Encode()
	}
	if page.Next > 0 {
		d.NextURL = link(page.Next)
	}
	if before > 0 {
		d.NewestURL = link(0)
	}
	return r.render(http.StatusOK, "audit", "Audit log", "audit", d)
}

func validAuditOutcome(o string) bool {
	for _, v := range store.AuditOutcomes {
		if o == v {
			return true
		}
	}
	return false
}

// parseDay parses a date field (YYYY-MM-DD, UTC midnight); empty is the zero time.
func parseDay(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, badRequest("%s: a date as YYYY-MM-DD, not %q", field, s)
	}
	return t, nil
}

// auditRowOf shortens e's details for the table.
func auditRowOf(e store.AuditEvent) auditRow {
	row := auditRow{AuditEvent: e, Short: e.Details}
	if utf8.RuneCountInString(e.Details) > detailsShort {
		row.Short = string([]rune(e.Details)[:detailsShort]) + "…"
		var b bytes.Buffer
		if json.Indent(&b, []byte(e.Details), "", "  ") == nil {
			row.Full = b.String()
		} else {
			row.Full = e.Details
		}
	}
	return row
}

// verifyData is the verification page's data.
type verifyData struct {
	OK, Keyed                    bool
	Events, Unkeyed, Checkpoints int
	// Head is the head file's checkpoint, Last the newest stored one (zero: none).
	Head, Last store.AuditCheckpoint
	Uncovered  int64
	// Problem says where the chain breaks.
	Problem string
}

// auditVerify runs the verification of GET /admin/v1/audit/verify: with the audit key
// the MACs, the signed checkpoints and the head file, else the hash chain alone. It
// changes nothing; on a long log it takes a while, but only when asked for.
func (h *Handler) auditVerify(r *request) error {
	var d verifyData
	var err error
	if h.Audit != nil {
		d.Keyed = true
		var rep auditlog.Report
		rep, err = h.Audit.Verify(r.Context())
		d.Events, d.Unkeyed, d.Checkpoints, d.Head, d.Uncovered = rep.Events, rep.Unkeyed, rep.Checkpoints, rep.Head, rep.Uncovered
		if last, ok, lerr := h.Store.LastAuditCheckpoint(r.Context()); lerr != nil {
			return lerr
		} else if ok {
			d.Last = last
		}
	} else {
		d.Events, err = h.Store.VerifyAudit(r.Context())
	}
	switch {
	case errors.Is(err, store.ErrAuditBroken):
		d.Problem = err.Error()
	case err != nil:
		return fmt.Errorf("console: verify audit: %w", err)
	default:
		d.OK = true
	}
	return r.render(http.StatusOK, "audit_verify", "Audit chain verification", "audit", d)
}

// auditExport streams the export of "eacgate audit export" (auditlog.Log.Export: JSON
// lines with the checkpoints and the checkpoint key, which "eacgate audit verify --file"
// checks offline) from the first event of ?since= (a date, YYYY-MM-DD) on.
func (h *Handler) auditExport(r *request) error {
	if h.Audit == nil {
		return &userError{http.StatusConflict, "The export needs the audit key, which this gateway does not use: export with \"eacgate audit export\" where the key file is."}
	}
	since := r.query("since")
	day, err := parseDay("since", since)
	if err != nil {
		return err
	}
	from := int64(1)
	if !day.IsZero() {
		seq, err := h.Store.FirstAuditSeqSince(r.Context(), day)
		if err != nil {
			return err
		}
		if from = seq; seq == 0 { // nothing since then: an export of no events
			last, err := h.Store.ListAudit(r.Context(), 1)
			if err != nil {
				return err
			}
			from = 1
			if len(last) == 1 {
				from = last[0].Seq + 1
			}
		}
	}
	name := "eacgate-audit-" + h.now().UTC().Format("20060102T150405Z") + ".jsonl"
	w := &lazyDownload{w: r.w, contentType: "application/jsonl", filename: name}
	sum, err := h.Audit.Export(r.Context(), w, from)
	if err != nil {
		if !w.started {
			return fmt.Errorf("console: audit export: %w", err)
		}
		h.logger().Error("console: audit export cut short", "operator", r.operator.Name, "err", err)
		panic(http.ErrAbortHandler) // the client sees a broken download, not a shorter file
	}
	if !sum.Verified {
		h.logger().Warn("console: audit export of a log that failed verification", "operator", r.operator.Name, "problem", sum.Problem)
	}
	return nil
}

// lazyDownload sets an attachment's headers at its first write, so that an error before
// any byte is an error page and not a download.
type lazyDownload struct {
	w                     http.ResponseWriter
	contentType, filename string
	started               bool
}

func (d *lazyDownload) Write(p []byte) (int, error) {
	if !d.started {
		d.started = true
		setDownload(d.w, d.contentType, d.filename)
	}
	return d.w.Write(p)
}

// setDownload sets the headers of a file download named filename.
func setDownload(w http.ResponseWriter, contentType, filename string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", "attachment; filename=\""+filename+"\"; filename*=UTF-8''"+url.PathEscape(filename))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
