package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/ops"
	"eacgate/store"
)

// Certificates: search, a certificate decoded as openpace's cvc-print shows it, its DER
// download, and its suspension, reinstatement and revocation.
func (h *Handler) certificateRoutes() []route {
	return []route{
		{"GET /console/certificates", ops.ActionRead, h.certificates},
		{"GET /console/certificates/{id}", ops.ActionRead, h.certificate},
		{"GET /console/certificates/{id}/der", ops.ActionRead, h.certificateDER},
		{"POST /console/certificates/{id}/suspend", ops.ActionCertificateSuspend, h.certificateStatus("suspend")},
		{"POST /console/certificates/{id}/reinstate", ops.ActionCertificateReinstate, h.certificateStatus("reinstate")},
		{"POST /console/certificates/{id}/revoke", ops.ActionCertificateRevoke, h.certificateStatus("revoke")},
	}
}

// expiringChoices are the "expiring within" choices (days), as the dashboard's chart.
var expiringChoices = []string{"7", "30", "90"}

type certificateFilters struct {
	Roles, Statuses, Expiring []option
	Country, CHR, CAR         string
}

type certificatesData struct {
	Filters      certificateFilters
	Certificates []store.Certificate
	Pager        *Pager
	// Order says how the list is sorted (a caption).
	Order string
}

// orderCaptions are the captions of the list's orders.
var orderCaptions = map[store.CertificateOrder]string{store.OrderNewest: "Newest first", store.OrderExpiry: "Soonest expiry first",
	store.OrderCHR: "By CHR, descending", store.OrderCAR: "By CAR, descending, then newest first"}

func (h *Handler) certificates(r *request) error {
	role, status, days := r.query("role"), r.query("status"), r.query("expiring")
	f := store.CertificateSearch{Role: store.Role(role), Status: store.CertStatus(status), Country: strings.ToUpper(r.query("country")),
		CHRPrefix: r.query("chr"), CARPrefix: r.query("car"), Now: h.now()}
	if (role != "" && !f.Role.Valid()) || (status != "" && !f.Status.Valid()) {
		return badRequest("unknown role or status")
	}
	if f.Country != "" && len(f.Country) != 2 {
		return badRequest("country: two letters")
	}
	if err := checkPrefix("CHR", f.CHRPrefix, 16); err != nil {
		return err
	}
	if err := checkPrefix("CAR", f.CARPrefix, 16); err != nil {
		return err
	}
	if days != "" {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 3650 {
			return badRequest("expiring: a number of days")
		}
		// As the REST API counts: whole days from today (UTC).
		f.ExpiringBefore = h.now().UTC().Truncate(24*time.Hour).AddDate(0, 0, n+1)
	}
	exp := []option{{Value: "", Label: "any time", Selected: days == ""}}
	for _, d := range expiringChoices {
		exp = append(exp, option{Value: d, Label: d + " days", Selected: d == days})
	}
	data := certificatesData{Filters: certificateFilters{Roles: roleOptions(role),
		Statuses: statusOptions(status, string(store.CertValid), string(store.CertSuspended), string(store.CertRevoked)),
		Expiring: exp, Country: f.Country, CHR: f.CHRPrefix, CAR: f.CARPrefix}, Order: orderCaptions[f.Order()]}
	p := r.pager(listPage)
	f.Limit, f.Offset = p.Limit(), p.Offset()
	cs, err := h.Store.SearchCertificates(r.Context(), f)
	if err != nil {
		return err
	}
	data.Certificates, data.Pager = cs[:p.Rows(r, len(cs))], p
	return r.render(http.StatusOK, "certificates", "Certificates", "certificates", data)
}

// decoded is a certificate as cvc-print shows it.
type decoded struct {
	CAR, CHR, Role, Terminal string
	Rights                   []string
	CHATBits                 string
	Effective, Expiration    string
	Algorithm, Key           string
	Extensions               []string
	Text                     string // cvc.Certificate.Describe
}

type certificateData struct {
	Certificate *store.Certificate
	Holder      *store.Holder
	Decoded     *decoded
	// DecodeError says why Raw does not parse.
	DecodeError string
	SHA256      string
	// KeepsStatus: this gateway keeps the certificate's status (buttons).
	KeepsStatus       bool
	CriticalReinstate bool
}

// pathCertificate is the certificate the path's {id} names.
func (h *Handler) pathCertificate(r *request) (*store.Certificate, error) {
	id, err := r.id("id")
	if err != nil {
		return nil, err
	}
	return h.Store.CertificateByID(r.Context(), id)
}

func (h *Handler) certificate(r *request) error {
	c, err := h.pathCertificate(r)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(c.Raw)
	data := certificateData{Certificate: c, SHA256: hex.EncodeToString(sum[:]), KeepsStatus: h.ops().KeepsStatus(c),
		CriticalReinstate: ops.CriticalCertificateReinstate(c)}
	if c.HolderID != nil {
		if data.Holder, err = h.Store.HolderByID(r.Context(), *c.HolderID); err != nil {
			return err
		}
	}
	if cert, err := cvc.ParseCertificate(c.Raw); err != nil {
		data.DecodeError = err.Error()
	} else {
		data.Decoded = h.decode(r.Context(), cert)
	}
	return r.render(http.StatusOK, "certificate", "Certificate "+c.CHR, "certificates", data)
}

// decode describes cert; an EC key without domain parameters is named by the curve of the
// issuers' chain above it (the CVCA's).
func (h *Handler) decode(ctx context.Context, cert *cvc.Certificate) *decoded {
	d := &decoded{CAR: cert.CAR, CHR: cert.CHR, Role: cert.Role().String(), Terminal: cert.CHAT.TypeName(), Rights: cert.CHAT.RightNames(),
		CHATBits: strings.ToUpper(hex.EncodeToString(cert.CHAT.Bits)), Effective: cert.EffectiveDate.String(),
		Expiration: cert.ExpirationDate.String(), Algorithm: cert.PublicKey.Algorithm.String()}
	if cert.IsLink() {
		d.Role = "CVCA (link certificate)"
	}
	var domain *ecc.Curve
	if cert.PublicKey.Algorithm.IsECDSA() && !cert.PublicKey.HasDomainParameters() {
		domain = h.issuerDomain(ctx, cert)
	}
	d.Key = cert.PublicKey.KeyDescription(domain)
	for _, e := range cert.Extensions {
		d.Extensions = append(d.Extensions, e.OID.String())
	}
	var b strings.Builder
	if err := cert.Describe(&b); err == nil {
		d.Text = b.String()
	}
	return d
}

// maxChain bounds the walk up the issuers (terminal, DV, link certificates, CVCA).
const maxChain = 6

// issuerDomain returns the EC domain parameters in force for cert: those of the first
// certificate up its chain (by CAR) that carries them; nil when none is stored.
func (h *Handler) issuerDomain(ctx context.Context, cert *cvc.Certificate) *ecc.Curve {
	car, seen := cert.CAR, map[string]bool{}
	for range maxChain {
		if seen[car] {
			return nil
		}
		seen[car] = true
		issuers, err := h.Store.CertificatesByCHR(ctx, car) // a CHR: its certificate, a CVCA's also its link
		if err != nil {
			h.logger().Warn("console: issuer of a certificate", "car", car, "err", err)
			return nil
		}
		next := ""
		for _, is := range issuers {
			ic, err := cvc.ParseCertificate(is.Raw)
			if err != nil {
				continue
			}
			if ic.PublicKey.HasDomainParameters() {
				if curve, err := ic.PublicKey.Curve(); err == nil {
					return curve
				}
			}
			if ic.CAR != ic.CHR {
				next = ic.CAR
			}
		}
		if next == "" {
			return nil
		}
		car = next
	}
	return nil
}

// derFileName is the download's file name: the CHR with anything but letters, digits,
// '-', '_' and '.' replaced (a header value, never a path).
func derFileName(chr string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, chr)
	if name == "" {
		name = "certificate"
	}
	return name + ".cvcert"
}

// certificateDER downloads the certificate as stored (DER).
func (h *Handler) certificateDER(r *request) error {
	c, err := h.pathCertificate(r)
	if err != nil {
		return err
	}
	r.w.Header().Set("Content-Type", "application/octet-stream")
	r.w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, derFileName(c.CHR)))
	r.w.Header().Set("Content-Length", strconv.Itoa(len(c.Raw)))
	_, err = r.w.Write(c.Raw)
	return err
}

// certificateStatus suspends, reinstates or revokes a certificate. As the REST API decides
// it (admin.certificateAction): revoking, and reinstating a certificate that is not a
// terminal's, are critical tasks proposed for a second person.
func (h *Handler) certificateStatus(verb string) func(*request) error {
	return func(r *request) error {
		id, err := r.id("id")
		if err != nil {
			return err
		}
		back := fmt.Sprintf("/console/certificates/%d", id)
		reason, err := r.reason(back)
		if reason == "" {
			return err
		}
		past := map[string]string{"suspend": "suspended", "reinstate": "reinstated", "revoke": "revoked"}[verb]
		if c, err := h.Store.CertificateByID(r.Context(), id); err == nil && (verb == "revoke" ||
			(verb == "reinstate" && ops.CriticalCertificateReinstate(c))) {
			task := map[string]ops.Action{"revoke": ops.ActionCertificateRevoke, "reinstate": ops.ActionCertificateReinstate}[verb]
			params := ops.CertificateStatusChange{CertificateID: id, CHR: c.CHR, Reason: reason}
			return r.critical(task, params, back, back, fmt.Sprintf("Certificate %s %s.", c.CHR, past))
		}
		svc := h.ops()
		var c *store.Certificate
		switch verb {
		case "suspend":
			c, err = svc.SuspendCertificate(r.Context(), r.actor(), id, reason)
		case "reinstate":
			c, err = svc.ReinstateCertificate(r.Context(), r.actor(), id, reason)
		default:
			c, err = svc.RevokeCertificate(r.Context(), r.actor(), id, reason)
		}
		if err != nil {
			return r.failed(back, err)
		}
		return r.done(back, fmt.Sprintf("Certificate %s %s.", c.CHR, past))
	}
}
