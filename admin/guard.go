package admin

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// The admin API's defence against cross-site request forgery. An operator's browser holding a
// TLS client certificate presents it to any page's request, so a form or fetch() from
// another site could otherwise act as the operator. Two checks on every write (POST, PUT,
// PATCH, DELETE), before authentication; reads change nothing and their answers are not
// readable cross-origin (no CORS headers are ever sent):
//
//   - Cross-site requests are refused (403): Sec-Fetch-Site, when the browser sends it, must
//     be same-origin or none (typed URL, bookmark); an Origin header must name this host.
//     This is what Go's http.CrossOriginProtection does, but both headers are checked when
//     both are present.
//   - The body must be declared Content-Type: application/json (415):
//     a browser sends that type cross-origin only after a CORS preflight, which this server
//     never grants, whereas text/plain, form encodings and a missing type need none.
//
// Non-browser clients (curl, scripts) send neither Sec-Fetch-Site nor Origin and pass the
// first check; they need the Content-Type header on writes.

// isWrite reports whether the method changes state.
func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// crossSite returns why r is a cross-site request, or "".
func crossSite(r *http.Request) string {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return "Sec-Fetch-Site: " + s
	}
	if o := r.Header.Get("Origin"); o != "" && !sameHost(o, r) {
		return "Origin: " + o
	}
	return ""
}

// sameHost reports whether the origin (scheme://host[:port], or "null") names the host the
// request was sent to. Default ports are ignored on both sides.
func sameHost(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return false
	}
	return normalHost(u.Host, u.Scheme) == normalHost(r.Host, requestScheme(r))
}

func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// normalHost lower-cases host[:port] and drops the scheme's default port.
func normalHost(hostport, scheme string) string {
	hostport = strings.ToLower(hostport)
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return strings.Trim(hostport, "[]")
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		return host
	}
	return net.JoinHostPort(host, port)
}

// isJSON reports whether the Content-Type header is application/json (parameters such as
// charset allowed).
func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// guard applies the cross-site and content-type checks to the admin API (/admin/). The emCA
// endpoints are not guarded: a browser cannot forge them, since they need the custom emKey
// header (which makes any cross-origin request preflighted) and a body sealed with the
// client's AES key; and emCA clients that omit or vary the Content-Type keep working.
func (h *Handler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/admin/") {
			next.ServeHTTP(w, r)
			return
		}
		if isWrite(r.Method) {
			if why := crossSite(r); why != "" {
				h.logger().Warn("admin API: cross-site request refused", "method", r.Method, "path", r.URL.Path, "source", remoteIP(r), "reason", why)
				writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site request refused"})
				return
			}
			if !isJSON(r) {
				writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "Content-Type must be application/json"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
