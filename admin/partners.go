package admin

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"eacgate/cvc"
	"eacgate/ops"
	"eacgate/store"
	"eacgate/trust"
)

// The partner registry's endpoints (TR-03139 3.2.2, Appendix D): registration with the
// form's SHA-256 checked, status, the DV list and its DVs' status.
func (h *Handler) partnerRoutes() []route {
	read, dvVerbs := ops.ActionRead, map[string]ops.Action{"suspend": ops.ActionHolderSuspend, "reinstate": ops.ActionHolderReinstate}
	return []route{
		{"GET /admin/v1/partners", read, nil, h.listPartners},
		{"POST /admin/v1/partners", ops.ActionPartnerRegister, nil, h.registerPartner},
		{"GET /admin/v1/partners/{country}", read, nil, h.showPartner},
		{"POST /admin/v1/partners/{country}/{action}", "", map[string]ops.Action{"suspend": ops.ActionPartnerSuspend, "reinstate": ops.ActionPartnerReinstate}, h.partnerAction},
		{"GET /admin/v1/partners/{country}/dvs", read, nil, h.listPartnerDVs},
		{"POST /admin/v1/partners/{country}/dvs", ops.ActionPartnerDVAdd, nil, h.addPartnerDV},
		{"POST /admin/v1/partners/{country}/dvs/{mnemonic}/{action}", "", dvVerbs, h.partnerDVAction},
	}
}

// Partner is a registered partner country as the API shows it.
type Partner struct {
	Country        string    `json:"country"`
	URL            string    `json:"url"`
	Status         string    `json:"status"`
	Rights         string    `json:"rights"`
	SPOCRootSHA256 string    `json:"spoc_root_sha256"`
	SPOCRoot       string    `json:"spoc_root,omitempty"` // PEM
	CreatedAt      time.Time `json:"created_at"`
	// CVCA are the partner's stored CVCA certificates (show only).
	CVCA []PartnerCVCA `json:"cvca,omitempty"`
	// Fetched is how many newer CVCA certificates GetCACertificates brought at
	// registration, FetchError why none could be fetched (registration only).
	Fetched    *int   `json:"fetched,omitempty"`
	FetchError string `json:"fetch_error,omitempty"`
}

// PartnerCVCA is one of a partner's CVCA certificates.
type PartnerCVCA struct {
	CHR    string `json:"chr"`
	SHA256 string `json:"sha256"`
}

// PartnerDV is a DV of a partner's list.
type PartnerDV struct {
	Holder
	MaintainingCVCA string `json:"maintaining_cvca,omitempty"`
}

func partnerOut(p store.Partner) Partner {
	return Partner{Country: p.Country, URL: p.URL, Status: string(p.Status), Rights: p.Rights, SPOCRootSHA256: p.SPOCRootSHA256, CreatedAt: p.CreatedAt}
}

func (r *request) country() string { return strings.ToUpper(r.PathValue("country")) }

// partnerError maps the registration's refusals to 400 and the store's errors as usual.
func partnerError(err error) error {
	if errors.Is(err, ops.ErrFingerprintMismatch) || errors.Is(err, ops.ErrInvalidRegistration) {
		return fail(http.StatusBadRequest, "%s", ops.PublicText(err))
	}
	return storeError(err)
}

func (h *Handler) listPartners(r *request) (any, error) {
	ps, err := h.Store.ListPartners(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]Partner, 0, len(ps))
	for _, p := range ps {
		out = append(out, partnerOut(p))
	}
	return out, nil
}

func (h *Handler) showPartner(r *request) (any, error) {
	p, err := h.Store.PartnerByCountry(r.Context(), r.country())
	if err != nil {
		return nil, storeError(err)
	}
	out := partnerOut(*p)
	out.SPOCRoot = string(p.SPOCRoot)
	chain, err := trust.New(h.Store).Chain(r.Context(), p.Country)
	if err != nil {
		return nil, err
	}
	out.CVCA = []PartnerCVCA{}
	for _, c := range chain {
		out.CVCA = append(out.CVCA, PartnerCVCA{CHR: c.CHR, SHA256: trust.CertificateSHA256(c)})
	}
	return out, nil
}

func (h *Handler) registerPartner(r *request) (any, error) {
	var in struct {
		Country        string   `json:"country"`
		URL            string   `json:"url"`
		SPOCRoot       string   `json:"spoc_root"` // PEM
		SPOCRootSHA256 string   `json:"spoc_root_sha256"`
		CVCA           []string `json:"cvca_certificates"` // base64 of the DER
		CVCASHA256     []string `json:"cvca_sha256"`
		Rights         string   `json:"rights"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	reg := ops.PartnerRegistration{Country: strings.ToUpper(in.Country), URL: in.URL, SPOCRootPEM: []byte(in.SPOCRoot),
		SPOCRootSHA256: in.SPOCRootSHA256, CVCASHA256: in.CVCASHA256, Rights: in.Rights}
	for i, s := range in.CVCA {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fail(http.StatusBadRequest, "cvca_certificates[%d]: not base64", i)
		}
		c, err := cvc.ParseCertificate(raw)
		if err != nil {
			return nil, fail(http.StatusBadRequest, "cvca_certificates[%d]: %v", i, err)
		}
		reg.CVCA = append(reg.CVCA, c)
	}
	done, err := h.critical(r, r.actor(), ops.ActionPartnerRegister, reg.Params(), func(out any) (any, error) { return out, nil })
	if err != nil {
		return nil, partnerError(err)
	}
	p, ok := done.(*store.Partner)
	if !ok {
		return done, nil // the proposal (202)
	}
	out := partnerOut(*p)
	if h.FetchPartnerCA != nil {
		// Completing the registration: the partner's newer CVCA certificates, by
		// GetCACertificates via SPOC (links verified against the registered ones).
		n, err := h.FetchPartnerCA(r.Context(), p.Country)
		out.Fetched = &n
		if err != nil {
			h.logger().Warn("registered partner: GetCACertificates", "country", p.Country, "err", err)
			out.FetchError = "GetCACertificates failed (a partner new to the routing table is reachable once the gateway restarts); its CVCA certificates are fetched when its answers need them"
		}
	}
	return out, nil
}

func (h *Handler) partnerAction(r *request) (any, error) {
	svc := h.ops()
	do, ok := map[string]func(context.Context, ops.Actor, string, string) error{
		"suspend": svc.SuspendPartner, "reinstate": svc.ReinstatePartner,
	}[r.PathValue("action")]
	if !ok {
		return nil, fail(http.StatusNotFound, "unknown action %q", r.PathValue("action"))
	}
	var in reasonBody
	if err := r.decode(&in); err != nil || in.Reason == "" {
		return nil, fail(http.StatusBadRequest, "need {\"reason\": ...}")
	}
	if r.PathValue("action") == "reinstate" {
		params := ops.PartnerReinstatement{Country: r.country(), Reason: in.Reason}
		if out, err := h.critical(r, r.actor(), ops.ActionPartnerReinstate, params, func(any) (any, error) { return nil, nil }); err != nil {
			return nil, storeError(err)
		} else if out != nil {
			return out, nil // the proposal (202)
		}
	} else if err := do(r.Context(), r.actor(), r.country(), in.Reason); err != nil {
		return nil, storeError(err)
	}
	p, err := h.Store.PartnerByCountry(r.Context(), r.country())
	if err != nil {
		return nil, storeError(err)
	}
	return partnerOut(*p), nil
}

func (h *Handler) listPartnerDVs(r *request) (any, error) {
	dvs, err := h.Store.PartnerDVs(r.Context(), r.country())
	if err != nil {
		return nil, err
	}
	out := make([]PartnerDV, 0, len(dvs))
	for _, d := range dvs {
		out = append(out, PartnerDV{Holder: holderOut(d.Holder), MaintainingCVCA: d.MaintainingCVCA})
	}
	return out, nil
}

func (h *Handler) addPartnerDV(r *request) (any, error) {
	var in struct {
		Mnemonic        string `json:"mnemonic"`
		MaintainingCVCA string `json:"maintaining_cvca"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	params := ops.PartnerDVRegistration{Country: r.country(), Mnemonic: in.Mnemonic, MaintainingCVCA: in.MaintainingCVCA}
	out, err := h.critical(r, r.actor(), ops.ActionPartnerDVAdd, params, func(out any) (any, error) {
		return PartnerDV{Holder: holderOut(*out.(*store.Holder)), MaintainingCVCA: in.MaintainingCVCA}, nil
	})
	if err != nil {
		return nil, partnerError(err)
	}
	return out, nil
}

func (h *Handler) partnerDVAction(r *request) (any, error) {
	svc := h.ops()
	do, ok := map[string]func(context.Context, ops.Actor, int64, string) (*store.Holder, error){
		"suspend": svc.SuspendHolder, "reinstate": svc.ReinstateHolder,
	}[r.PathValue("action")]
	if !ok {
		return nil, fail(http.StatusNotFound, "unknown action %q", r.PathValue("action"))
	}
	var in reasonBody
	if err := r.decode(&in); err != nil || in.Reason == "" {
		return nil, fail(http.StatusBadRequest, "need {\"reason\": ...}")
	}
	dv, err := svc.PartnerDV(r.Context(), r.country(), r.PathValue("mnemonic"))
	if err != nil {
		return nil, storeError(err)
	}
	if out, ok, err := h.criticalHolderAction(r, r.PathValue("action"), dv.ID, in.Reason); ok {
		return out, err
	}
	x, err := do(r.Context(), r.actor(), dv.ID, in.Reason)
	if err != nil {
		return nil, storeError(err)
	}
	return holderOut(*x), nil
}
