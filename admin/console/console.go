// Package console is the operators' web console at /console/: server-rendered pages
// (html/template, embedded in the binary) over the same operations service (ops) as the
// CLI and the REST API. Sessions, CSRF tokens and the security headers are in session.go;
// each group of pages is a file of its own (dashboard, hierarchy, holders and certificates,
// requests and partners, audit and reports, operators).
package console

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"eacgate/auditlog"
	"eacgate/ops"
	"eacgate/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults of the console's options (config.WithDefaults sets them).
const (
	DefaultIdleTimeout     = 15 * time.Minute
	DefaultAbsoluteTimeout = 8 * time.Hour
)

// Options is the console section of the configuration.
type Options struct {
	// Disabled turns the console off (its paths answer 404).
	Disabled bool `yaml:"disabled"`
	// Listen, when set, serves the console on a listener of its own (HTTPS with the
	// gateway's TLS settings) and not on the gateway's main listener.
	Listen string `yaml:"listen"`
	// IdleTimeout ends a session without activity; AbsoluteTimeout ends every session
	// that long after sign-in.
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	AbsoluteTimeout time.Duration `yaml:"absolute_timeout"`
}

// Validate reports invalid options.
func (o Options) Validate() error {
	var errs []error
	if o.IdleTimeout < 0 || o.AbsoluteTimeout < 0 {
		errs = append(errs, errors.New("console: timeouts must not be negative"))
	}
	if o.IdleTimeout > 0 && o.AbsoluteTimeout > 0 && o.IdleTimeout > o.AbsoluteTimeout {
		errs = append(errs, fmt.Errorf("console: idle_timeout %s is longer than absolute_timeout %s", o.IdleTimeout, o.AbsoluteTimeout))
	}
	return errors.Join(errs...)
}

// Handler serves the console.
type Handler struct {
	Store *store.Store
	// Country is this gateway's country (as admin.Handler.Country).
	Country string
	Logger  *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Options: timeouts (zero: the defaults).
	Options Options
	// TwoPerson is the policy of critical tasks; KeyOps runs approved CVCA key operations.
	TwoPerson ops.TwoPerson
	KeyOps    ops.KeyOperations
	// Partners sends notifications to partner SPOCs (nil without the SPOC role).
	Partners ops.PartnerMessenger
	// Audit verifies the keyed audit log (nil: the chain alone).
	Audit *auditlog.Log
	// DVMnemonic is the gateway's own DV (holder Country+DVMnemonic, config dv_mnemonic):
	// the dashboard shows how long its certificates remain valid. Empty: no DV.
	DVMnemonic string

	pages   map[string]*template.Template
	authLog *ops.AuthLog
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// ops is the operations service every change goes through.
func (h *Handler) ops() *ops.Service {
	return &ops.Service{Store: h.Store, Country: h.Country, Now: h.Now, Logger: h.Logger, AuthLog: h.authLog, TwoPerson: h.TwoPerson, Keys: h.KeyOps}
}

// route is one page or form of the console: its pattern (under /console/), the action it
// performs (ops.Permitted says which roles may: a page that only shows is ops.ActionRead
// or ops.ActionAuditRead) and its handler.
type route struct {
	pattern string
	action  ops.Action
	fn      func(*request) error
}

// Routes parses the templates and returns the console's handler for /console/.
func (h *Handler) Routes() (http.Handler, error) {
	if err := h.parseTemplates(); err != nil {
		return nil, err
	}
	h.authLog = ops.NewAuthLog(ops.AuthLimits{})
	mux := http.NewServeMux()
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", staticFiles(static)))
	mux.HandleFunc("GET /console/signin", h.signInPage)
	mux.HandleFunc("POST /console/signin", h.signIn)
	mux.HandleFunc("POST /console/signout", h.signOut)
	for _, rt := range h.routes() {
		mux.Handle(rt.pattern, h.page(rt))
	}
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		h.errorPage(w, r, nil, http.StatusNotFound, "No such page.")
	})
	return securityHeaders(mux), nil
}

func (h *Handler) routes() []route {
	var rs []route
	rs = append(rs, h.dashboardRoutes()...)
	rs = append(rs, h.holderRoutes()...)
	rs = append(rs, h.workRoutes()...)
	rs = append(rs, h.auditRoutes()...)
	return append(rs, h.operatorRoutes()...)
}

// staticFiles serves the embedded stylesheet and script; they change only with the binary.
func staticFiles(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// request is one authenticated console request.
type request struct {
	*http.Request
	w        http.ResponseWriter
	h        *Handler
	operator *store.Operator
	session  *store.ConsoleSession
	csrf     string
	source   string
}

// actor is the operator of the request for ops, its refusals worded as ops.PublicText.
func (r *request) actor() ops.Actor {
	person := r.operator.Person
	if person == "" {
		person = r.operator.Name
	}
	return ops.Actor{Channel: ops.ChannelConsole, Name: r.operator.Name, Role: r.operator.Role, OperatorID: r.operator.ID,
		Person: person, Remote: r.source}
}

// can reports whether the signed-in operator's role may perform action (buttons and
// forms are shown by it; the route checks again).
func (r *request) can(action ops.Action) bool { return ops.Permitted(r.operator.Role, action) }

// Page is what every template gets: the layout's fields and the page's own Data.
type Page struct {
	Title    string
	Section  string // the navigation entry to highlight
	Operator *store.Operator
	Country  string
	CSRF     string
	Flash    string
	Error    string
	Now      time.Time
	Data     any
	req      *request
}

// Can reports whether the operator may perform action (templates: {{if .Can "holder.suspend"}}).
func (p Page) Can(action string) bool {
	return p.req != nil && p.req.operator != nil && p.req.can(ops.Action(action))
}

// render writes page name (templates/name.html) with data.
func (r *request) render(status int, name, title, section string, data any) error {
	t, ok := r.h.pages[name]
	if !ok {
		return fmt.Errorf("console: no template %q", name)
	}
	p := Page{Title: title, Section: section, Operator: r.operator, Country: r.h.Country, CSRF: r.csrf, Now: r.h.now(), Data: data, req: r}
	p.Flash, p.Error = takeFlash(r.w, r.Request)
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		return fmt.Errorf("console: render %s: %w", name, err)
	}
	r.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	r.w.WriteHeader(status)
	_, err := r.w.Write([]byte(b.String()))
	return err
}

// done redirects (303) to to with a message shown once on the next page.
func (r *request) done(to, message string) error {
	setFlash(r.w, "ok", message)
	http.Redirect(r.w, r.Request, to, http.StatusSeeOther)
	return nil
}

// failed redirects (303) to to with err's public text shown once (ops.PublicText: never a
// database's own words).
func (r *request) failed(to string, err error) error {
	setFlash(r.w, "error", ops.PublicText(err))
	http.Redirect(r.w, r.Request, to, http.StatusSeeOther)
	return nil
}

// userError is an error whose text the operator may read as it is (bad input).
type userError struct {
	status int
	msg    string
}

func (e *userError) Error() string { return e.msg }

// badRequest is a userError of status 400.
func badRequest(format string, args ...any) error {
	return &userError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// page authenticates the session, checks the role and the CSRF token of a form, and runs fn.
func (h *Handler) page(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		r, ok := h.session(w, hr)
		if !ok {
			return
		}
		if isWrite(hr.Method) {
			hr.Body = http.MaxBytesReader(w, hr.Body, maxForm)
			if why := h.checkForm(r); why != "" {
				h.deny(r, "refused: "+why)
				h.errorPage(w, hr, r, http.StatusForbidden, "The form was refused ("+why+"). Reload the page and try again.")
				return
			}
		}
		if !r.can(rt.action) {
			h.deny(r, "forbidden")
			h.errorPage(w, hr, r, http.StatusForbidden, fmt.Sprintf("Your role (%s) may not do this.", roleName(r.operator.Role)))
			return
		}
		if err := rt.fn(r); err != nil {
			var ue *userError
			switch {
			case errors.As(err, &ue):
				h.errorPage(w, hr, r, ue.status, ue.msg)
			case errors.Is(err, store.ErrNotFound):
				h.errorPage(w, hr, r, http.StatusNotFound, "Not found.")
			default:
				h.logger().Error("console", "path", hr.URL.Path, "operator", r.operator.Name, "err", err)
				h.errorPage(w, hr, r, http.StatusInternalServerError, "Internal error; the gateway's log says more.")
			}
		}
	})
}

// deny audits a request refused after sign-in (role or CSRF).
func (h *Handler) deny(r *request, outcome string) {
	if err := h.ops().Record(r.Context(), r.actor(), ops.ActionDenied, r.Method+" "+r.URL.Path, outcome, nil); err != nil {
		h.logger().Error("audit", "action", ops.ActionDenied, "err", err)
	}
}

// errorPage renders the error page (signed in: with the layout's navigation).
func (h *Handler) errorPage(w http.ResponseWriter, hr *http.Request, r *request, status int, msg string) {
	if r == nil {
		r = &request{Request: hr, w: w, h: h}
	}
	if err := r.render(status, "error", http.StatusText(status), "", msg); err != nil {
		h.logger().Error("console: error page", "err", err)
		http.Error(w, msg, status)
	}
}

// roleName is a role in words.
func roleName(r store.OperatorRole) string {
	switch r {
	case store.RoleSystemAdministrator:
		return "system administrator"
	case store.RoleCAOperator:
		return "CA operator"
	case store.RoleRAOperator:
		return "RA operator"
	case store.RoleAuditor:
		return "auditor"
	}
	return string(r)
}

// localPath returns p when it is a path of the console (a redirect target from a form or
// a query), else the dashboard: never another site (//evil.example, https://...).
func localPath(p string) string {
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/console/") ||
		strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
		return "/console/"
	}
	clean := path.Clean(u.Path)
	if !strings.HasPrefix(clean+"/", "/console/") {
		return "/console/"
	}
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	if u.RawQuery != "" {
		return clean + "?" + u.RawQuery
	}
	return clean
}
