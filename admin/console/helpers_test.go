package console

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"eacgate/ops"
	"eacgate/store"
)

// testClock is the injected clock of the console tests.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is a console over a fresh SQLite store, served over HTTPS by httptest.
type fixture struct {
	t     *testing.T
	st    *store.Store
	h     *Handler
	srv   *httptest.Server
	clock *testClock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := &testClock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	h := &Handler{Store: st, Country: "UT", Now: clock.Now, TwoPerson: ops.TwoPerson{}}
	routes, err := h.Routes()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(routes)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &fixture{t: t, st: st, h: h, srv: srv, clock: clock}
}

// operator creates an operator account and returns its token.
func (f *fixture) operator(name string, role store.OperatorRole) string {
	f.t.Helper()
	token := randomToken()
	o := &store.Operator{Name: name, Role: role, Person: name, TokenHash: ops.TokenHash(token)}
	if err := f.st.CreateOperator(context.Background(), o); err != nil {
		f.t.Fatal(err)
	}
	return token
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
type browser struct {
	f    *fixture
	c    *http.Client
	last string // the last page's body
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	// A transport of its own: its own connections and TLS client certificate.
	tr := f.srv.Client().Transport.(*http.Transport).Clone()
	c := &http.Client{Transport: tr, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{f: f, c: c}
}

// get fetches a path and follows redirects within the console; it returns the final
// status and keeps the body.
func (b *browser) get(p string) int {
	b.f.t.Helper()
	for range 5 {
		res, err := b.c.Get(b.f.srv.URL + p)
		if err != nil {
			b.f.t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		b.last = string(body)
		if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusFound {
			return res.StatusCode
		}
		p = res.Header.Get("Location")
	}
	b.f.t.Fatalf("too many redirects at %s", p)
	return 0
}

// post sends a form as the page would (same-origin), with the CSRF token of the last
// page unless the form sets one, follows the redirect and returns the final status.
func (b *browser) post(p string, form url.Values) int {
	b.f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf())
	}
	return b.send(p, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

// send posts body as the page's own form would (same origin), follows the redirect and
// returns the final status.
func (b *browser) send(p, contentType string, body io.Reader) int {
	b.f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.f.srv.URL+p, body)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Origin", b.f.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := b.c.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	b.last = string(out)
	if res.StatusCode == http.StatusSeeOther {
		return b.get(res.Header.Get("Location"))
	}
	return res.StatusCode
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the last page.
func (b *browser) csrf() string {
	m := csrfField.FindStringSubmatch(b.last)
	if m == nil {
		return ""
	}
	return m[1]
}

// signIn signs in with token and fails the test unless the dashboard follows.
func (b *browser) signIn(token string) {
	b.f.t.Helper()
	if code := b.get("/console/signin"); code != http.StatusOK {
		b.f.t.Fatalf("sign-in page: %d", code)
	}
	if code := b.post("/console/signin", url.Values{"token": {token}, "next": {"/console/"}}); code != http.StatusOK || !strings.Contains(b.last, "<h1>Dashboard</h1>") {
		b.f.t.Fatalf("sign in: %d %s", code, b.last)
	}
}

// signedIn returns a browser signed in as a new operator of role.
func (f *fixture) signedIn(name string, role store.OperatorRole) *browser {
	b := f.browser()
	b.signIn(f.operator(name, role))
	return b
}
