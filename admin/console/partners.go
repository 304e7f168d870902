package console

import (
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"eacgate/cvc"
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
		{"GET /console/partners/new", ops.ActionPartnerRegister, h.newPartnerPage},
		{"POST /console/partners/new", ops.ActionPartnerRegister, h.registerPartner},
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

// newPartnerForm is the registration form's text values (kept when it is shown again; the
// files are chosen again).
type newPartnerForm struct {
	Country, URL, SPOCRootSHA256, CVCASHA256 string
	DG3, DG4                                 bool
}

type newPartnerData struct {
	Form  newPartnerForm
	Error string
}

func (h *Handler) newPartnerPage(r *request) error {
	return r.render(http.StatusOK, "partner_new", "Register a partner", "partners", newPartnerData{})
}

// registerPartner proposes a partner's registration from its registration form (Appendix
// D): the SPOC root and CVCA certificates uploaded, their SHA-256 typed from the signed
// form; ops refuses the registration unless they match. A two-person task, as the CLI's
// and the REST API's. The REST API then fetches the partner's newer CVCA certificates at
// once; from the console they come when its answers need them.
func (h *Handler) registerPartner(r *request) error {
	f := newPartnerForm{Country: strings.ToUpper(r.formValue("country")), URL: r.formValue("url"),
		SPOCRootSHA256: r.formValue("spoc_root_sha256"), CVCASHA256: r.formValue("cvca_sha256"),
		DG3: r.formValue("dg3") != "", DG4: r.formValue("dg4") != ""}
	again := func(status int, msg string) error {
		return r.render(status, "partner_new", "Register a partner", "partners", newPartnerData{Form: f, Error: msg})
	}
	reg := ops.PartnerRegistration{Country: f.Country, URL: f.URL, SPOCRootSHA256: f.SPOCRootSHA256,
		CVCASHA256: strings.Fields(strings.ReplaceAll(f.CVCASHA256, ",", " "))}
	var rights []string
	if f.DG3 {
		rights = append(rights, "dg3")
	}
	if f.DG4 {
		rights = append(rights, "dg4")
	}
	reg.Rights = strings.Join(rights, ",")
	if r.MultipartForm == nil {
		return again(http.StatusBadRequest, "Choose the SPOC root and the CVCA certificate files.")
	}
	roots := r.MultipartForm.File["spoc_root"]
	if len(roots) != 1 {
		return again(http.StatusBadRequest, "Choose the SPOC root CA certificate file (PEM).")
	}
	var err error
	if reg.SPOCRootPEM, err = readUpload(roots[0]); err != nil {
		return again(http.StatusBadRequest, "SPOC root: "+err.Error())
	}
	files := r.MultipartForm.File["cvca"]
	if len(files) == 0 {
		return again(http.StatusBadRequest, "Choose the CVCA certificate files.")
	}
	for _, fh := range files {
		raw, err := readUpload(fh)
		if err == nil {
			var c *cvc.Certificate
			if c, err = cvc.ParseCertificate(cvcBytes(raw)); err == nil {
				reg.CVCA = append(reg.CVCA, c)
				continue
			}
		}
		return again(http.StatusBadRequest, fmt.Sprintf("CVCA certificate %s: not a CV certificate (binary, hex or PEM).", fh.Filename))
	}
	p, err := h.ops().Propose(r.Context(), r.actor(), ops.ActionPartnerRegister, reg.Params())
	if err != nil {
		status := http.StatusConflict
		if errors.Is(err, ops.ErrFingerprintMismatch) || errors.Is(err, ops.ErrInvalidRegistration) {
			status = http.StatusBadRequest
		}
		return again(status, "Not registered: "+ops.PublicText(err)+".")
	}
	if p.Executed() {
		return r.done("/console/partners/"+f.Country, fmt.Sprintf("Partner %s registered.", f.Country))
	}
	// The flash names the proposal; its page shows the whole description (sentence and JSON).
	return r.done(fmt.Sprintf("/console/proposals/%d", p.ID),
		fmt.Sprintf("Proposal #%d waits for the approval of a second person: registration of partner %s.", p.ID, f.Country))
}

// maxUpload bounds an uploaded certificate (the form's whole body is bounded by maxForm).
const maxUpload = 16 << 10

// readUpload reads an uploaded file.
func readUpload(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, errors.New("unreadable upload")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxUpload+1))
	if err != nil || len(b) == 0 || len(b) > maxUpload {
		return nil, errors.New("empty, unreadable or too large")
	}
	return b, nil
}

// cvcBytes is a CV certificate file's encoding: binary, hex text or PEM-like base64, as
// operators receive them (like eacgate cvc print).
func cvcBytes(b []byte) []byte {
	if blk, _ := pem.Decode(b); blk != nil {
		return blk.Bytes
	}
	text := strings.Join(strings.Fields(string(b)), "")
	if len(text) > 0 && len(text)%2 == 0 {
		if h, err := hex.DecodeString(text); err == nil {
			return h
		}
	}
	return b
}
