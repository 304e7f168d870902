package console

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"eacgate/server"
	"eacgate/store"
)

func TestSignInAndOut(t *testing.T) {
	f := newFixture(t)
	b := f.signedIn("alice", store.RoleRAOperator)
	if !strings.Contains(b.last, "alice") || !strings.Contains(b.last, "RA operator") {
		t.Fatalf("dashboard does not name the operator: %s", b.last)
	}
	if code := b.post("/console/signout", nil); code != http.StatusOK || !strings.Contains(b.last, "Signed out") {
		t.Fatalf("sign out: %d %s", code, b.last)
	}
	if code := b.get("/console/"); code != http.StatusOK || !strings.Contains(b.last, "<h1>Sign in</h1>") {
		t.Fatalf("after sign-out the dashboard is shown: %d", code)
	}
	evs, err := f.st.ListAudit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var open, closed bool
	for _, e := range evs {
		open = open || (e.Action == "console.session.open" && e.Actor == "operator:alice")
		closed = closed || (e.Action == "console.session.close" && strings.Contains(e.Details, "signed out"))
	}
	if !open || !closed {
		t.Fatalf("sign-in and sign-out not audited: %+v", evs)
	}
}

func TestSignInRefusesUnknownAndDisabled(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.get("/console/signin")
	if b.post("/console/signin", url.Values{"token": {"not-a-token"}}); !strings.Contains(b.last, "Unknown token") {
		t.Fatalf("unknown token: %s", b.last)
	}
	tok := f.operator("bob", store.RoleAuditor)
	o, _ := f.st.OperatorByName(context.Background(), "bob")
	if err := f.st.SetOperatorDisabled(context.Background(), o.ID, true); err != nil {
		t.Fatal(err)
	}
	b.get("/console/signin")
	if b.post("/console/signin", url.Values{"token": {tok}}); !strings.Contains(b.last, "may not sign in") {
		t.Fatalf("disabled account signed in: %s", b.last)
	}
	// A sign-in form not sent by the page (no double-submit token) is refused.
	b2 := f.browser()
	if b2.post("/console/signin", url.Values{"token": {tok}, "csrf": {"forged"}}); !strings.Contains(b2.last, "not sent by this page") {
		t.Fatalf("forged sign-in form: %s", b2.last)
	}
}

func TestSessionTimeouts(t *testing.T) {
	f := newFixture(t)
	b := f.signedIn("carol", store.RoleAuditor)
	f.clock.Advance(DefaultIdleTimeout - time.Minute)
	if b.get("/console/"); !strings.Contains(b.last, "<h1>Dashboard</h1>") {
		t.Fatal("session ended before the idle timeout")
	}
	f.clock.Advance(DefaultIdleTimeout + time.Second)
	if b.get("/console/"); !strings.Contains(b.last, "idle timeout") {
		t.Fatalf("idle session not ended: %s", b.last)
	}
	// Activity keeps a session, but not beyond the absolute timeout.
	b = f.signedIn("dave", store.RoleAuditor)
	for elapsed := time.Duration(0); elapsed < DefaultAbsoluteTimeout-10*time.Minute; elapsed += 10 * time.Minute {
		f.clock.Advance(10 * time.Minute)
		if b.get("/console/"); !strings.Contains(b.last, "<h1>Dashboard</h1>") {
			t.Fatalf("active session ended after %s", elapsed)
		}
	}
	f.clock.Advance(11 * time.Minute)
	if b.get("/console/"); !strings.Contains(b.last, "absolute timeout") {
		t.Fatalf("session outlived the absolute timeout: %s", b.last)
	}
}

func TestFormsNeedCSRFTokenAndSameOrigin(t *testing.T) {
	f := newFixture(t)
	b := f.signedIn("erin", store.RoleRAOperator)
	if code := b.post("/console/signout", url.Values{"csrf": {""}}); code != http.StatusForbidden || !strings.Contains(b.last, "no CSRF token") {
		t.Fatalf("form without CSRF token: %d", code)
	}
	if code := b.post("/console/signout", url.Values{"csrf": {strings.Repeat("0", 64)}}); code != http.StatusForbidden {
		t.Fatalf("form with a wrong CSRF token: %d", code)
	}
	b.get("/console/")
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/console/signout", strings.NewReader(url.Values{"csrf": {b.csrf()}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site form: %d", res.StatusCode)
	}
	// Still signed in: none of the refused forms signed out.
	if b.get("/console/"); !strings.Contains(b.last, "<h1>Dashboard</h1>") {
		t.Fatal("a refused form ended the session")
	}
}

func TestSecurityHeadersAndCookie(t *testing.T) {
	f := newFixture(t)
	res, err := f.srv.Client().Get(f.srv.URL + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	if res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", res.Header)
	}
	b := f.signedIn("frank", store.RoleAuditor)
	u, _ := url.Parse(f.srv.URL)
	var found bool
	for _, c := range b.c.Jar.Cookies(u) {
		found = found || c.Name == sessionCookie
	}
	if !found {
		t.Fatal("no session cookie")
	}
	// The Set-Cookie attributes, as the browser receives them.
	b2 := f.browser()
	b2.get("/console/signin")
	form := url.Values{"token": {f.operator("gina", store.RoleAuditor)}, "csrf": {b2.csrf()}}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/console/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err = b2.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var set string
	for _, c := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, sessionCookie+"=") {
			set = c
		}
	}
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(set, want) {
			t.Errorf("session cookie %q lacks %s", set, want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/console/holders?role=terminal": "/console/holders?role=terminal",
		"//evil.example/console/":        "/console/",
		"https://evil.example/console/":  "/console/",
		"/console/../admin/v1/holders":   "/console/",
		"/admin/v1/holders":              "/console/",
		"":                               "/console/",
		"/console/\\evil":                "/console/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// An operator registered with a TLS client certificate signs in with it: the sign-in page
// offers it only on a connection presenting it.
func TestSignInWithClientCertificate(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(time.Now()) // the certificate is valid from now on
	certPEM, keyPEM, err := server.SelfSignedCertificate("operator hanna", []string{"operator.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	sum := sha256.Sum256(blk.Bytes)
	o := &store.Operator{Name: "hanna", Role: store.RoleRAOperator, Person: "hanna", TLSFingerprint: hex.EncodeToString(sum[:])}
	if err := f.st.CreateOperator(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	plain := f.browser()
	plain.get("/console/signin")
	if strings.Contains(plain.last, "Sign in with this certificate") {
		t.Fatal("certificate sign-in offered without a certificate")
	}
	if plain.post("/console/signin", url.Values{"with": {"certificate"}}); !strings.Contains(plain.last, "no registered, valid operator certificate") {
		t.Fatalf("certificate sign-in without a certificate: %s", plain.last)
	}
	b := f.browser()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	b.c.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{pair}
	b.get("/console/signin")
	if !strings.Contains(b.last, "Sign in with this certificate") || !strings.Contains(b.last, "hanna") {
		t.Fatalf("certificate sign-in not offered: %s", b.last)
	}
	if b.post("/console/signin", url.Values{"with": {"certificate"}}); !strings.Contains(b.last, "<h1>Dashboard</h1>") || !strings.Contains(b.last, "hanna") {
		t.Fatalf("certificate sign-in: %s", b.last)
	}
	ev, err := f.st.LatestAuditEvent(context.Background(), fmt.Sprintf("operator:%d", o.ID), "console.session.open")
	if err != nil || !strings.Contains(ev.Details, "tls-certificate") {
		t.Fatalf("sign-in event: %+v %v", ev, err)
	}
}
