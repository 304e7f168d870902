// Package admin is the operators' REST API under /admin/v1/ (holders, certificates,
// suspension, pending requests, outbox, audit log, statistics) and the emCA-compatible
// suspend/reinstate/revoke endpoints under /emCAServices/rest/.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"eacgate/auditlog"
	"eacgate/cvc"
	"eacgate/ops"
	"eacgate/server"
	"eacgate/store"
)

//go:embed openapi.json
var openAPI []byte

// MaxBody bounds JSON request bodies.
const MaxBody = 64 << 10

// Handler serves the admin API and the emCA-compatible endpoints.
type Handler struct {
	Store *store.Store
	// Country is this gateway's country: certificates whose issuer (CAR) is of this
	// country and that are not CVCA certificates have a status here; others have none
	// ("CRL does not exist").
	Country string
	Logger  *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Keys seals and opens the emCA clients' AES keys at rest (nil: keys stored in clear
	// are used as they are, sealed ones cannot be). The gateway sets it to the keystore's
	// wrapper and runs PrepareKeys at start.
	Keys KeyWrapper
	// EMCA bounds the emCA endpoints' password checks (concurrency, lockout).
	EMCA EMCAOptions
	// Partners sends notifications to partner SPOCs (the gateway's spoc.Forwarder); nil
	// without the SPOC role: notifications are refused.
	Partners ops.PartnerMessenger
	// FetchPartnerCA completes a partner's registration: its newer CVCA certificates by
	// GetCACertificates (the SPOC's forwarder; nil without the SPOC role).
	FetchPartnerCA func(ctx context.Context, country string) (int, error)
	// Audit verifies the keyed audit log (MACs, signed checkpoints, head file); nil:
	// verify checks the chain alone.
	Audit *auditlog.Log
	// TwoPerson is the policy of critical tasks (config two_person): with a quorum above 1
	// their endpoints answer 202 with a proposal another operator approves.
	TwoPerson ops.TwoPerson
	// KeyOps runs approved CVCA key operations (nil: refused).
	KeyOps ops.KeyOperations
	// checkPassword replaces CheckPassword, and limits is the emCA state Routes made (tests).
	checkPassword func(stored, password string) bool
	limits        *emcaLimits
	// authLog bounds the audit of logins and refused authentications (made by Routes).
	authLog *ops.AuthLog
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// ops is the operations service the endpoints are adapters over.
func (h *Handler) ops() *ops.Service {
	return &ops.Service{Store: h.Store, Country: h.Country, Now: h.Now, Logger: h.Logger, AuthLog: h.authLog, TwoPerson: h.TwoPerson, Keys: h.KeyOps}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Routes returns the mux of the admin API (/admin/v1/...) and the emCA endpoints.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	h.authLog = ops.NewAuthLog(ops.AuthLimits{})
	for _, r := range h.routes() {
		mux.Handle(r.pattern, h.endpoint(r))
	}
	lim := newEMCALimits(h.EMCA, h.now)
	h.limits = lim
	for _, action := range []string{"suspend", "reinstate", "revoke"} {
		mux.HandleFunc("POST /emCAServices/rest/"+action, h.emca(action, lim))
	}
	return h.guard(mux)
}

// route is one endpoint of the admin API: its pattern, the action it performs (the role
// matrix, ops.Permitted, says who may) and its handler (nil: the raw certificate download).
// A pattern ending in {action} names its actions by that segment in verbs instead.
type route struct {
	pattern string
	action  ops.Action
	verbs   map[string]ops.Action
	fn      func(*request) (any, error)
}

// statusVerbs are the actions of a holder's or certificate's status change.
func statusVerbs(suspend, reinstate, revoke ops.Action) map[string]ops.Action {
	return map[string]ops.Action{"suspend": suspend, "reinstate": reinstate, "revoke": revoke}
}

func (h *Handler) routes() []route {
	read := ops.ActionRead
	rs := []route{
		{"GET /admin/v1/holders", read, nil, h.listHolders},
		{"POST /admin/v1/holders", ops.ActionHolderRegister, nil, h.registerHolder},
		{"GET /admin/v1/holders/{id}", read, nil, h.showHolder},
		{"POST /admin/v1/holders/{id}/{action}", "", statusVerbs(ops.ActionHolderSuspend, ops.ActionHolderReinstate, ops.ActionHolderRevoke), h.holderAction},
		{"PUT /admin/v1/holders/{id}/foreign-countries", ops.ActionHolderCountries, nil, h.setForeignCountries},
		{"PUT /admin/v1/holders/{id}/rights", ops.ActionHolderRights, nil, h.setRights},
		{"GET /admin/v1/certificates", read, nil, h.listCertificates},
		{"GET /admin/v1/certificates/{id}", read, nil, h.showCertificate},
		{"GET /admin/v1/certificates/{id}/raw", read, nil, nil},
		{"POST /admin/v1/certificates/{id}/{action}", "", statusVerbs(ops.ActionCertificateSuspend, ops.ActionCertificateReinstate, ops.ActionCertificateRevoke), h.certificateAction},
		{"GET /admin/v1/requests", read, nil, h.listRequests},
		{"POST /admin/v1/requests/{id}/{action}", "", map[string]ops.Action{"approve": ops.ActionRequestApprove, "reject": ops.ActionRequestReject}, h.decideRequest},
		{"GET /admin/v1/outbox", read, nil, h.listOutbox},
		{"POST /admin/v1/outbox/{id}/retry", ops.ActionOutboxRetry, nil, h.retryOutbox},
		{"GET /admin/v1/audit", ops.ActionAuditRead, nil, h.listAudit},
		{"GET /admin/v1/audit/verify", ops.ActionAuditRead, nil, h.verifyAudit},
		{"GET /admin/v1/stats", read, nil, h.stats},
	}
	rs = append(rs, h.spocRoutes()...)
	rs = append(rs, h.partnerRoutes()...)
	rs = append(rs, h.accountRoutes()...)
	return append(rs, h.proposalRoutes()...)
}

// request is one authenticated API call.
type request struct {
	*http.Request
	w        http.ResponseWriter
	operator *store.Operator
	source   string
}

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	return &apiError{status, fmt.Sprintf(format, args...)}
}

// endpoint authenticates the operator, checks that its role may perform the route's
// action, runs fn and writes its JSON (fn nil: the raw certificate download).
func (h *Handler) endpoint(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := &request{Request: r, w: w, source: remoteIP(r)}
		op, err := h.authenticate(r)
		if err != nil {
			msg := "authentication required: TLS client certificate or bearer token of a registered operator"
			var ae *apiError
			if errors.As(err, &ae) {
				msg = ae.msg // a registered certificate that may not be used (expired, wrong usage)
			} else if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, errNoCredentials) && !errors.As(err, new(*ops.AccountError)) {
				// The caller learns nothing of why (a database failure included); the log does.
				h.logger().Warn("admin API: operator lookup", "source", req.source, "err", err)
			}
			h.refusedAuth(r.Context(), req, op, err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="eacgate"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": msg})
			return
		}
		req.operator = op
		h.authenticated(r.Context(), req)
		action := rt.action
		if rt.verbs != nil {
			var ok bool
			if action, ok = rt.verbs[r.PathValue("action")]; !ok {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("unknown action %q", r.PathValue("action"))})
				return
			}
		}
		if !ops.Permitted(op.Role, action) {
			h.audit(r.Context(), req, ops.ActionDenied, r.Method+" "+r.URL.Path, "forbidden")
			writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf("role %s may not do this (%s: %s)", op.Role, action, rolesText(ops.RolesFor(action)))})
			return
		}
		if rt.fn == nil {
			h.rawCertificate(req)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		out, err := rt.fn(req)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				h.logger().Error("admin API", "path", r.URL.Path, "err", err)
				ae = &apiError{http.StatusInternalServerError, "internal error"}
			}
			writeJSON(w, ae.status, map[string]string{"error": ae.msg})
			return
		}
		status := http.StatusOK
		if a, ok := out.(accepted); ok {
			writeJSON(w, http.StatusAccepted, a.Proposal)
			return
		}
		if r.Method == http.MethodPost && (r.URL.Path == "/admin/v1/holders" || r.URL.Path == "/admin/v1/partners") {
			status = http.StatusCreated
		}
		writeJSON(w, status, out)
	})
}

// rolesText names the roles that may do something.
func rolesText(roles []store.OperatorRole) string {
	if len(roles) == 0 {
		return "no role"
	}
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}

// errNoCredentials: the request carries neither a registered TLS certificate nor a token.
var errNoCredentials = errors.New("no credentials")

// authenticate finds the operator by the TLS client certificate or the bearer token. A
// registered operator certificate that is expired, not yet valid or not for client
// authentication is refused (an *apiError saying why), not passed over for the token. A
// disabled, removed or expired account is refused with an *ops.AccountError. A refused
// account is returned with the error, so that the refusal's event names it.
func (h *Handler) authenticate(r *http.Request) (*store.Operator, error) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cert := r.TLS.PeerCertificates[0]
		sum := sha256.Sum256(cert.Raw)
		if op, err := h.Store.OperatorByFingerprint(r.Context(), hex.EncodeToString(sum[:])); err == nil {
			if err := ops.CheckOperatorUsable(op, h.now()); err != nil {
				return op, err
			}
			if err := server.CheckClientCertificate(cert, h.now()); err != nil {
				h.logger().Warn("operator certificate refused", "operator", op.Name, "remote", remoteIP(r), "reason", err)
				return op, fail(http.StatusUnauthorized, "%v", err)
			}
			return op, nil
		}
	}
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || token == "" {
		return nil, errNoCredentials
	}
	op, err := h.Store.OperatorByToken(r.Context(), TokenHash(token))
	if err != nil {
		return nil, err
	}
	if err := ops.CheckOperatorUsable(op, h.now()); err != nil {
		return op, err
	}
	return op, nil
}

// TokenHash is what the store keeps of a bearer token (ops.TokenHash).
func TokenHash(token string) string { return ops.TokenHash(token) }

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// actor is the operator of an authenticated call, its refusals worded as the API answers them.
func (r *request) actor() ops.Actor {
	person := r.operator.Person
	if person == "" {
		person = r.operator.Name
	}
	return ops.Actor{Channel: ops.ChannelREST, Name: r.operator.Name, Role: r.operator.Role, OperatorID: r.operator.ID, Person: person,
		Remote: r.source, Words: publicText}
}

// audit records a call refused before any action (its outcome as given).
func (h *Handler) audit(ctx context.Context, r *request, action ops.Action, target, outcome string) {
	if err := h.ops().Record(ctx, r.actor(), action, target, outcome, nil); err != nil {
		h.logger().Error("audit", "action", action, "err", err)
	}
}

func (r *request) id() (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fail(http.StatusBadRequest, "bad id %q", r.PathValue("id"))
	}
	return id, nil
}

func (r *request) decode(v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail(http.StatusBadRequest, "request body: %v", err)
	}
	return nil
}

// storeError maps the store's errors to HTTP statuses. Others stay as they are and are
// answered 500 "internal error" (and logged).
func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fail(http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrRevokedFinal), errors.Is(err, store.ErrConflict), errors.As(err, new(*ops.TransitionError)):
		return fail(http.StatusConflict, "%s", publicText(err))
	}
	return err
}

// publicText is what operators see of an error (in answers and in the audit log): the
// store's own state conflicts as it words them, but never the text of a database or driver
// error (a constraint violation names tables and columns), which only the log gets.
func publicText(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.msg
	}
	return ops.PublicText(err)
}

// Holder is a holder as the API shows it.
type Holder struct {
	ID             int64     `json:"id"`
	Country        string    `json:"country"`
	Mnemonic       string    `json:"mnemonic"`
	Role           string    `json:"role"`
	Status         string    `json:"status"`
	TLSFingerprint string    `json:"tls_fingerprint,omitempty"`
	IPRanges       string    `json:"ip_ranges,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

func holderOut(h store.Holder) Holder {
	return Holder{h.ID, h.Country, h.Mnemonic, string(h.Role), string(h.Status), h.TLSFingerprint, h.IPRanges, h.CreatedAt}
}

// Certificate is a certificate as the API shows it.
type Certificate struct {
	ID        int64     `json:"id"`
	HolderID  *int64    `json:"holder_id,omitempty"`
	CHR       string    `json:"chr"`
	CAR       string    `json:"car"`
	Role      string    `json:"role"`
	Status    string    `json:"status"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

func certOut(c store.Certificate) Certificate {
	return Certificate{c.ID, c.HolderID, c.CHR, c.CAR, string(c.Role), string(c.Status), c.NotBefore, c.NotAfter}
}

func (h *Handler) listHolders(r *request) (any, error) {
	q := r.URL.Query()
	hs, err := h.Store.ListHolders(r.Context(), store.HolderFilter{Role: store.Role(q.Get("role")), Status: store.HolderStatus(q.Get("status")), Country: q.Get("country")})
	if err != nil {
		return nil, err
	}
	out := make([]Holder, 0, len(hs))
	for _, x := range hs {
		out = append(out, holderOut(x))
	}
	return out, nil
}

func (h *Handler) showHolder(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	x, err := h.Store.HolderByID(r.Context(), id)
	if err != nil {
		return nil, storeError(err)
	}
	certs, err := h.Store.ListCertificates(r.Context(), store.CertificateFilter{HolderID: id})
	if err != nil {
		return nil, err
	}
	out := struct {
		Holder
		Certificates []Certificate `json:"certificates"`
	}{Holder: holderOut(*x), Certificates: []Certificate{}}
	for _, c := range certs {
		out.Certificates = append(out.Certificates, certOut(c))
	}
	return out, nil
}

func (h *Handler) registerHolder(r *request) (any, error) {
	var in struct {
		Country        string `json:"country"`
		Mnemonic       string `json:"mnemonic"`
		Role           string `json:"role"`
		TLSCertificate string `json:"tls_certificate"` // PEM
		IPRanges       string `json:"ip_ranges"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	target := in.Country + in.Mnemonic
	role := store.Role(in.Role)
	if len(in.Country) != 2 || in.Mnemonic == "" || !role.Valid() {
		h.audit(r.Context(), r, ops.ActionHolderRegister, target, "failed: invalid")
		return nil, fail(http.StatusBadRequest, "need country (2 letters), mnemonic and role (dv_domestic, dv_foreign, terminal, spoc, cvca)")
	}
	fp := ""
	if in.TLSCertificate != "" {
		blk, _ := pem.Decode([]byte(in.TLSCertificate))
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, fail(http.StatusBadRequest, "tls_certificate: not a PEM certificate")
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fail(http.StatusBadRequest, "tls_certificate: %v", err)
		}
		if err := server.CheckClientCertificate(cert, h.now()); err != nil {
			h.audit(r.Context(), r, ops.ActionHolderRegister, target, "failed: "+err.Error())
			return nil, fail(http.StatusBadRequest, "tls_certificate: %v", err)
		}
		sum := sha256.Sum256(blk.Bytes)
		fp = hex.EncodeToString(sum[:])
	}
	ranges, err := store.NormalizeIPRanges(in.IPRanges)
	if err != nil {
		return nil, fail(http.StatusBadRequest, "ip_ranges: %v", err)
	}
	x := &store.Holder{Country: in.Country, Mnemonic: in.Mnemonic, Role: role, Status: store.HolderActive, TLSFingerprint: fp, IPRanges: ranges}
	conflict := func(err error) error {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: %w", fail(http.StatusConflict, "a holder %s or with this TLS certificate is already registered", target), err)
		}
		if errors.As(err, new(*cvc.NameError)) { // TR-03139 3.1, checked by ops
			return fmt.Errorf("%w: %w", fail(http.StatusBadRequest, "%v", err), err)
		}
		return err
	}
	a := r.actor()
	a.Words = func(err error) string { return publicText(conflict(err)) }
	if ops.CriticalHolderRole(role) { // a DV, CVCA or SPOC: two persons (ops.Propose)
		params := ops.HolderRegistration{Country: x.Country, Mnemonic: x.Mnemonic, Role: x.Role, TLSFingerprint: x.TLSFingerprint, IPRanges: x.IPRanges}
		out, err := h.critical(r, a, ops.ActionHolderRegister, params, func(out any) (any, error) { return holderOut(*out.(*store.Holder)), nil })
		if err != nil {
			return nil, conflict(err)
		}
		return out, nil
	}
	if err := h.ops().RegisterHolder(r.Context(), a, x); err != nil {
		return nil, conflict(err)
	}
	return holderOut(*x), nil
}

type reasonBody struct {
	Reason string `json:"reason"`
}

func (h *Handler) holderAction(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	svc := h.ops()
	do, ok := map[string]func(context.Context, ops.Actor, int64, string) (*store.Holder, error){
		"suspend": svc.SuspendHolder, "reinstate": svc.ReinstateHolder, "revoke": svc.RevokeHolder,
	}[r.PathValue("action")]
	if !ok {
		return nil, fail(http.StatusNotFound, "unknown action %q", r.PathValue("action"))
	}
	var in reasonBody
	if err := r.decode(&in); err != nil || in.Reason == "" {
		return nil, fail(http.StatusBadRequest, "need {\"reason\": ...}")
	}
	if out, ok, err := h.criticalHolderAction(r, r.PathValue("action"), id, in.Reason); ok {
		return out, err
	}
	x, err := do(r.Context(), r.actor(), id, in.Reason)
	if err != nil {
		return nil, storeError(err)
	}
	return holderOut(*x), nil
}

// criticalHolderAction proposes revoking holder id, or reinstating it when it is not a
// terminal (ops.Propose); ok false: the action is not critical (or the holder is unknown,
// which the plain action refuses and audits).
func (h *Handler) criticalHolderAction(r *request, action string, id int64, reason string) (out any, ok bool, err error) {
	task := map[string]ops.Action{"revoke": ops.ActionHolderRevoke, "reinstate": ops.ActionHolderReinstate}[action]
	if task == "" {
		return nil, false, nil
	}
	x, err := h.Store.HolderByID(r.Context(), id)
	if err != nil || (task == ops.ActionHolderReinstate && !ops.CriticalHolderRole(x.Role)) {
		return nil, false, nil
	}
	out, err = h.critical(r, r.actor(), task, ops.NewHolderStatusChange(x, reason), func(out any) (any, error) {
		return holderOut(*out.(*store.Holder)), nil
	})
	if err != nil {
		return nil, true, storeError(err)
	}
	return out, true, nil
}

// ForeignCountries are the foreign countries a domestic DV may request certificates from
// through the SPOC (spoc.foreign_countries: listed).
type ForeignCountries struct {
	Countries []string `json:"countries"`
}

// setForeignCountries replaces a domestic DV's list (ops.Service.SetHolderForeignCountries).
func (h *Handler) setForeignCountries(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	var in ForeignCountries
	if err := r.decode(&in); err != nil || in.Countries == nil {
		return nil, fail(http.StatusBadRequest, "need {\"countries\": [\"ZZ\", ...]}")
	}
	got, err := h.ops().SetHolderForeignCountries(r.Context(), r.actor(), id, in.Countries)
	if errors.As(err, new(*ops.CountriesError)) {
		return nil, fail(http.StatusBadRequest, "%s", publicText(err))
	}
	if err != nil {
		return nil, storeError(err)
	}
	return ForeignCountries{Countries: got}, nil
}

// HolderRights are the data groups (dg3, dg4) a holder's certificates may grant, within
// its issuer's; empty: the issuer's unchanged.
type HolderRights struct {
	Rights []string `json:"rights"`
}

// setRights replaces a DV's or terminal's rights (ops.Service.SetHolderRights).
func (h *Handler) setRights(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	var in HolderRights
	if err := r.decode(&in); err != nil || in.Rights == nil {
		return nil, fail(http.StatusBadRequest, "need {\"rights\": [\"dg3\", ...]}")
	}
	got, err := h.ops().SetHolderRights(r.Context(), r.actor(), id, in.Rights)
	if errors.As(err, new(*ops.RightsError)) {
		return nil, fail(http.StatusBadRequest, "%s", publicText(err))
	}
	if err != nil {
		return nil, storeError(err)
	}
	return HolderRights{Rights: got}, nil
}

func (h *Handler) listCertificates(r *request) (any, error) {
	q := r.URL.Query()
	f := store.CertificateFilter{Status: store.CertStatus(q.Get("status")), Role: store.Role(q.Get("role")), Country: q.Get("country"), Now: h.now()}
	if s := q.Get("expiring_within_days"); s != "" {
		days, err := strconv.Atoi(s)
		if err != nil || days < 0 || days > 3650 {
			return nil, fail(http.StatusBadRequest, "expiring_within_days: a number of days")
		}
		f.ExpiringBefore = h.now().UTC().Truncate(24*time.Hour).AddDate(0, 0, days+1)
	}
	if s := q.Get("holder_id"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fail(http.StatusBadRequest, "holder_id: a number")
		}
		f.HolderID = id
	}
	cs, err := h.Store.ListCertificates(r.Context(), f)
	if err != nil {
		return nil, err
	}
	out := make([]Certificate, 0, len(cs))
	for _, c := range cs {
		out = append(out, certOut(c))
	}
	return out, nil
}

func (h *Handler) showCertificate(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	c, err := h.Store.CertificateByID(r.Context(), id)
	if err != nil {
		return nil, storeError(err)
	}
	return certOut(*c), nil
}

// rawCertificate downloads a certificate (DER, application/octet-stream).
func (h *Handler) rawCertificate(r *request) {
	id, err := r.id()
	if err != nil {
		writeJSON(r.w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	c, err := h.Store.CertificateByID(r.Context(), id)
	if err != nil {
		writeJSON(r.w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	r.w.Header().Set("Content-Type", "application/octet-stream")
	r.w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.cvcert"`, c.CHR))
	_, _ = r.w.Write(c.Raw)
}

func (h *Handler) certificateAction(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	svc := h.ops()
	do, ok := map[string]func(context.Context, ops.Actor, int64, string) (*store.Certificate, error){
		"suspend": svc.SuspendCertificate, "reinstate": svc.ReinstateCertificate, "revoke": svc.RevokeCertificate,
	}[r.PathValue("action")]
	if !ok {
		return nil, fail(http.StatusNotFound, "unknown action %q", r.PathValue("action"))
	}
	var in reasonBody
	if err := r.decode(&in); err != nil || in.Reason == "" {
		return nil, fail(http.StatusBadRequest, "need {\"reason\": ...}")
	}
	if c, err := h.Store.CertificateByID(r.Context(), id); err == nil && (r.PathValue("action") == "revoke" ||
		(r.PathValue("action") == "reinstate" && ops.CriticalCertificateReinstate(c))) {
		task := map[string]ops.Action{"revoke": ops.ActionCertificateRevoke, "reinstate": ops.ActionCertificateReinstate}[r.PathValue("action")]
		params := ops.CertificateStatusChange{CertificateID: id, CHR: c.CHR, Reason: in.Reason}
		out, err := h.critical(r, r.actor(), task, params, func(out any) (any, error) { return certOut(*out.(*store.Certificate)), nil })
		if err != nil {
			return nil, storeError(err)
		}
		return out, nil
	}
	c, err := do(r.Context(), r.actor(), id, in.Reason)
	if err != nil {
		return nil, storeError(err)
	}
	return certOut(*c), nil
}

// Request is a request waiting for an operator's decision.
type Request struct {
	ID          int64     `json:"id"`
	HolderID    *int64    `json:"holder_id,omitempty"`
	MessageID   string    `json:"message_id"`
	Operation   string    `json:"operation"`
	ResponseURL string    `json:"response_url"`
	ReceivedAt  time.Time `json:"received_at"`
}

func (h *Handler) listRequests(r *request) (any, error) {
	ms, err := h.Store.PendingApprovals(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]Request, 0, len(ms))
	for _, m := range ms {
		out = append(out, Request{m.ID, m.HolderID, m.MessageID, m.Operation, m.ResponseURL, m.CreatedAt})
	}
	return out, nil
}

func (h *Handler) decideRequest(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	action := r.PathValue("action")
	var in reasonBody
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	switch action {
	case "approve":
		err = h.ops().ApproveRequest(r.Context(), r.actor(), id, in.Reason)
	case "reject":
		if in.Reason == "" {
			return nil, fail(http.StatusBadRequest, "need {\"reason\": ...}")
		}
		err = h.ops().RejectRequest(r.Context(), r.actor(), id, in.Reason)
	default:
		return nil, fail(http.StatusNotFound, "unknown action %q", action)
	}
	if err != nil {
		return nil, storeError(err)
	}
	return map[string]any{"id": id, "decision": action}, nil
}

// OutboxItem is a delivery as the API shows it.
type OutboxItem struct {
	ID            int64     `json:"id"`
	MessageRowID  *int64    `json:"message,omitempty"`
	Kind          string    `json:"kind"`
	State         string    `json:"state"`
	TargetURL     string    `json:"target_url"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error,omitempty"`
}

func (h *Handler) listOutbox(r *request) (any, error) {
	items, err := h.Store.ListOutbox(r.Context(), store.OutboxState(r.URL.Query().Get("state")))
	if err != nil {
		return nil, err
	}
	out := make([]OutboxItem, 0, len(items))
	for _, o := range items {
		out = append(out, OutboxItem{o.ID, o.MessageRowID, string(o.Kind), string(o.State), o.TargetURL, o.Attempts, o.NextAttemptAt, o.LastError})
	}
	return out, nil
}

func (h *Handler) retryOutbox(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	if err := h.ops().RetryOutbox(r.Context(), r.actor(), id); err != nil {
		return nil, storeError(err)
	}
	return map[string]any{"id": id, "state": store.OutboxPending}, nil
}

func (h *Handler) listAudit(r *request) (any, error) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 10000 {
			return nil, fail(http.StatusBadRequest, "limit: 1 to 10000")
		}
		limit = n
	}
	return h.Store.ListAudit(r.Context(), limit)
}

func (h *Handler) verifyAudit(r *request) (any, error) {
	if h.Audit != nil {
		rep, err := h.Audit.Verify(r.Context())
		out := map[string]any{"ok": err == nil, "events": rep.Events, "unkeyed": rep.Unkeyed, "checkpoints": rep.Checkpoints,
			"head_seq": rep.Head.Seq, "uncovered": rep.Uncovered}
		if errors.Is(err, store.ErrAuditBroken) {
			out["error"] = err.Error()
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	n, err := h.Store.VerifyAudit(r.Context())
	if errors.Is(err, store.ErrAuditBroken) {
		return map[string]any{"ok": false, "events": n, "error": err.Error()}, nil
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"ok": true, "events": n}, nil
}

func (h *Handler) stats(r *request) (any, error) {
	days := 30
	if s := r.URL.Query().Get("expiring_within_days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 3650 {
			return nil, fail(http.StatusBadRequest, "expiring_within_days: a number of days")
		}
		days = n
	}
	st, err := h.Store.Stats(r.Context())
	if err != nil {
		return nil, err
	}
	byCountry, err := h.Store.CertificatesByCountry(r.Context())
	if err != nil {
		return nil, err
	}
	countries := map[string]map[store.CertStatus]int64{}
	for _, c := range byCountry {
		if countries[c.Country] == nil {
			countries[c.Country] = map[store.CertStatus]int64{}
		}
		countries[c.Country][c.Status] = c.N
	}
	expiring, err := h.Store.ListCertificates(r.Context(), store.CertificateFilter{Status: store.CertValid, Now: h.now(),
		ExpiringBefore: h.now().UTC().Truncate(24*time.Hour).AddDate(0, 0, days+1)})
	if err != nil {
		return nil, err
	}
	exp := make([]Certificate, 0, len(expiring))
	for _, c := range expiring {
		exp = append(exp, certOut(c))
	}
	return map[string]any{
		"holders": st.Holders, "certificates": st.Certificates, "certificates_by_country": countries,
		"messages": st.Messages, "outbox": st.Outbox, "audit_events": st.AuditEvents,
		"expiring_within_days": days, "expiring": exp,
	}, nil
}
