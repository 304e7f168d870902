package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	eacgw "eacgate/gateway"
	"eacgate/internal/openpace"
	"eacgate/internal/testenv"
	"eacgate/ra"
)

// tab is one browser tab of the console tests: real Debian chromium, driven over the
// DevTools protocol by chromedp.
type tab struct {
	t      *testing.T
	ctx    context.Context
	base   string
	shots  string
	titles map[string]string // page title -> the path it was seen on
}

// newBrowser starts headless chromium (a fresh profile; certificate errors ignored: the
// gateway's certificate is self-signed) and returns its first tab.
func newBrowser(t *testing.T, base string) *tab {
	t.Helper()
	exe := testenv.Tool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1366, 900),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	// Start the browser on this context: the browser lives as long as the context of its
	// first action, and later actions run on shorter-lived children.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	shots := os.Getenv("EACGATE_SCREENSHOTS") // make screenshots: docs/screenshots
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return &tab{t: t, ctx: ctx, base: base, shots: shots, titles: map[string]string{}}
}

// step bounds one browser action: a selector that never matches fails the test in
// seconds instead of waiting for the test's deadline.
const step = 30 * time.Second

func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func run[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// open loads a console path and checks the page's accessibility basics.
func (b *tab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path))
	b.accessible()
}

// submit clicks sel (a submit button) and waits until the next page has loaded.
func (b *tab) submit(sel string) {
	b.t.Helper()
	run(b, "mark the page", chromedp.Evaluate[bool](`window.__eacgateOld = true`))
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
	// The page's JavaScript context is replaced while the next page loads, so an evaluation
	// may fail on the way: ask again until the new page is complete.
	testenv.Eventually(b.t, step, "the next page after clicking "+sel, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!window.__eacgateOld && document.readyState === "complete"`))
		return err == nil && loaded
	})
	b.accessible()
}

func (b *tab) set(sel, value string) {
	b.t.Helper()
	b.do("set "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	return run(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// main is the text of the page's main element.
func (b *tab) main() string { return b.text("main") }

func (b *tab) location() string { return run(b, "location", chromedp.Location()) }

// shot saves a full-page screenshot as NAME.png.
func (b *tab) shot(name string) {
	b.t.Helper()
	png := run(b, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// accessible checks what a screen reader needs first: a language, a title naming the page
// (distinct per page), one h1, every form field labelled, every table column headed.
func (b *tab) accessible() {
	b.t.Helper()
	type report struct {
		Lang, Title, Path string
		H1                int
		Unlabelled        []string
		UnheadedTables    int
	}
	r := run(b, "accessibility", chromedp.Evaluate[report](`(() => {
		const fields = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')];
		return {
			Lang: document.documentElement.lang, Title: document.title, Path: location.pathname,
			H1: document.querySelectorAll('h1').length,
			Unlabelled: fields.filter(f => !(f.labels && f.labels.length) && !f.getAttribute('aria-label')).map(f => f.outerHTML),
			UnheadedTables: [...document.querySelectorAll('table')].filter(t => !t.querySelector('th')).length,
		};
	})()`))
	if r.Lang == "" || r.Title == "" || r.H1 != 1 || len(r.Unlabelled) > 0 || r.UnheadedTables > 0 {
		b.t.Errorf("%s: accessibility: %+v", r.Path, r)
	}
	if seen, ok := b.titles[r.Title]; ok && seen != r.Path && !strings.HasPrefix(r.Title, "Sign in") && !strings.HasPrefix(r.Title, "Forbidden") {
		b.t.Errorf("pages %s and %s share the title %q", seen, r.Path, r.Title)
	}
	b.titles[r.Title] = r.Path
}

func (b *tab) signIn(token string) {
	b.t.Helper()
	b.open("/console/")
	if !strings.HasPrefix(run(b, "title", chromedp.Title()), "Sign in") {
		b.t.Fatalf("not sent to the sign-in page: %s", b.location())
	}
	b.set("#token", token)
	b.submit("form:has(#token) button[type=submit]")
	if h1 := b.text("h1"); h1 != "Dashboard" {
		b.t.Fatalf("signed in, but the page is %q: %s", h1, b.main())
	}
}

func (b *tab) signOut() {
	b.t.Helper()
	b.submit("form.signout button[type=submit]")
	if !strings.Contains(b.main(), "Signed out") {
		b.t.Fatalf("sign out: %s", b.main())
	}
}

// issueAt issues a terminal's first certificate as the DV did at a past time (so that it
// expires soon, or has expired) and records it as the gateway would have; it returns the
// certificate and the terminal's key.
func (g *gateway) issueAt(t *testing.T, mnemonic string, chain []*cvc.Certificate, at time.Time) (*cvc.Certificate, *ecc.PrivateKey) {
	t.Helper()
	ctx := context.Background()
	gw, err := eacgw.OpenStores(ctx, eacgw.Options{DataDir: g.data})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	dvKey, err := gw.Keys.Signer(ctx, "dv")
	if err != nil {
		t.Fatal(err)
	}
	dv := &authority.Issuer{Path: chain, Signer: dvKey, Policy: authority.DefaultPolicy(), Now: func() time.Time { return at }}
	req, key := newRequest(t, "brainpoolP256r1", "UT"+mnemonic+"00001", chain[1].CHR, "", nil)
	cert, err := dv.Issue(req, authority.Applicant{Country: "UT", Mnemonic: mnemonic, Role: cvc.RoleTerminal, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	h, err := gw.Store.HolderByName(ctx, "UT", mnemonic)
	if err != nil {
		t.Fatal(err)
	}
	if err := ra.NewStoreRegistry(gw.Store).RecordCertificate(ctx, h.ID, cert); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// The console in a real browser against the real binary: sign-in, the dashboard's expiring
// certificates, suspending a terminal on its page (its next SOAP renewal is refused), a
// certificate downloaded and checked by openpace, a DV registration proposed by one RA
// operator and approved by another, an auditor who sees no write button and whose forged
// POST is refused, a form without its CSRF token refused; screenshots of the main pages and
// the accessibility basics of every page visited.
func TestConsoleInABrowser(t *testing.T) {
	g := startGateway(t)
	ra1 := g.operatorToken(t, "ra1", "ra_operator")
	ra2 := g.operatorToken(t, "ra2", "ra_operator")
	aud := g.operatorToken(t, "aud1", "auditor")
	api := g.admin(t, ra1)

	// Seeded data: a terminal with its first certificate, two terminals whose
	// certificates expire in 3 and in 20 days.
	term := g.register(t, "UT", "ISCONS01", "terminal")
	chain := parseChain(t, certificates(t, g.zeep(t, "/dv", term, caCall())[0]))
	req1, key1 := newRequest(t, "brainpoolP256r1", "UTISCONS0100001", chain[1].CHR, "", nil)
	if res := g.zeep(t, "/dv", term, requestCall("c-1", req1)); res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("initial: %v", res[0])
	}
	g.register(t, "UT", "ISEXP03", "terminal")
	g.register(t, "UT", "ISEXP20", "terminal")
	now := time.Now()
	soon, _ := g.issueAt(t, "ISEXP03", chain, now.AddDate(0, 0, -26))
	later, _ := g.issueAt(t, "ISEXP20", chain, now.AddDate(0, 0, -9))

	b := newBrowser(t, g.base)
	b.signIn(ra1)
	expiring := b.text("#expiring")
	i, j := strings.Index(expiring, soon.CHR), strings.Index(expiring, later.CHR)
	if i < 0 || j < 0 || i > j {
		t.Fatalf("the dashboard's expiring certificates lack %s and %s in that order:\n%s", soon.CHR, later.CHR, expiring)
	}
	b.shot("dashboard")

	var holders []holderRow
	api.do("GET", "/admin/v1/holders?role=terminal", nil, &holders)
	idx := slices.IndexFunc(holders, named("ISCONS01"))
	if idx < 0 {
		t.Fatalf("terminal not listed: %+v", holders)
	}
	termID := holders[idx].ID
	holderPage := fmt.Sprintf("/console/holders/%d", termID)

	// A form posted without its CSRF token is refused and changes nothing.
	b.open(holderPage)
	run(b, "remove the CSRF token", chromedp.Evaluate[bool](`document.querySelector('#suspend-reason').form.querySelector('input[name=csrf]').remove(), true`))
	b.set("#suspend-reason", "forged")
	b.submit("form:has(#suspend-reason) button[type=submit]")
	if !strings.Contains(b.main(), "no CSRF token") {
		t.Fatalf("a form without its CSRF token: %s", b.main())
	}
	var h struct {
		Status string `json:"status"`
	}
	api.do("GET", fmt.Sprintf("/admin/v1/holders/%d", termID), nil, &h)
	if h.Status != "active" {
		t.Fatalf("the refused form changed the holder: %s", h.Status)
	}

	// Suspend the terminal on its page: its next renewal over SOAP is refused.
	b.open(holderPage)
	b.shot("holder")
	b.set("#suspend-reason", "key compromise reported by the border post")
	b.submit("form:has(#suspend-reason) button[type=submit]")
	if !strings.Contains(b.text(".flash.ok"), "suspended") {
		t.Fatalf("suspend: %s", b.main())
	}
	req2, _ := newRequest(t, "brainpoolP256r1", "UTISCONS0100002", chain[1].CHR, "UTISCONS0100001", key1)
	if res := g.zeep(t, "/dv", term, requestCall("c-2", req2)); res[0]["returnCode"] != "failure_request_not_accepted" {
		t.Fatalf("renewal of the suspended terminal: %v", res[0])
	}

	// The certificate's page, and its DER downloaded through the browser, checked by openpace.
	var certs []struct {
		ID  int64  `json:"id"`
		CHR string `json:"chr"`
	}
	api.do("GET", fmt.Sprintf("/admin/v1/certificates?holder_id=%d", termID), nil, &certs)
	if len(certs) == 0 {
		t.Fatal("the terminal has no certificate")
	}
	b.open(fmt.Sprintf("/console/certificates/%d", certs[0].ID))
	page := b.main()
	for _, want := range []string{"UTISCONS0100001", chain[1].CHR, "SHA-256"} {
		if !strings.Contains(page, want) {
			t.Errorf("certificate page lacks %q:\n%s", want, page)
		}
	}
	b.shot("certificate")
	der := b.download(`a[href$="/der"]`)
	cert, err := cvc.ParseCertificate(der)
	if err != nil || cert.CHR != "UTISCONS0100001" {
		t.Fatalf("downloaded certificate: %v", err)
	}
	openpace.Verifies(t, chain, cert)

	// A DV registration proposed by ra1 and approved by ra2.
	b.open("/console/holders/new")
	b.set("#h-country", "UT")
	b.set("#h-mnemonic", "DVCONSOLE")
	b.set("#h-role", "dv_domestic")
	b.submit("form:has(#h-mnemonic) button[type=submit]")
	proposal := b.location()
	if !strings.Contains(proposal, "/console/proposals/") || !strings.Contains(b.main(), "waits for the approval") {
		t.Fatalf("DV registration not proposed: %s\n%s", proposal, b.main())
	}
	b.shot("proposal")
	if status := api.do("GET", "/admin/v1/holders?role=dv_domestic", nil, &holders); status != 200 || slices.ContainsFunc(holders, named("DVCONSOLE")) {
		t.Fatal("the DV was registered by one person")
	}
	b.signOut()
	b.signIn(ra2)
	b.do("open the proposal", chromedp.Navigate(proposal))
	b.submit(`form[action$="/approve"] button[type=submit]`)
	if !strings.Contains(b.main(), "executed") {
		t.Fatalf("approval: %s", b.main())
	}
	api.do("GET", "/admin/v1/holders?role=dv_domestic", nil, &holders)
	if !slices.ContainsFunc(holders, named("DVCONSOLE")) {
		t.Fatal("the approved DV registration did not run")
	}
	for _, p := range []struct{ path, shot string }{
		{"/console/hierarchy", "hierarchy"}, {"/console/holders", "holders"}, {"/console/certificates", "certificates"},
		{"/console/proposals?state=executed", "proposals"}, {"/console/requests", "requests"}, {"/console/outbox", "outbox"},
		{"/console/partners", "partners"}, {"/console/messages", "messages"}, {"/console/reports", "reports"},
		{"/console/reports/statistics", "statistics"},
	} {
		b.open(p.path)
		b.shot(p.shot)
	}
	b.signOut()

	// The auditor sees everything, has no write button, and a POST it forges is refused.
	b.signIn(aud)
	b.open(holderPage)
	if n := run(b, "write forms", chromedp.Evaluate[int](`document.querySelectorAll('main form[method=post]').length`)); n != 0 {
		t.Fatalf("the auditor sees %d write forms on a holder's page", n)
	}
	// The CSP forbids fetch() (connect-src 'none'), so the forgery is a form of its own,
	// with the session's valid CSRF token, posted by the auditor's browser.
	run(b, "forge a form", chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const f = document.createElement('form');
		f.method = 'post'; f.action = %q; f.id = 'forged';
		for (const [k, v] of [['reason', 'forged'], ['csrf', document.querySelector('form.signout input[name=csrf]').value]]) {
			const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
		}
		const s = document.createElement('button'); s.type = 'submit'; s.textContent = 'forged'; f.appendChild(s);
		document.body.appendChild(f);
		return true;
	})()`, holderPage+"/reinstate")))
	b.submit("#forged button")
	if !strings.Contains(b.main(), "may not do this") {
		t.Fatalf("the auditor's forged POST: %s", b.main())
	}
	api.do("GET", fmt.Sprintf("/admin/v1/holders/%d", termID), nil, &h)
	if h.Status != "suspended" {
		t.Fatalf("the auditor's forged POST changed the holder: %s", h.Status)
	}
	b.open("/console/audit")
	if !strings.Contains(b.main(), "console.holder.suspend") {
		t.Errorf("the audit log lacks the console's suspension")
	}
	b.shot("audit")
	b.open("/console/operators")
	b.shot("operators")
}

// holderRow is a holder as the REST API lists it.
type holderRow struct {
	ID       int64  `json:"id"`
	Mnemonic string `json:"mnemonic"`
}

func named(mnemonic string) func(holderRow) bool {
	return func(h holderRow) bool { return h.Mnemonic == mnemonic }
}

// download clicks a link whose answer is an attachment and returns the file's bytes.
func (b *tab) download(sel string) []byte {
	b.t.Helper()
	dir := b.t.TempDir()
	if _, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true)}); err != nil {
		b.t.Fatalf("download behaviour: %v", err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	events := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
	for ev, err := range events {
		if err != nil {
			b.t.Fatalf("download: %v", err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			raw, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				b.t.Fatal(err)
			}
			return bytes.Clone(raw)
		case browser.DownloadProgressStateCanceled:
			b.t.Fatal("download canceled")
		}
	}
	b.t.Fatal("no download")
	return nil
}

var consoleLine = regexp.MustCompile(`Web console \(operators\):\s+(https://127\.0\.0\.1:\d+/console/)`)

// console.listen puts the console on a listener of its own: served there over TLS, absent
// from the main listener.
func TestConsoleOnItsOwnListener(t *testing.T) {
	g := &gateway{bin: eacgateBinary(t), data: t.TempDir()}
	cfg := filepath.Join(t.TempDir(), "eacgate.yaml")
	if err := os.WriteFile(cfg, []byte("country: UT\nconsole:\n  listen: 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g.extra = []string{"--config", cfg}
	g.run(t, "init", "cvca", "--chr", "UTCVCA00001")
	g.start(t, "--config", cfg)
	var url string
	testenv.Eventually(t, 30*time.Second, "the console's URL", func() bool {
		m := consoleLine.FindStringSubmatch(g.stdout.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	if strings.HasPrefix(url, g.base+"/") {
		t.Fatalf("the console is on the main listener: %s", url)
	}
	api := g.admin(t, "")
	get := func(u string) (int, string) {
		res, err := api.hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, body := get(url + "signin"); code != 200 || !strings.Contains(body, "<h1>Sign in</h1>") {
		t.Fatalf("console listener: %d", code)
	}
	if code, _ := get(g.base + "/console/signin"); code != 404 {
		t.Fatalf("main listener serves the console: %d", code)
	}
}
