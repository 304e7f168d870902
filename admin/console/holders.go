package console

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"eacgate/cvc"
	"eacgate/ops"
	"eacgate/server"
	"eacgate/store"
)

// Holders: search, registration, a holder's page with its certificates and messages, and
// its suspension, reinstatement and revocation (the critical ones proposed, ops.Propose).
// The certificates' and proposals' pages are in certificates.go and proposals.go.
func (h *Handler) holderRoutes() []route {
	rs := []route{
		{"GET /console/holders", ops.ActionRead, h.holders},
		{"GET /console/holders/new", ops.ActionHolderRegister, h.newHolder},
		{"POST /console/holders", ops.ActionHolderRegister, h.registerHolder},
		{"GET /console/holders/{id}", ops.ActionRead, h.holder},
		{"POST /console/holders/{id}/suspend", ops.ActionHolderSuspend, h.holderStatus("suspend")},
		{"POST /console/holders/{id}/reinstate", ops.ActionHolderReinstate, h.holderStatus("reinstate")},
		{"POST /console/holders/{id}/revoke", ops.ActionHolderRevoke, h.holderStatus("revoke")},
	}
	rs = append(rs, h.certificateRoutes()...)
	return append(rs, h.proposalRoutes()...)
}

// Sizes of the lists.
const (
	listPage  = 50 // holders, certificates
	ownedPage = 20 // a holder's certificates and messages
)

// holderRoles are the holder roles in the order the forms offer them.
var holderRoles = []store.Role{store.RoleTerminal, store.RoleDVDomestic, store.RoleDVForeign, store.RoleCVCA, store.RoleSPOC}

// option is one entry of a select.
type option struct {
	Value, Label string
	Selected     bool
}

func roleOptions(selected string) []option {
	out := []option{{Value: "", Label: "any", Selected: selected == ""}}
	for _, r := range holderRoles {
		out = append(out, option{Value: string(r), Label: holderRoleName(r), Selected: string(r) == selected})
	}
	return out
}

func statusOptions(selected string, statuses ...string) []option {
	out := []option{{Value: "", Label: "any", Selected: selected == ""}}
	for _, s := range statuses {
		out = append(out, option{Value: s, Label: s, Selected: s == selected})
	}
	return out
}

// refuse redirects (303) to to with msg shown once as an error: the operator's own input
// was wrong, so the words are ours, not an error's.
func (r *request) refuse(to, msg string) error {
	setFlash(r.w, "error", msg)
	http.Redirect(r.w, r.Request, to, http.StatusSeeOther)
	return nil
}

// namedPager is a Pager read from ?param= (a page with two lists has one parameter per list).
type namedPager struct {
	*Pager
	param string
}

func (r *request) namedPager(param string, size int) namedPager {
	n, err := strconv.Atoi(r.URL.Query().Get(param))
	if err != nil || n < 1 {
		n = 1
	}
	return namedPager{&Pager{Page: min(n, maxPage), Size: size}, param}
}

// Rows is Pager.Rows for the list's own parameter.
func (p namedPager) Rows(r *request, got int) int {
	p.HasNext = got > p.Size && p.Page < maxPage
	link := func(page int) string {
		q := r.URL.Query()
		q.Set(p.param, strconv.Itoa(page))
		return r.URL.Path + "?" + q.Encode()
	}
	if p.Page > 1 {
		p.PrevURL = link(p.Page - 1)
	}
	if p.HasNext {
		p.NextURL = link(p.Page + 1)
	}
	return min(got, p.Size)
}

// checkPrefix refuses a search prefix that no reference or mnemonic starts with (they are
// printable ASCII of at most 16 characters).
func checkPrefix(name, s string, maxLen int) error {
	if len(s) > maxLen {
		return badRequest("%s: at most %d characters", name, maxLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7F {
			return badRequest("%s: letters, digits and punctuation only", name)
		}
	}
	return nil
}

// holderFilters are the holder list's filters as the form shows them.
type holderFilters struct {
	Roles, Statuses []option
	Country, Name   string
	DV              string
	DVHolder        *store.Holder
}

type holdersData struct {
	Filters holderFilters
	Holders []store.Holder
	Pager   *Pager
}

func (h *Handler) holders(r *request) error {
	role, status := r.query("role"), r.query("status")
	f := store.HolderSearch{Role: store.Role(role), Status: store.HolderStatus(status), Country: strings.ToUpper(r.query("country")),
		NamePrefix: r.query("name")}
	if (role != "" && !f.Role.Valid()) || (status != "" && !f.Status.Valid()) {
		return badRequest("unknown role or status")
	}
	if f.Country != "" && len(f.Country) != 2 {
		return badRequest("country: two letters")
	}
	if err := checkPrefix("name", f.NamePrefix, 9); err != nil {
		return err
	}
	data := holdersData{Filters: holderFilters{Roles: roleOptions(role),
		Statuses: statusOptions(status, string(store.HolderActive), string(store.HolderSuspended), string(store.HolderRevoked)),
		Country:  f.Country, Name: f.NamePrefix, DV: r.query("dv")}}
	if data.Filters.DV != "" {
		id, err := strconv.ParseInt(data.Filters.DV, 10, 64)
		if err != nil || id <= 0 {
			return badRequest("dv: a holder's number")
		}
		f.DV = id
		if data.Filters.DVHolder, err = h.Store.HolderByID(r.Context(), id); err != nil {
			return err
		}
	}
	p := r.pager(listPage)
	f.Limit, f.Offset = p.Limit(), p.Offset()
	hs, err := h.Store.SearchHolders(r.Context(), f)
	if err != nil {
		return err
	}
	data.Holders, data.Pager = hs[:p.Rows(r, len(hs))], p
	return r.render(http.StatusOK, "holders", "Holders", "holders", data)
}

// holderData is a holder's page.
type holderData struct {
	Holder       *store.Holder
	Certificates []store.Certificate
	CertPager    *Pager
	Messages     []store.HolderMessage
	MsgPager     *Pager
	// IsDV: the holder certifies terminals (a link to them).
	IsDV bool
	// Critical* say which status changes are proposals for a second person.
	CriticalReinstate bool
}

func (h *Handler) holder(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	x, err := h.Store.HolderByID(r.Context(), id)
	if err != nil {
		return err
	}
	cp, mp := r.namedPager("cpage", ownedPage), r.namedPager("mpage", ownedPage)
	certs, err := h.Store.SearchCertificates(r.Context(), store.CertificateSearch{HolderID: id, Limit: cp.Limit(), Offset: cp.Offset()})
	if err != nil {
		return err
	}
	msgs, err := h.Store.MessagesOfHolder(r.Context(), id, mp.Limit(), mp.Offset())
	if err != nil {
		return err
	}
	data := holderData{Holder: x, Certificates: certs[:cp.Rows(r, len(certs))], CertPager: cp.Pager,
		Messages: msgs[:mp.Rows(r, len(msgs))], MsgPager: mp.Pager,
		IsDV: x.Role == store.RoleDVDomestic || x.Role == store.RoleDVForeign, CriticalReinstate: ops.CriticalHolderRole(x.Role)}
	return r.render(http.StatusOK, "holder", "Holder "+x.Country+x.Mnemonic, "holders", data)
}

// maxReason bounds a reason (the form's maxlength).
const maxReason = 500

// reason reads the form's required reason; "" with the refusal already sent when it is
// missing or too long.
func (r *request) reason(back string) (string, error) {
	reason := r.formValue("reason")
	switch {
	case reason == "":
		return "", r.refuse(back, "A reason is required.")
	case len(reason) > maxReason:
		return "", r.refuse(back, fmt.Sprintf("The reason is longer than %d characters.", maxReason))
	}
	return reason, nil
}

// holderStatus suspends, reinstates or revokes a holder. As the REST API decides it
// (admin.criticalHolderAction): revoking, and reinstating any holder but a terminal, are
// critical tasks proposed for a second person; suspending is immediate.
func (h *Handler) holderStatus(verb string) func(*request) error {
	return func(r *request) error {
		id, err := r.id("id")
		if err != nil {
			return err
		}
		back := fmt.Sprintf("/console/holders/%d", id)
		reason, err := r.reason(back)
		if reason == "" {
			return err
		}
		past := map[string]string{"suspend": "suspended", "reinstate": "reinstated", "revoke": "revoked"}[verb]
		task := map[string]ops.Action{"revoke": ops.ActionHolderRevoke, "reinstate": ops.ActionHolderReinstate}[verb]
		if task != "" {
			// An unknown holder is left to the plain action, which refuses and audits it.
			if x, err := h.Store.HolderByID(r.Context(), id); err == nil && (task == ops.ActionHolderRevoke || ops.CriticalHolderRole(x.Role)) {
				return r.critical(task, ops.NewHolderStatusChange(x, reason), back, back,
					fmt.Sprintf("Holder %s%s %s.", x.Country, x.Mnemonic, past))
			}
		}
		svc := h.ops()
		var x *store.Holder
		switch verb {
		case "suspend":
			x, err = svc.SuspendHolder(r.Context(), r.actor(), id, reason)
		case "reinstate":
			x, err = svc.ReinstateHolder(r.Context(), r.actor(), id, reason)
		default:
			x, err = svc.RevokeHolder(r.Context(), r.actor(), id, reason)
		}
		if err != nil {
			return r.failed(back, err)
		}
		return r.done(back, fmt.Sprintf("Holder %s%s %s.", x.Country, x.Mnemonic, past))
	}
}

// newHolderData is the registration form (filled again after a refusal).
type newHolderData struct {
	Country, Mnemonic, TLSCertificate, IPRanges string
	Roles                                       []option
	Error                                       string
}

func (h *Handler) newHolder(r *request) error {
	return r.render(http.StatusOK, "holder_new", "Register a holder", "holders", newHolderData{Country: h.Country, Roles: registerRoles("")})
}

func registerRoles(selected string) []option {
	return roleOptions(selected)[1:] // no "any"
}

// registerHolder registers a holder with the checks of the REST API (admin.registerHolder):
// name by TR-03139 3.1 (ops), the TLS client certificate usable for client authentication,
// IP ranges; a DV, CVCA or SPOC is a critical task (a proposal), a terminal is registered
// at once.
func (h *Handler) registerHolder(r *request) error {
	in := newHolderData{Country: strings.ToUpper(r.formValue("country")), Mnemonic: r.formValue("mnemonic"),
		TLSCertificate: r.formValue("tls_certificate"), IPRanges: r.formValue("ip_ranges")}
	role := store.Role(r.formValue("role"))
	in.Roles = registerRoles(string(role))
	target := in.Country + in.Mnemonic
	again := func(msg string) error {
		in.Error = msg
		return r.render(http.StatusBadRequest, "holder_new", "Register a holder", "holders", in)
	}
	if len(in.Country) != 2 || in.Mnemonic == "" || !role.Valid() {
		h.record(r, ops.ActionHolderRegister, target, "failed: invalid")
		return again("Give the country (2 letters), the mnemonic and the role.")
	}
	fp := ""
	if in.TLSCertificate != "" {
		blk, _ := pem.Decode([]byte(in.TLSCertificate))
		if blk == nil || blk.Type != "CERTIFICATE" {
			return again("TLS client certificate: not a PEM certificate.")
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return again("TLS client certificate: not a readable X.509 certificate.")
		}
		if err := server.CheckClientCertificate(cert, h.now()); err != nil {
			h.record(r, ops.ActionHolderRegister, target, "failed: "+err.Error())
			return again("TLS client certificate: " + err.Error())
		}
		sum := sha256.Sum256(blk.Bytes)
		fp = hex.EncodeToString(sum[:])
	}
	ranges, err := store.NormalizeIPRanges(in.IPRanges)
	if err != nil {
		return again("IP ranges: " + err.Error())
	}
	if ops.CriticalHolderRole(role) {
		params := ops.HolderRegistration{Country: in.Country, Mnemonic: in.Mnemonic, Role: role, TLSFingerprint: fp, IPRanges: ranges}
		return r.critical(ops.ActionHolderRegister, params, "/console/holders/new",
			"/console/holders?"+url.Values{"country": {in.Country}, "name": {in.Mnemonic}}.Encode(), "Holder "+target+" registered.")
	}
	x := &store.Holder{Country: in.Country, Mnemonic: in.Mnemonic, Role: role, Status: store.HolderActive, TLSFingerprint: fp, IPRanges: ranges}
	if err := h.ops().RegisterHolder(r.Context(), r.actor(), x); err != nil {
		if !errors.Is(err, store.ErrConflict) && !errors.As(err, new(*cvc.NameError)) {
			return err
		}
		return again(ops.PublicText(err))
	}
	return r.done(fmt.Sprintf("/console/holders/%d", x.ID), "Holder "+target+" registered.")
}

// record audits a request refused by the console's own checks (as admin.audit).
func (h *Handler) record(r *request, action ops.Action, target, outcome string) {
	if err := h.ops().Record(r.Context(), r.actor(), action, target, outcome, nil); err != nil {
		h.logger().Error("audit", "action", action, "err", err)
	}
}
