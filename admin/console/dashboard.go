package console

import (
	"fmt"
	"net/http"
	"time"

	"eacgate/ops"
	"eacgate/store"
)

// The dashboard (this file) and the CA hierarchy (hierarchy.go): what expires when, what
// waits for an operator, which partner or delivery is failing. Every panel is one bounded
// aggregation of the store (store/consoledash.go).
func (h *Handler) dashboardRoutes() []route {
	return []route{
		{"GET /console/{$}", ops.ActionRead, h.dashboard},
		{"GET /console/hierarchy", ops.ActionRead, h.hierarchy},
	}
}

// Lead times of the certificates the gateway signs with (TR-03139): the dashboard warns
// when no more days than these are left, so that the successor arrives in time.
const (
	// ForeignDVLeadDays: a DV should schedule at least 11 days for a new certificate from
	// a foreign CVCA (TR-03139 4.4.2.2; 3 more when the exchange falls back to e-mail).
	ForeignDVLeadDays = 11
	// DomesticDVLeadDays: a CVCA must process a DV's request within 7 days (TR-03139
	// 4.4.2.2).
	DomesticDVLeadDays = 7
	// CVCALeadDays: the partners must have the CVCA's successor (its link certificate)
	// before the current certificate expires (TR-03139 4.4.1); 90 days is the notice
	// Appendix C.2.5 gives for a successive SPOC root, the same kind of trust anchor change.
	CVCALeadDays = 90
)

// Dashboard sizes.
const (
	expiringWithinDays = 30 // the "Expiring soonest" table
	expiringRows       = 20
	newestProposals    = 5
	refusalDays        = 7
)

// dashboardData is the dashboard's data.
type dashboardData struct {
	Counts   *store.RoleStatusCounts
	Expiring []store.ExpiringCount
	Chart    expiryChart
	Soonest  []expiringRow
	// InUse are the certificates the gateway signs with; DV is false when the gateway's
	// own DV is not configured or not registered.
	InUse []inUseRow
	DV    bool
	// Held counts requests waiting for approval; Proposals the open two-person proposals
	// (ProposalsCapped: at least that many), Newest the newest of them.
	Held            int64
	Proposals       int
	ProposalsCapped bool
	Newest          []ops.Proposal
	Outbox          store.OutboxStats
	OldestAge       string
	OldestLevel     string
	Partners        []store.PartnerContact
	Refusals        []store.CodeCount
	RefusalsCapped  bool
	RefusalDays     int
	ExpiringDays    int
}

// expiringRow is a row of the "Expiring soonest" table.
type expiringRow struct {
	store.Certificate
	DaysLeft int
	Level    string // warn or bad
}

// inUseRow is a certificate the gateway signs with, its remaining days and the warning.
type inUseRow struct {
	Kind     string
	Cert     store.Certificate
	DaysLeft int
	LeadDays int
	// Level is "" (fine), warn (within the lead time) or bad (expired); Note says why.
	Level, Note string
}

// daysUntil is the number of days from now's date to t's date (a certificate expires at
// the end of its NotAfter date: 0 is its last day, negative expired).
func daysUntil(now, t time.Time) int {
	d := t.UTC().Truncate(24 * time.Hour).Sub(now.UTC().Truncate(24 * time.Hour))
	return int(d.Round(time.Hour).Hours()) / 24
}

// inUse makes the row of c with the lead time of its kind (TR-03139 section named in why).
func inUse(now time.Time, kind string, c store.Certificate, lead int, why string) inUseRow {
	r := inUseRow{Kind: kind, Cert: c, DaysLeft: daysUntil(now, c.NotAfter), LeadDays: lead}
	switch {
	case r.DaysLeft < 0:
		r.Level, r.Note = "bad", "Expired: nothing can be signed under it."
	case r.DaysLeft <= lead:
		r.Level, r.Note = "warn", fmt.Sprintf("Renew now: %d days or fewer left, %s.", lead, why)
	}
	return r
}

func (h *Handler) dashboard(r *request) error {
	ctx := r.Context()
	now := h.now()
	d := dashboardData{RefusalDays: refusalDays, ExpiringDays: expiringWithinDays}
	var err error
	if d.Counts, err = h.Store.CountByRoleStatus(ctx); err != nil {
		return err
	}
	if d.Expiring, err = h.Store.CountExpiringWindows(ctx, now); err != nil {
		return err
	}
	d.Chart = newExpiryChart(d.Expiring)
	soon, err := h.Store.ExpiringSoonest(ctx, now, expiringWithinDays, expiringRows)
	if err != nil {
		return err
	}
	for _, c := range soon {
		row := expiringRow{Certificate: c, DaysLeft: daysUntil(now, c.NotAfter), Level: "warn"}
		if row.DaysLeft <= 7 {
			row.Level = "bad"
		}
		d.Soonest = append(d.Soonest, row)
	}
	use, err := h.Store.CertificatesInUse(ctx, now, h.Country, h.DVMnemonic)
	if err != nil {
		return err
	}
	for _, c := range use.CVCA {
		kind := "CVCA (self-signed)"
		if c.CAR != c.CHR {
			kind = "CVCA (link certificate)"
		}
		d.InUse = append(d.InUse, inUse(now, kind, c, CVCALeadDays, "partners need the successor in time (TR-03139 4.4.1)"))
	}
	d.DV = use.DV != nil
	if use.DVDomestic != nil {
		d.InUse = append(d.InUse, inUse(now, "Our DV (domestic)", *use.DVDomestic, DomesticDVLeadDays,
			"the CVCA may take 7 days (TR-03139 4.4.2.2)"))
	}
	for _, c := range use.DVForeign {
		d.InUse = append(d.InUse, inUse(now, "Our DV from "+c.CAR[:2], c, ForeignDVLeadDays,
			"a foreign DV certificate takes up to 11 days (TR-03139 4.4.2.2)"))
	}
	if d.Held, err = h.Store.CountPendingApprovals(ctx); err != nil {
		return err
	}
	open, err := h.ops().ListProposals(ctx, store.ProposalOpen)
	if err != nil {
		return err
	}
	d.Proposals, d.ProposalsCapped = len(open), len(open) >= 1000
	d.Newest = open[:min(len(open), newestProposals)]
	if d.Outbox, err = h.Store.OutboxStatistics(ctx); err != nil {
		return err
	}
	if !d.Outbox.OldestPending.IsZero() {
		age := now.Sub(d.Outbox.OldestPending).Truncate(time.Second)
		d.OldestAge = age.String()
		switch {
		case age > 24*time.Hour:
			d.OldestLevel = "bad"
		case age > time.Hour:
			d.OldestLevel = "warn"
		}
	}
	if d.Partners, err = h.Store.PartnerContacts(ctx); err != nil {
		return err
	}
	if d.Refusals, d.RefusalsCapped, err = h.Store.RecentRefusals(ctx, now.AddDate(0, 0, -refusalDays)); err != nil {
		return err
	}
	return r.render(http.StatusOK, "dashboard", "Dashboard", "dashboard", d)
}

// expiryChart is the server-rendered SVG bar chart of the certificates expiring within
// 7, 30 and 90 days, one group of three horizontal bars per role.
type expiryChart struct {
	Width, Height int
	Groups        []chartGroup
	Summary       string
}

type chartGroup struct {
	Label  string
	LabelY int
	Bars   []chartBar
}

type chartBar struct {
	Y, W, TextX, TextY int
	N                  int64
	Fill, Window       string
}

// Geometry of the chart (user units of the SVG's viewBox).
const (
	chartLabelW = 180
	chartBarMax = 360
	chartBarH   = 14
	chartGroupH = 3*chartBarH + 16
)

func newExpiryChart(counts []store.ExpiringCount) expiryChart {
	var top int64
	for _, c := range counts {
		top = max(top, c.In90)
	}
	ch := expiryChart{Width: chartLabelW + chartBarMax + 140, Height: max(1, len(counts))*chartGroupH + 8}
	summary := ""
	for i, c := range counts {
		y := 4 + i*chartGroupH
		g := chartGroup{Label: holderRoleName(c.Role), LabelY: y + chartBarH + chartBarH/2 + 4}
		for j, b := range []struct {
			n      int64
			fill   string
			window string
		}{{c.In7, "#cf222e", "7 days"}, {c.In30, "#9a6700", "30 days"}, {c.In90, "#0b5cad", "90 days"}} {
			w := 0
			if top > 0 {
				w = int(b.n * chartBarMax / top)
			}
			if b.n > 0 {
				w = max(w, 2)
			}
			by := y + j*chartBarH
			g.Bars = append(g.Bars, chartBar{Y: by, W: w, TextX: chartLabelW + w + 6, TextY: by + chartBarH - 3, N: b.n, Fill: b.fill, Window: b.window})
		}
		ch.Groups = append(ch.Groups, g)
		summary += fmt.Sprintf("%s: %d within 7, %d within 30, %d within 90 days. ", g.Label, c.In7, c.In30, c.In90)
	}
	ch.Summary = summary
	return ch
}
