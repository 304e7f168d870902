package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"eacgate/ops"
	"eacgate/store"
)

// dashSeed adds holders, certificates and messages for the dashboard's tests.
type dashSeed struct {
	f *fixture
	n int
}

func (s *dashSeed) holder(country, mnemonic string, role store.Role) *store.Holder {
	s.f.t.Helper()
	h := &store.Holder{Country: country, Mnemonic: mnemonic, Role: role}
	if err := s.f.st.CreateHolder(context.Background(), h); err != nil {
		s.f.t.Fatal(err)
	}
	return h
}

// cert adds a certificate expiring days after the fixture clock's date.
func (s *dashSeed) cert(h *store.Holder, role store.Role, car, chr string, days int) *store.Certificate {
	s.f.t.Helper()
	s.n++
	today := s.f.clock.Now().UTC().Truncate(24 * time.Hour)
	c := &store.Certificate{CHR: chr, CAR: car, Role: role, Raw: []byte{1}, KeySHA256: fmt.Sprintf("%064x", s.n),
		NotBefore: today.AddDate(0, 0, -20), NotAfter: today.AddDate(0, 0, days)}
	if h != nil {
		c.HolderID = &h.ID
	}
	if err := s.f.st.AddCertificate(context.Background(), c); err != nil {
		s.f.t.Fatal(err)
	}
	return c
}

// message stores a message created ago before the fixture's clock.
func (s *dashSeed) message(m store.Message, ago time.Duration) {
	s.f.t.Helper()
	s.n++
	at := s.f.clock.Now().Add(-ago).UTC()
	m.MessageID = fmt.Sprintf("m%d", s.n)
	if m.Originator == "" {
		m.Originator = "self"
	}
	if m.Operation == "" {
		m.Operation = "RequestCertificate"
	}
	if m.Direction == "" {
		m.Direction = store.Incoming
	}
	m.State, m.CreatedAt, m.UpdatedAt = store.MessageAnswered, at, at
	if err := s.f.st.DB().Create(&m).Error; err != nil {
		s.f.t.Fatal(err)
	}
}

// section returns the element with id (a table, list or section of its tag) from page.
func section(t *testing.T, page, tag, id string) string {
	t.Helper()
	start := regexp.MustCompile(`<` + tag + `[^>]* id="` + regexp.QuoteMeta(id) + `"`).FindStringIndex(page)
	if start == nil {
		t.Fatalf("no <%s id=%q> in the page:\n%s", tag, id, page)
	}
	end := "</" + tag + ">"
	if tag == "ul" { // nested lists: up to the end of the page's section
		end = "</section>"
	}
	rest := page[start[0]:]
	if i := strings.Index(rest, end); i >= 0 {
		rest = rest[:i+len(end)]
	}
	return rest
}

// row returns the table row with id.
func row(t *testing.T, page, id string) string { return section(t, page, "tr", id) }

func TestDashboard(t *testing.T) {
	f := newFixture(t)
	f.h.DVMnemonic = "DVOWN"
	s := &dashSeed{f: f}
	ctx := context.Background()
	now := f.clock.Now()

	s.cert(nil, store.RoleCVCA, "UTCVCA00001", "UTCVCA00001", 60)
	link := s.cert(nil, store.RoleCVCA, "UTCVCA00001", "UTCVCA00002", 400)
	s.cert(nil, store.RoleCVCA, "UTCVCA00002", "UTCVCA00002", 400)
	s.cert(nil, store.RoleCVCA, "FRCVCA00001", "FRCVCA00001", 300)
	s.cert(nil, store.RoleCVCA, "ITCVCA00001", "ITCVCA00001", 300)
	dv := s.holder("UT", "DVOWN", store.RoleDVDomestic)
	dom := s.cert(dv, store.RoleDVDomestic, "UTCVCA00002", "UTDVOWN00001", 6)
	fr := s.cert(dv, store.RoleDVForeign, "FRCVCA00001", "UTDVOWNFR001", 10)
	it := s.cert(dv, store.RoleDVForeign, "ITCVCA00001", "UTDVOWNIT001", 12)
	is1 := s.holder("UT", "IS1", store.RoleTerminal)
	is2 := s.holder("UT", "IS2", store.RoleTerminal)
	s.cert(is1, store.RoleTerminal, "UTDVOWN00001", "UTIS100020", 20)
	s.cert(is2, store.RoleTerminal, "UTDVOWN00001", "UTIS200003", 3)
	s.cert(is2, store.RoleTerminal, "UTDVOWN00001", "UTIS200099", 60)
	gone := s.cert(is1, store.RoleTerminal, "UTDVOWN00001", "UTIS100005", 5)
	if err := f.st.SetCertificateStatus(ctx, gone.ID, store.CertSuspended); err != nil {
		t.Fatal(err)
	}

	if err := f.st.CreatePartner(ctx, &store.Partner{Country: "FR", URL: "https://spoc.fr"}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreatePartner(ctx, &store.Partner{Country: "IT", URL: "https://spoc.it", Status: store.PartnerSuspended}); err != nil {
		t.Fatal(err)
	}
	s.message(store.Message{Direction: store.Outgoing, Peer: "spoc:FR", Operation: "GetCACertificates", ReturnCode: "ok_cert_available"}, 90*time.Minute)
	s.message(store.Message{HolderID: &is1.ID, ReturnCode: "failure_syntax", Approval: store.ApprovalPending}, time.Hour)
	s.message(store.Message{HolderID: &is1.ID, ReturnCode: "failure_syntax"}, 50*time.Hour)
	s.message(store.Message{HolderID: &is2.ID, ReturnCode: "failure_inner_signature"}, 3*time.Hour)
	s.message(store.Message{HolderID: &is2.ID, ReturnCode: "failure_outer_signature"}, 8*24*time.Hour) // too old
	s.message(store.Message{HolderID: &is2.ID, ReturnCode: "ok_cert_available"}, 2*time.Hour)

	for i, o := range []struct {
		state store.OutboxState
		ago   time.Duration
	}{{store.OutboxPending, 2 * time.Hour}, {store.OutboxPending, time.Minute}, {store.OutboxDead, 5 * time.Hour}, {store.OutboxDone, 9 * time.Hour}} {
		at := now.Add(-o.ago).UTC()
		item := &store.OutboxItem{Kind: store.OutboxDeliver, TargetURL: fmt.Sprintf("https://dv%d.example/cb", i), Payload: []byte("x"),
			NextAttemptAt: at, State: o.state, CreatedAt: at, UpdatedAt: at}
		if err := f.st.DB().Create(item).Error; err != nil {
			t.Fatal(err)
		}
	}
	p := &store.Proposal{Task: "holder.register", Params: "{}", Description: "Register DV UTDVNEW", SHA256: strings.Repeat("a", 64),
		ProposerName: "alice", ProposerPerson: "alice", ProposerRole: store.RoleRAOperator, Quorum: 2, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := f.st.CreateProposal(ctx, p); err != nil {
		t.Fatal(err)
	}

	b := f.signedIn("carol", store.RoleAuditor)
	if code := b.get("/console/"); code != http.StatusOK {
		t.Fatalf("dashboard: %d %s", code, b.last)
	}
	page := b.last
	if !strings.Contains(page, "<title>Dashboard · eacgate console</title>") || !strings.Contains(page, "<h1>Dashboard</h1>") {
		t.Fatal("title or heading missing")
	}

	// Expiring within 7/30/90 days, by role (the suspended and the 60-day terminal
	// certificates count in 90 only, or not at all).
	for id, want := range map[string][]string{
		"expiring-terminal":    {"1", "2", "3"},
		"expiring-dv_foreign":  {"0", "2", "2"},
		"expiring-dv_domestic": {"1", "1", "1"},
	} {
		got := regexp.MustCompile(`<td class="num">(\d+)</td>`).FindAllStringSubmatch(row(t, page, id), -1)
		if len(got) != 3 || got[0][1] != want[0] || got[1][1] != want[1] || got[2][1] != want[2] {
			t.Errorf("%s = %v, want %v", id, got, want)
		}
	}
	if !strings.Contains(page, `<svg class="chart" role="img"`) || !strings.Contains(page, "Inspection system: 1 within 7, 2 within 30, 3 within 90 days.") {
		t.Error("no chart with its text equivalent")
	}

	// Expiring soonest: valid certificates within 30 days, soonest first.
	exp := section(t, page, "table", "expiring")
	var chrs []string
	for _, m := range regexp.MustCompile(`<a href="/console/certificates/\d+">([A-Z0-9]+)</a>`).FindAllStringSubmatch(exp, -1) {
		chrs = append(chrs, m[1])
	}
	if fmt.Sprint(chrs) != "[UTIS200003 UTDVOWN00001 UTDVOWNFR001 UTDVOWNIT001 UTIS100020]" {
		t.Errorf("expiring soonest = %v", chrs)
	}
	if !regexp.MustCompile(`UTIS200003</a>.*?<td class="num bad">3</td>`).MatchString(exp) ||
		!regexp.MustCompile(`UTIS100020</a>.*?<td class="num warn">20</td>`).MatchString(exp) {
		t.Errorf("days left or their class wrong:\n%s", exp)
	}

	// Certificates we issue under: the lead times.
	inUse := section(t, page, "table", "in-use")
	for _, c := range []*store.Certificate{link, dom, fr, it} {
		if !strings.Contains(inUse, fmt.Sprintf(`id="inuse-%d"`, c.ID)) {
			t.Errorf("certificate %s not in use:\n%s", c.CHR, inUse)
		}
	}
	if r := row(t, page, fmt.Sprintf("inuse-%d", fr.ID)); !strings.Contains(r, `class="warn"`) || !strings.Contains(r, "11 days") {
		t.Errorf("foreign DV certificate with 10 days left, no warning: %s", r)
	}
	if r := row(t, page, fmt.Sprintf("inuse-%d", it.ID)); strings.Contains(r, "warn") || strings.Contains(r, "Renew") {
		t.Errorf("foreign DV certificate with 12 days left warned: %s", r)
	}
	if r := row(t, page, fmt.Sprintf("inuse-%d", dom.ID)); !strings.Contains(r, `class="warn"`) {
		t.Errorf("domestic DV certificate with 6 days left, no warning: %s", r)
	}
	if r := row(t, page, fmt.Sprintf("inuse-%d", link.ID)); strings.Contains(r, `class="warn"`) || !strings.Contains(r, "link certificate") {
		t.Errorf("CVCA link certificate with 400 days left: %s", r)
	}

	// Waiting, outbox, partners, refusals.
	for _, want := range []string{
		`<strong id="held-count">1</strong>`,
		`<strong id="proposal-count">1</strong>`,
		fmt.Sprintf(`<a href="/console/proposals/%d">#%d Register DV UTDVNEW</a>`, p.ID, p.ID),
		`<dd id="outbox-pending">2</dd>`,
		`<dd id="outbox-dead" class="bad">1</dd>`,
		`<span class="warn">2h0m0s</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("no %s", want)
		}
	}
	if r := row(t, page, "partner-FR"); !strings.Contains(r, "2026-12-02 08:30:00 UTC") || !strings.Contains(r, "sent GetCACertificates") {
		t.Errorf("partner FR: %s", r)
	}
	if r := row(t, page, "partner-IT"); !strings.Contains(r, "suspended") || !strings.Contains(r, "never") {
		t.Errorf("partner IT: %s", r)
	}
	ref := section(t, page, "table", "refusals")
	if !regexp.MustCompile(`(?s)failure_syntax</td><td class="num">2</td>.*failure_inner_signature</td><td class="num">1</td>`).MatchString(ref) ||
		strings.Contains(ref, "failure_outer_signature") || strings.Contains(ref, "ok_") {
		t.Errorf("refusals:\n%s", ref)
	}
}

// Without its own DV registered the dashboard says so and still shows the CVCA.
func TestDashboardWithoutDV(t *testing.T) {
	f := newFixture(t)
	f.h.DVMnemonic = "DVNONE"
	s := &dashSeed{f: f}
	root := s.cert(nil, store.RoleCVCA, "UTCVCA00001", "UTCVCA00001", 80)
	b := f.signedIn("dora", store.RoleCAOperator)
	if code := b.get("/console/"); code != http.StatusOK {
		t.Fatalf("dashboard: %d", code)
	}
	if r := row(t, b.last, fmt.Sprintf("inuse-%d", root.ID)); !strings.Contains(r, `class="warn"`) || !strings.Contains(r, "90 days") {
		t.Errorf("CVCA certificate with 80 days left, no warning: %s", r)
	}
	if !strings.Contains(b.last, "own DV is not registered") {
		t.Error("no word on the missing DV")
	}
}

func TestHierarchy(t *testing.T) {
	f := newFixture(t)
	f.h.DVMnemonic = "DVOWN"
	s := &dashSeed{f: f}
	s.cert(nil, store.RoleCVCA, "UTCVCA00001", "UTCVCA00001", 60)
	link := s.cert(nil, store.RoleCVCA, "UTCVCA00001", "UTCVCA00002", 400)
	s.cert(nil, store.RoleCVCA, "UTCVCA00002", "UTCVCA00002", 400)
	frRoot := s.cert(nil, store.RoleCVCA, "FRCVCA00001", "FRCVCA00001", 300)
	dv := s.holder("UT", "DVOWN", store.RoleDVDomestic)
	s.cert(dv, store.RoleDVDomestic, "UTCVCA00001", "UTDVOWN00001", 10)
	newest := s.cert(dv, store.RoleDVDomestic, "UTCVCA00002", "UTDVOWN00002", 40)
	ours := s.cert(dv, store.RoleDVForeign, "FRCVCA00001", "UTDVOWNFR001", 20)
	other := s.holder("UT", "DVOTHER", store.RoleDVDomestic)
	var first *store.Holder
	for i := range 12 {
		is := s.holder("UT", fmt.Sprintf("IS%02d", i), store.RoleTerminal)
		if i == 0 {
			first = is
		}
		car := "UTDVOWN00001"
		if i%2 == 1 {
			car = "UTDVOWN00002"
		}
		s.cert(is, store.RoleTerminal, car, fmt.Sprintf("UTIS%02d00001", i), 10)
	}
	frDV := s.holder("FR", "DVFR", store.RoleDVForeign)
	foreign := s.cert(frDV, store.RoleDVForeign, "UTCVCA00002", "FRDVFR00001", 50)

	b := f.signedIn("erin", store.RoleAuditor)
	if code := b.get("/console/hierarchy"); code != http.StatusOK {
		t.Fatalf("hierarchy: %d %s", code, b.last)
	}
	page := b.last
	if !strings.Contains(page, "<title>CA hierarchy · eacgate console</title>") {
		t.Error("no title")
	}
	chain := section(t, page, "ul", "chain")
	if !strings.Contains(chain, fmt.Sprintf(`<a class="mono" href="/console/certificates/%d">UTCVCA00002</a>`, link.ID)) ||
		!strings.Contains(chain, "<strong>link certificate</strong> signed by <span class=\"mono\">UTCVCA00001</span>") ||
		strings.Count(chain, "self-signed CVCA certificate") != 2 {
		t.Errorf("chain:\n%s", chain)
	}
	dvs := section(t, page, "ul", "dvs")
	for _, want := range []string{
		fmt.Sprintf(`<a href="/console/holders/%d">UTDVOWN</a>`, dv.ID),
		fmt.Sprintf(`<a class="mono" href="/console/certificates/%d">UTDVOWN00002</a>`, newest.ID),
		fmt.Sprintf(`<a href="/console/holders?role=terminal&amp;dv=%d">Terminals: <span class="terminal-count">12</span></a>`, dv.ID),
		fmt.Sprintf(`<a href="/console/holders/%d">UTIS00</a>`, first.ID),
		fmt.Sprintf(`<a href="/console/holders?role=terminal&amp;dv=%d">Terminals: <span class="terminal-count">0</span></a>`, other.ID),
	} {
		if !strings.Contains(dvs, want) {
			t.Errorf("no %s in\n%s", want, dvs)
		}
	}
	if n := strings.Count(dvs, `>UTIS`); n != 10 {
		t.Errorf("%d terminals listed, want the first 10", n)
	}
	partner := section(t, page, "ul", "partner-cvcas")
	if !strings.Contains(partner, fmt.Sprintf(`/console/certificates/%d">FRCVCA00001`, frRoot.ID)) ||
		!strings.Contains(partner, fmt.Sprintf(`/console/certificates/%d">UTDVOWNFR001`, ours.ID)) {
		t.Errorf("partner CVCAs:\n%s", partner)
	}
	fdv := section(t, page, "ul", "foreign-dvs")
	if !strings.Contains(fdv, fmt.Sprintf(`/console/certificates/%d">FRDVFR00001`, foreign.ID)) || strings.Contains(fdv, "UTDVOWNFR001") {
		t.Errorf("foreign DVs:\n%s", fdv)
	}
	if !strings.Contains(page, `<p id="foreign-count">Certificates: 1.</p>`) {
		t.Error("no foreign DV count")
	}
}

// The seed has the size and shape asked for.
func TestSeedCertificates(t *testing.T) {
	f := newFixture(t)
	seedCertificates(t, f.st, 5000, f.clock.Now())
	counts, err := f.st.CountByRoleStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var total, terminals, holders int64
	for _, c := range counts.Certificates {
		total += c.N
		if c.Role == store.RoleTerminal {
			terminals += c.N
		}
	}
	for _, c := range counts.Holders {
		holders += c.N
	}
	if total != 5000 || terminals < 4000 || holders != int64(seedDVs+seedTerminals+len(seedPartners)*6) {
		t.Fatalf("seeded %d certificates (%d terminals), %d holders: %+v", total, terminals, holders, counts)
	}
}

// benchConsole is a console over a seeded SQLite store and a signed-in session cookie.
func benchConsole(b *testing.B, n int) (http.Handler, *http.Cookie, *store.Store) {
	return benchConsoleOn(b, filepath.Join(b.TempDir(), "eacgate.db"), n)
}

// benchConsoleOn is benchConsole on the database at dsn.
func benchConsoleOn(b *testing.B, dsn string, n int) (http.Handler, *http.Cookie, *store.Store) {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	clock := &testClock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	seedCertificates(b, st, n, clock.Now())
	h := &Handler{Store: st, Country: seedCountry, DVMnemonic: seedOwnDV, Now: clock.Now}
	routes, err := h.Routes()
	if err != nil {
		b.Fatal(err)
	}
	op := &store.Operator{Name: "bench", Role: store.RoleAuditor, Person: "bench", TokenHash: ops.TokenHash(randomToken())}
	if err := st.CreateOperator(ctx, op); err != nil {
		b.Fatal(err)
	}
	token := randomToken()
	now := clock.Now()
	sess := &store.ConsoleSession{TokenHash: ops.TokenHash(token), OperatorID: op.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	a := ops.Actor{Channel: ops.ChannelConsole, Name: op.Name, Role: op.Role, OperatorID: op.ID, Person: op.Person}
	if err := h.ops().OpenConsoleSession(ctx, a, sess, "token"); err != nil {
		b.Fatal(err)
	}
	return routes, &http.Cookie{Name: sessionCookie, Value: token}, st
}

func benchPage(b *testing.B, path, heading string) {
	routes, cookie, _ := benchConsole(b, 100000)
	get := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "https://console.example"+path, nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		routes.ServeHTTP(rec, req)
		return rec
	}
	if rec := get(); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), heading) {
		b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
	}
	for b.Loop() {
		if rec := get(); rec.Code != http.StatusOK {
			b.Fatalf("%s: %d", path, rec.Code)
		}
	}
}

func BenchmarkDashboard(b *testing.B) { benchPage(b, "/console/", "<h1>Dashboard</h1>") }

func BenchmarkHierarchy(b *testing.B) { benchPage(b, "/console/hierarchy", "<h1>CA hierarchy</h1>") }
