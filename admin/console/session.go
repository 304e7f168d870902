package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"eacgate/ops"
	"eacgate/server"
	"eacgate/store"
)

// Sessions. Signing in with an operator's bearer token or registered TLS client
// certificate opens a session: 256 random bits in a cookie (__Host- prefix: Secure, Path=/,
// no Domain; HttpOnly; SameSite=Strict), of which the store keeps the SHA-256 with the
// operator, the time of the last request and the absolute end. Every request re-reads the
// session and the operator account, so a sign-out, a timeout or a disabled account ends
// access on every instance at once.
//
// Forms. Every POST carries a CSRF token, an HMAC of the session token (it cannot be
// computed without the HttpOnly cookie and needs no storage), and must come from this
// origin (Sec-Fetch-Site, Origin). The sign-in form, which has no session yet, carries a
// token that must equal a cookie of its own (double submit).

const (
	sessionCookie = "__Host-eacgate-console"
	signinCookie  = "__Host-eacgate-signin"
	flashCookie   = "__Host-eacgate-flash"
	// maxForm bounds a form's body.
	maxForm = 64 << 10
	// touchEvery: a session's last activity is written at most this often.
	touchEvery = 30 * time.Second
)

func (h *Handler) idle() time.Duration {
	if h.Options.IdleTimeout > 0 {
		return h.Options.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (h *Handler) absolute() time.Duration {
	if h.Options.AbsoluteTimeout > 0 {
		return h.Options.AbsoluteTimeout
	}
	return DefaultAbsoluteTimeout
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// csrfToken is the forms' token of a session.
func csrfToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("eacgate console csrf v1"))
	return hex.EncodeToString(m.Sum(nil))
}

func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// setFlash leaves a message for the next page (kind "ok" or "error").
func setFlash(w http.ResponseWriter, kind, msg string) {
	if len(msg) > 600 {
		msg = msg[:600] + "…"
	}
	setCookie(w, flashCookie, kind+":"+url.QueryEscape(msg), 60)
}

// takeFlash returns the message left by the previous request and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) (ok, failed string) {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return "", ""
	}
	setCookie(w, flashCookie, "", -1)
	kind, v, _ := strings.Cut(c.Value, ":")
	msg, err := url.QueryUnescape(v)
	if err != nil {
		return "", ""
	}
	if kind == "error" {
		return "", msg
	}
	return msg, ""
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// crossSite returns why a write comes from another site, or "".
func crossSite(r *http.Request) string {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return "cross-site request (Sec-Fetch-Site: " + s + ")"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return "cross-site request (Origin: " + o + ")"
		}
	}
	return ""
}

// checkForm returns why a signed-in form post is refused, or "".
func (h *Handler) checkForm(r *request) string {
	if why := crossSite(r.Request); why != "" {
		return why
	}
	if err := parseForm(r.Request); err != nil {
		return "unreadable form"
	}
	got := r.PostFormValue("csrf")
	if got == "" {
		return "no CSRF token"
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(r.csrf)) != 1 {
		return "wrong CSRF token"
	}
	return ""
}

// parseForm parses a form: URL-encoded, or multipart (file uploads) within maxForm.
func parseForm(r *http.Request) error {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		return r.ParseMultipartForm(maxForm)
	}
	return r.ParseForm()
}

// session returns the signed-in request, or redirects to the sign-in page (a page) and
// returns false.
func (h *Handler) session(w http.ResponseWriter, hr *http.Request) (*request, bool) {
	toSignIn := func(msg string) (*request, bool) {
		if msg != "" {
			setFlash(w, "error", msg)
		}
		next := "/console/"
		if hr.Method == http.MethodGet {
			next = hr.URL.RequestURI()
		}
		http.Redirect(w, hr, "/console/signin?next="+url.QueryEscape(localPath(next)), http.StatusSeeOther)
		return nil, false
	}
	c, err := hr.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return toSignIn("")
	}
	ctx := hr.Context()
	sess, err := h.Store.ConsoleSessionByToken(ctx, ops.TokenHash(c.Value))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.logger().Error("console: session lookup", "err", err)
			h.errorPage(w, hr, nil, http.StatusServiceUnavailable, "The session could not be checked; try again.")
			return nil, false
		}
		setCookie(w, sessionCookie, "", -1)
		return toSignIn("")
	}
	if sess.EndedAt != nil {
		setCookie(w, sessionCookie, "", -1)
		return toSignIn("Your session has ended; sign in again.")
	}
	op, err := h.Store.OperatorByID(ctx, sess.OperatorID)
	if err != nil {
		h.logger().Error("console: operator of a session", "session", sess.ID, "err", err)
		h.errorPage(w, hr, nil, http.StatusServiceUnavailable, "The session could not be checked; try again.")
		return nil, false
	}
	r := &request{Request: hr, w: w, h: h, operator: op, session: sess, csrf: csrfToken(c.Value), source: remoteIP(hr)}
	now := h.now()
	why := ""
	switch {
	case !now.Before(sess.ExpiresAt):
		why = "absolute timeout"
	case now.Sub(sess.LastSeenAt) >= h.idle():
		why = "idle timeout"
	case ops.CheckOperatorUsable(op, now) != nil:
		why = "account not usable"
	}
	if why != "" {
		if err := h.ops().CloseConsoleSession(ctx, r.actor(), sess, why); err != nil {
			h.logger().Error("console: close session", "session", sess.ID, "err", err)
		}
		setCookie(w, sessionCookie, "", -1)
		return toSignIn("Your session has ended (" + why + "); sign in again.")
	}
	if err := h.Store.TouchConsoleSession(ctx, sess.ID, now, touchEvery); err != nil {
		h.logger().Warn("console: session activity", "session", sess.ID, "err", err)
	}
	return r, true
}

// signInData is the sign-in page's data.
type signInData struct {
	Next string
	// Certificate names the operator whose TLS client certificate this connection
	// presents (empty: none registered).
	Certificate string
	Token       string // the sign-in form's double-submit token
}

func (h *Handler) signInPage(w http.ResponseWriter, hr *http.Request) {
	tok := randomToken()
	setCookie(w, signinCookie, tok, 600)
	d := signInData{Next: localPath(hr.URL.Query().Get("next")), Token: tok}
	if op := h.certificateOperator(hr); op != nil {
		d.Certificate = op.Name
	}
	r := &request{Request: hr, w: w, h: h, csrf: tok}
	if err := r.render(http.StatusOK, "signin", "Sign in", "", d); err != nil {
		h.logger().Error("console: sign-in page", "err", err)
	}
}

// certificateOperator returns the operator registered with the connection's TLS client
// certificate when the certificate may be used now, or nil.
func (h *Handler) certificateOperator(r *http.Request) *store.Operator {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	cert := r.TLS.PeerCertificates[0]
	sum := sha256.Sum256(cert.Raw)
	op, err := h.Store.OperatorByFingerprint(r.Context(), hex.EncodeToString(sum[:]))
	if err != nil || server.CheckClientCertificate(cert, h.now()) != nil {
		return nil
	}
	return op
}

// signIn checks the form and the credentials and opens a session.
func (h *Handler) signIn(w http.ResponseWriter, hr *http.Request) {
	hr.Body = http.MaxBytesReader(w, hr.Body, maxForm)
	source := remoteIP(hr)
	again := func(msg string) {
		setFlash(w, "error", msg)
		http.Redirect(w, hr, "/console/signin?next="+url.QueryEscape(localPath(hr.PostFormValue("next"))), http.StatusSeeOther)
	}
	if why := crossSite(hr); why != "" {
		h.errorPage(w, hr, nil, http.StatusForbidden, "The form was refused ("+why+").")
		return
	}
	c, cerr := hr.Cookie(signinCookie)
	if perr := hr.ParseForm(); perr != nil || cerr != nil || c.Value == "" ||
		subtle.ConstantTimeCompare([]byte(c.Value), []byte(hr.PostFormValue("csrf"))) != 1 {
		again("The sign-in form expired or was not sent by this page; try again.")
		return
	}
	var (
		op  *store.Operator
		err error
	)
	how := "token"
	refused := func(target, reason string, known *store.Operator) {
		a := ops.Actor{Channel: ops.ChannelConsole, Name: "(unknown)", Remote: source}
		if known != nil {
			a.Name, a.Role, target = known.Name, known.Role, "operator:"+known.Name
		}
		h.ops().AuthRefused(hr.Context(), a, ops.ActionAuthRefused, target, "refused: "+reason,
			map[string]string{"request": "console sign-in", "user_agent": hr.UserAgent()})
	}
	if hr.PostFormValue("with") == "certificate" {
		how = "tls-certificate"
		if op = h.certificateOperator(hr); op == nil {
			refused("certificate", "no usable registered certificate", nil)
			again("This connection presents no registered, valid operator certificate.")
			return
		}
	} else {
		token := strings.TrimSpace(hr.PostFormValue("token"))
		if token == "" {
			again("Enter your operator token.")
			return
		}
		op, err = h.Store.OperatorByToken(hr.Context(), ops.TokenHash(token))
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				h.logger().Error("console: sign-in lookup", "err", err)
				again("The sign-in could not be checked; try again.")
				return
			}
			refused("token", "unknown credentials", nil)
			again("Unknown token.")
			return
		}
	}
	now := h.now()
	if err := ops.CheckOperatorUsable(op, now); err != nil {
		refused("", ops.PublicText(err), op)
		again("This account may not sign in: " + ops.PublicText(err) + ".")
		return
	}
	token := randomToken()
	sess := &store.ConsoleSession{TokenHash: ops.TokenHash(token), OperatorID: op.ID, Remote: source,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(h.absolute())}
	r := &request{Request: hr, w: w, h: h, operator: op, source: source}
	if err := h.ops().OpenConsoleSession(hr.Context(), r.actor(), sess, how); err != nil {
		h.logger().Error("console: open session", "operator", op.Name, "err", err)
		again("The session could not be opened; try again.")
		return
	}
	h.ops().OperatorAuthenticated(hr.Context(), r.actor(), op, map[string]string{"user_agent": hr.UserAgent()})
	setCookie(w, signinCookie, "", -1)
	setCookie(w, sessionCookie, token, int(h.absolute()/time.Second))
	http.Redirect(w, hr, localPath(hr.PostFormValue("next")), http.StatusSeeOther)
}

// signOut ends the session.
func (h *Handler) signOut(w http.ResponseWriter, hr *http.Request) {
	r, ok := h.session(w, hr)
	if !ok {
		return
	}
	hr.Body = http.MaxBytesReader(w, hr.Body, maxForm)
	if why := h.checkForm(r); why != "" {
		h.deny(r, "refused: "+why)
		h.errorPage(w, hr, r, http.StatusForbidden, "The form was refused ("+why+").")
		return
	}
	if err := h.ops().CloseConsoleSession(hr.Context(), r.actor(), r.session, "signed out"); err != nil {
		h.logger().Error("console: sign out", "err", err)
		h.errorPage(w, hr, r, http.StatusInternalServerError, "The session could not be ended; try again.")
		return
	}
	setCookie(w, sessionCookie, "", -1)
	setFlash(w, "ok", "Signed out.")
	http.Redirect(w, hr, "/console/signin", http.StatusSeeOther)
}

// securityHeaders sets the console's headers: a strict Content-Security-Policy (own
// script and style only, no inline script, no framing), no caching of pages, no referrer
// leaving the site.
func securityHeaders(next http.Handler) http.Handler {
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !strings.HasPrefix(r.URL.Path, "/console/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}
