package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"eacgate/ops"
	"eacgate/store"
	"eacgate/trust"
)

// The partner registry (TR-03139 3.2.2, Appendix D): the partners with their SPOC, SPOC
// root and CVCA roots' fingerprints and last contact; a partner's page with its DV list
// and the messages exchanged with it. Suspending is immediate; reinstating a partner and
// adding a DV to its list are two-person tasks (ops.Tasks), proposed with r.critical.
func (h *Handler) partnerRoutes() []route {
	return []route{
		{"GET /console/partners", ops.ActionRead, h.partnersPage},
		{"GET /console/partners/{country}", ops.ActionRead, h.partnerPage},
		{"POST /console/partners/{country}/suspend", ops.ActionPartnerSuspend, h.suspendPartner},
		{"POST /console/partners/{country}/reinstate", ops.ActionPartnerReinstate, h.reinstatePartner},
		{"POST /console/partners/{country}/dvs", ops.ActionPartnerDVAdd, h.addPartnerDV},
	}
}

// maxPartners bounds the registry's page (a partner is a country: a few dozen at most).
const maxPartners = 300

// partnerCVCA is one of a partner's stored CVCA certificates.
type partnerCVCA struct {
	CHR, CAR, SHA256 string
	Link             bool // a link certificate (CAR is not its CHR)
	Expires          time.Time
}

// partnerRow is a partner as the pages show it.
type partnerRow struct {
	store.Partner
	CVCA        []partnerCVCA
	LastContact time.Time
}

// partnerRow reads p's CVCA chain and last contact.
func (h *Handler) partnerRow(r *request, p store.Partner) (partnerRow, error) {
	row := partnerRow{Partner: p}
	chain, err := trust.New(h.Store).Chain(r.Context(), p.Country)
	if err != nil {
		return row, err
	}
	for _, c := range chain {
		row.CVCA = append(row.CVCA, partnerCVCA{CHR: c.CHR, CAR: c.CAR, SHA256: trust.CertificateSHA256(c), Link: c.CAR != c.CHR,
			Expires: c.ExpirationDate.Time()})
	}
	row.LastContact, err = h.Store.PartnerLastContact(r.Context(), p.Country)
	return row, err
}

type partnersData struct {
	Partners  []partnerRow
	Truncated bool
}

func (h *Handler) partnersPage(r *request) error {
	ps, err := h.Store.ListPartners(r.Context())
	if err != nil {
		return err
	}
	d := partnersData{Truncated: len(ps) > maxPartners}
	for _, p := range ps[:min(len(ps), maxPartners)] {
		row, err := h.partnerRow(r, p)
		if err != nil {
			return err
		}
		d.Partners = append(d.Partners, row)
	}
	return r.render(http.StatusOK, "partners", "Partners", "partners", d)
}

type partnerData struct {
	partnerRow
	DVs      []store.PartnerDV
	Pager    *Pager
	Messages []generalMessage
}

// country is the path's partner country, upper case.
func (r *request) country() (string, error) {
	c := strings.ToUpper(r.PathValue("country"))
	if len(c) != 2 || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return "", badRequest("bad country %q", r.PathValue("country"))
	}
	return c, nil
}

func (h *Handler) partnerPage(r *request) error {
	country, err := r.country()
	if err != nil {
		return err
	}
	p, err := h.Store.PartnerByCountry(r.Context(), country)
	if err != nil {
		return err
	}
	row, err := h.partnerRow(r, *p)
	if err != nil {
		return err
	}
	pg := r.pager(50)
	dvs, err := h.Store.PartnerDVsPage(r.Context(), country, pg.Limit(), pg.Offset())
	if err != nil {
		return err
	}
	ms, err := h.Store.PartnerMessages(r.Context(), country, 20)
	if err != nil {
		return err
	}
	d := partnerData{partnerRow: row, DVs: dvs[:pg.Rows(r, len(dvs))], Pager: pg, Messages: h.generalMessages(r.Context(), ms)}
	return r.render(http.StatusOK, "partner", "Partner "+country, "partners", d)
}

func (h *Handler) suspendPartner(r *request) error {
	country, err := r.country()
	if err != nil {
		return err
	}
	back := "/console/partners/" + country
	reason := r.formValue("reason")
	if reason == "" {
		return badRequest("a suspension needs a reason")
	}
	if err := h.ops().SuspendPartner(r.Context(), r.actor(), country, reason); err != nil {
		return r.failed(back, err)
	}
	return r.done(back, fmt.Sprintf("Partner %s suspended: its SPOC's requests are refused and nothing is forwarded to it.", country))
}

// reinstatePartner proposes the reinstatement (a two-person task, as the REST API does).
func (h *Handler) reinstatePartner(r *request) error {
	country, err := r.country()
	if err != nil {
		return err
	}
	back := "/console/partners/" + country
	reason := r.formValue("reason")
	if reason == "" {
		return badRequest("a reinstatement needs a reason")
	}
	return r.critical(ops.ActionPartnerReinstate, ops.PartnerReinstatement{Country: country, Reason: reason}, back, back,
		fmt.Sprintf("Partner %s reinstated.", country))
}

// addPartnerDV proposes a DV for the partner's list (Appendix D part IV, a two-person task).
func (h *Handler) addPartnerDV(r *request) error {
	country, err := r.country()
	if err != nil {
		return err
	}
	back := "/console/partners/" + country
	mnemonic := r.formValue("mnemonic")
	if mnemonic == "" {
		return badRequest("a DV needs its mnemonic")
	}
	params := ops.PartnerDVRegistration{Country: country, Mnemonic: mnemonic, MaintainingCVCA: strings.ToUpper(r.formValue("maintaining_cvca"))}
	return r.critical(ops.ActionPartnerDVAdd, params, back, back, fmt.Sprintf("DV %s%s added to the list of %s.", country, mnemonic, country))
}
