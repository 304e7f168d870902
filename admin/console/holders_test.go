package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"eacgate/store"
)

// person returns a browser signed in as a new operator of role, with an HTTP client of its
// own: fixture.browser sets the jar on the server's one shared client, so that two browsers
// of one test (the proposer and the approver) would share their cookies.
func (f *fixture) person(name string, role store.OperatorRole) *browser {
	f.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := *f.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	b := &browser{f: f, c: &c}
	b.signIn(f.operator(name, role))
	return b
}

// holder registers a holder directly in the store (test seed).
func (f *fixture) holder(country, mnemonic string, role store.Role) *store.Holder {
	f.t.Helper()
	h := &store.Holder{Country: country, Mnemonic: mnemonic, Role: role}
	if err := f.st.CreateHolder(context.Background(), h); err != nil {
		f.t.Fatal(err)
	}
	return h
}

// cert stores a certificate row of holder h (raw bytes that are not a CV certificate
// unless raw is given).
func (f *fixture) cert(h *store.Holder, chr, car string, role store.Role, notAfter time.Time, raw []byte) *store.Certificate {
	f.t.Helper()
	if raw == nil {
		raw = []byte("raw:" + chr + "/" + car)
	}
	c := &store.Certificate{CHR: chr, CAR: car, Role: role, NotBefore: notAfter.AddDate(-1, 0, 0), NotAfter: notAfter, Raw: raw}
	if h != nil {
		c.HolderID = &h.ID
	}
	if err := f.st.AddCertificate(context.Background(), c); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// events returns the audit events of action (console.<action>) as "actor outcome target".
func (f *fixture) events(action string) []string {
	f.t.Helper()
	evs, err := f.st.ListAudit(context.Background(), 10000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if e.Action == action {
			out = append(out, e.Actor+" "+e.Outcome+" "+e.Target)
		}
	}
	return out
}

// rows counts the table rows of the last page that link to path prefix.
func rows(body, prefix string) int {
	return len(regexp.MustCompile(`<tr><td><a href="`+regexp.QuoteMeta(prefix)+`\d+">`).FindAllString(body, -1))
}

func TestHoldersSearchFiltersAndPages(t *testing.T) {
	f := newFixture(t)
	dv := f.holder("UT", "DVA", store.RoleDVDomestic)
	f.holder("UT", "DVB", store.RoleDVDomestic)
	f.cert(dv, "UTDVA00001", "UTCVCA00001", store.RoleDVDomestic, f.clock.Now().AddDate(1, 0, 0), nil)
	ctx := context.Background()
	for i := range 120 {
		h := f.holder("UT", fmt.Sprintf("T%03d", i), store.RoleTerminal)
		if i < 30 {
			f.cert(h, fmt.Sprintf("UTT%03d00001", i), "UTDVA00001", store.RoleTerminal, f.clock.Now().AddDate(0, 3, 0), nil)
		}
		if i%4 == 0 {
			if err := f.st.SetHolderStatus(ctx, h.ID, store.HolderSuspended); err != nil {
				t.Fatal(err)
			}
		}
	}
	b := f.person("ann", store.RoleAuditor)
	if code := b.get("/console/holders?role=terminal"); code != http.StatusOK || rows(b.last, "/console/holders/") != 50 ||
		!strings.Contains(b.last, `rel="next"`) || !strings.Contains(b.last, "<title>Holders · ") {
		t.Fatalf("page 1: %d rows %d", code, rows(b.last, "/console/holders/"))
	}
	if b.get("/console/holders?role=terminal&page=3"); rows(b.last, "/console/holders/") != 20 || strings.Contains(b.last, `rel="next"`) ||
		!strings.Contains(b.last, "UTT119") {
		t.Fatalf("page 3: %d rows", rows(b.last, "/console/holders/"))
	}
	if b.get("/console/holders?role=terminal&status=suspended"); rows(b.last, "/console/holders/") != 30 {
		t.Fatalf("suspended: %d rows", rows(b.last, "/console/holders/"))
	}
	if b.get("/console/holders?name=T11&country=ut"); rows(b.last, "/console/holders/") != 10 || !strings.Contains(b.last, `value="UT"`) {
		t.Fatalf("name prefix: %d rows", rows(b.last, "/console/holders/"))
	}
	if b.get(fmt.Sprintf("/console/holders?dv=%d", dv.ID)); rows(b.last, "/console/holders/") != 30 || strings.Contains(b.last, "UTT030") {
		t.Fatalf("terminals of the DV: %d rows", rows(b.last, "/console/holders/"))
	}
	for _, bad := range []string{"role=king", "status=sleeping", "country=UTA", "dv=x", "name=a%20b"} {
		if code := b.get("/console/holders?" + bad); code != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, code)
		}
	}
	if code := b.get("/console/holders?dv=99999"); code != http.StatusNotFound {
		t.Errorf("unknown DV: %d", code)
	}
	// Every field of the search form is labelled.
	b.get("/console/holders")
	for _, id := range []string{"f-role", "f-country", "f-status", "f-name", "f-dv"} {
		if !strings.Contains(b.last, `<label for="`+id+`"`) || !strings.Contains(b.last, `id="`+id+`"`) {
			t.Errorf("no label for %s", id)
		}
	}
}

func TestHolderPageListsCertificatesAndMessages(t *testing.T) {
	f := newFixture(t)
	dv := f.holder("UT", "DVA", store.RoleDVDomestic)
	ctx := context.Background()
	for i := range 25 {
		f.cert(dv, fmt.Sprintf("UTDVA%05d", i+1), "UTCVCA00001", store.RoleDVDomestic, f.clock.Now().AddDate(0, 0, i), nil)
		m := &store.Message{Originator: "UTDVA", MessageID: fmt.Sprintf("msg-%02d", i), Operation: "RequestCertificate", HolderID: &dv.ID,
			ReturnCode: fmt.Sprintf("ok_code_%02d", i)}
		if err := f.st.AcceptAnswered(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	b := f.person("ann", store.RoleAuditor)
	if code := b.get(fmt.Sprintf("/console/holders/%d", dv.ID)); code != http.StatusOK {
		t.Fatalf("holder page: %d", code)
	}
	if n := rows(b.last, "/console/certificates/"); n != 20 || !strings.Contains(b.last, "UTDVA00025") || strings.Contains(b.last, "UTDVA00005<") {
		t.Fatalf("certificates: %d rows", n)
	}
	if !strings.Contains(b.last, "ok_code_24") || strings.Contains(b.last, "ok_code_04") || !strings.Contains(b.last, "RequestCertificate") ||
		!strings.Contains(b.last, "<title>Holder UTDVA · ") {
		t.Fatal("messages: newest 20 not shown")
	}
	if !strings.Contains(b.last, fmt.Sprintf(`href="/console/holders?dv=%d"`, dv.ID)) {
		t.Error("no link to the DV's terminals")
	}
	if b.get(fmt.Sprintf("/console/holders/%d?cpage=2&mpage=2", dv.ID)); rows(b.last, "/console/certificates/") != 5 ||
		!strings.Contains(b.last, "ok_code_04") || strings.Contains(b.last, "ok_code_05") {
		t.Fatalf("second pages: %d certificate rows", rows(b.last, "/console/certificates/"))
	}
	if code := b.get("/console/holders/424242"); code != http.StatusNotFound {
		t.Fatalf("unknown holder: %d", code)
	}
}

func TestSuspendAndReinstateTerminal(t *testing.T) {
	f := newFixture(t)
	term := f.holder("UT", "TERM1", store.RoleTerminal)
	b := f.person("olga", store.RoleRAOperator)
	page := fmt.Sprintf("/console/holders/%d", term.ID)
	b.get(page)
	if !strings.Contains(b.last, `id="suspend-reason"`) || !strings.Contains(b.last, ">Suspend</button>") || strings.Contains(b.last, ">Reinstate</button>") {
		t.Fatal("an active terminal's page has no Suspend form (or a Reinstate one)")
	}
	// Without a reason nothing happens.
	if b.post(page+"/suspend", url.Values{"reason": {"  "}}); !strings.Contains(b.last, "A reason is required") {
		t.Fatalf("no reason: %s", b.last)
	}
	if got, _ := f.st.HolderByID(context.Background(), term.ID); got.Status != store.HolderActive {
		t.Fatal("suspended without a reason")
	}
	if code := b.post(page+"/suspend", url.Values{"reason": {"stolen terminal"}}); code != http.StatusOK || !strings.Contains(b.last, "suspended") ||
		!strings.Contains(b.last, `class="flash ok"`) {
		t.Fatalf("suspend: %d %s", code, b.last)
	}
	if got, _ := f.st.HolderByID(context.Background(), term.ID); got.Status != store.HolderSuspended {
		t.Fatalf("status %s", got.Status)
	}
	if ev := f.events("console.holder.suspend"); len(ev) != 1 || ev[0] != "operator:olga ok UTTERM1" {
		t.Fatalf("audit: %v", ev)
	}
	// A terminal is reinstated at once (not a critical task).
	if !strings.Contains(b.last, ">Reinstate</button>") || strings.Contains(b.last, ">Suspend</button>") {
		t.Fatal("a suspended terminal's page: Reinstate missing or Suspend shown")
	}
	if b.post(page+"/reinstate", url.Values{"reason": {"found"}}); !strings.Contains(b.last, "Holder UTTERM1 reinstated.") {
		t.Fatalf("reinstate: %s", b.last)
	}
	if got, _ := f.st.HolderByID(context.Background(), term.ID); got.Status != store.HolderActive {
		t.Fatalf("status %s", got.Status)
	}
}

// proposalURL is the proposal page the last redirect went to.
var proposalLink = regexp.MustCompile(`<h1>Proposal #(\d+)</h1>`)

func proposalID(t *testing.T, body string) string {
	t.Helper()
	m := proposalLink.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("not a proposal page: %s", body)
	}
	return m[1]
}

var shaField = regexp.MustCompile(`name="sha256" value="([0-9a-f]{64})"`)

// approve approves the proposal page last shown by b by the SHA-256 it shows.
func (b *browser) approve(id string) int {
	b.f.t.Helper()
	b.get("/console/proposals/" + id)
	m := shaField.FindStringSubmatch(b.last)
	if m == nil {
		b.f.t.Fatalf("no Approve form: %s", b.last)
	}
	return b.post("/console/proposals/"+id+"/approve", url.Values{"sha256": {m[1]}})
}

func TestReinstateAndRevokeDVAreTwoPersonTasks(t *testing.T) {
	f := newFixture(t)
	dv := f.holder("UT", "DVA", store.RoleDVDomestic)
	a := f.person("olga", store.RoleRAOperator)
	page := fmt.Sprintf("/console/holders/%d", dv.ID)
	a.get(page)
	if a.post(page+"/suspend", url.Values{"reason": {"audit finding"}}); !strings.Contains(a.last, "Holder UTDVA suspended.") {
		t.Fatalf("suspend: %s", a.last)
	}
	// Reinstating a DV is proposed: nothing changes yet.
	a.post(page+"/reinstate", url.Values{"reason": {"finding closed"}})
	id := proposalID(t, a.last)
	if !strings.Contains(a.last, "waits for the approval of a second person") || !strings.Contains(a.last, `Reinstate holder `) {
		t.Fatalf("proposal page: %s", a.last)
	}
	if got, _ := f.st.HolderByID(context.Background(), dv.ID); got.Status != store.HolderSuspended {
		t.Fatal("reinstated without a second person")
	}
	if strings.Contains(a.last, ">Approve</button>") || !strings.Contains(a.last, ">Withdraw</button>") {
		t.Fatal("the proposer is offered Approve (or not Withdraw)")
	}
	// The proposer cannot approve it, even by posting the form.
	p, _ := f.st.ProposalByID(context.Background(), mustID(t, id))
	if a.post("/console/proposals/"+id+"/approve", url.Values{"sha256": {p.SHA256}}); !strings.Contains(a.last, "proposer&#39;s own person cannot approve") {
		t.Fatalf("proposer approved: %s", a.last)
	}
	b := f.person("paul", store.RoleRAOperator)
	if code := b.approve(id); code != http.StatusOK || !strings.Contains(b.last, "approved and executed") {
		t.Fatalf("approve: %d %s", code, b.last)
	}
	if got, _ := f.st.HolderByID(context.Background(), dv.ID); got.Status != store.HolderActive {
		t.Fatalf("status after approval: %s", got.Status)
	}
	// Revoking: proposed by A, approved by B; the result is the proposal's.
	a.get(page)
	a.post(page+"/revoke", url.Values{"reason": {"key compromise"}})
	id = proposalID(t, a.last)
	p, _ = f.st.ProposalByID(context.Background(), mustID(t, id))
	if p.Task != "holder.revoke" || !strings.Contains(p.Params, `"reason":"key compromise"`) || !strings.Contains(p.Params, `"holder":"UTDVA"`) {
		t.Fatalf("proposal = %+v", p)
	}
	if got, _ := f.st.HolderByID(context.Background(), dv.ID); got.Status != store.HolderActive {
		t.Fatal("revoked without a second person")
	}
	if b.approve(id); !strings.Contains(b.last, "approved and executed") {
		t.Fatalf("approve revoke: %s", b.last)
	}
	if got, _ := f.st.HolderByID(context.Background(), dv.ID); got.Status != store.HolderRevoked {
		t.Fatalf("status after revoke: %s", got.Status)
	}
	if ev := f.events("console.holder.revoke"); len(ev) != 1 || ev[0] != "operator:olga ok UTDVA" {
		t.Fatalf("revoke audited as %v", ev)
	}
	// A revoked holder's page offers no status change.
	if b.get(page); strings.Contains(b.last, "/revoke\"") || strings.Contains(b.last, ">Suspend</button>") {
		t.Fatal("a revoked holder offers actions")
	}
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	var id int64
	if _, err := fmt.Sscan(s, &id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestAuditorSeesNoButtonsAndIsRefused(t *testing.T) {
	f := newFixture(t)
	term := f.holder("UT", "TERM1", store.RoleTerminal)
	c := f.cert(term, "UTTERM100001", "UTDVA00001", store.RoleTerminal, f.clock.Now().AddDate(0, 1, 0), nil)
	b := f.person("ann", store.RoleAuditor)
	for _, p := range []string{fmt.Sprintf("/console/holders/%d", term.ID), fmt.Sprintf("/console/certificates/%d", c.ID), "/console/holders"} {
		if code := b.get(p); code != http.StatusOK {
			t.Fatalf("%s: %d", p, code)
		}
		for _, w := range []string{">Suspend</button>", ">Revoke</button>", ">Reinstate</button>", "Register a holder"} {
			if strings.Contains(b.last, w) {
				t.Errorf("%s shows %s to an auditor", p, w)
			}
		}
	}
	b.get(fmt.Sprintf("/console/holders/%d", term.ID))
	if code := b.post(fmt.Sprintf("/console/holders/%d/suspend", term.ID), url.Values{"reason": {"forged"}}); code != http.StatusForbidden {
		t.Fatalf("forged suspend: %d", code)
	}
	if got, _ := f.st.HolderByID(context.Background(), term.ID); got.Status != store.HolderActive {
		t.Fatal("an auditor suspended a holder")
	}
	b.get("/console/holders")
	if code := b.post("/console/holders", url.Values{"country": {"UT"}, "mnemonic": {"X"}, "role": {"terminal"}}); code != http.StatusForbidden {
		t.Fatalf("forged registration: %d", code)
	}
	if code := b.get("/console/holders/new"); code != http.StatusForbidden {
		t.Fatalf("registration form: %d", code)
	}
	if ev := f.events("console.denied"); len(ev) != 3 || ev[0] != fmt.Sprintf("operator:ann forbidden POST /console/holders/%d/suspend", term.ID) {
		t.Fatalf("denied events: %v", ev)
	}
}

func TestRegisterHolder(t *testing.T) {
	f := newFixture(t)
	a := f.person("olga", store.RoleRAOperator)
	if code := a.get("/console/holders/new"); code != http.StatusOK || !strings.Contains(a.last, `<option value="dv_domestic"`) {
		t.Fatalf("form: %d", code)
	}
	for _, id := range []string{"h-country", "h-mnemonic", "h-role", "h-tls", "h-ip"} {
		if !strings.Contains(a.last, `<label for="`+id+`"`) {
			t.Errorf("no label for %s", id)
		}
	}
	// A terminal is registered at once.
	if code := a.post("/console/holders", url.Values{"country": {"UT"}, "mnemonic": {"TERM9"}, "role": {"terminal"}, "ip_ranges": {"10.0.0.1"}}); code != http.StatusOK ||
		!strings.Contains(a.last, "Holder UTTERM9 registered.") || !strings.Contains(a.last, "10.0.0.1/32") {
		t.Fatalf("terminal: %d %s", code, a.last)
	}
	// Refusals keep the form filled in.
	a.get("/console/holders/new")
	if code := a.post("/console/holders", url.Values{"country": {"UT"}, "mnemonic": {"bad name"}, "role": {"terminal"}}); code != http.StatusBadRequest ||
		!strings.Contains(a.last, "holder mnemonic") || !strings.Contains(a.last, `value="bad name"`) {
		t.Fatalf("bad mnemonic: %d %s", code, a.last)
	}
	if code := a.post("/console/holders", url.Values{"country": {"UT"}, "mnemonic": {"T2"}, "role": {"terminal"}, "tls_certificate": {"not pem"}}); code != http.StatusBadRequest ||
		!strings.Contains(a.last, "not a PEM certificate") {
		t.Fatalf("bad PEM: %d", code)
	}
	if code := a.post("/console/holders", url.Values{"country": {"UT"}, "mnemonic": {"T2"}, "role": {"terminal"}, "ip_ranges": {"10.0.0.0/33"}}); code != http.StatusBadRequest {
		t.Fatalf("bad IP range: %d", code)
	}
	if code := a.post("/console/holders", url.Values{"country": {"UT"}, "mnemonic": {"TERM9"}, "role": {"terminal"}}); code != http.StatusBadRequest ||
		!strings.Contains(a.last, "already exists") {
		t.Fatalf("duplicate: %d %s", code, a.last)
	}
	// A DV is a proposal that a second person approves.
	a.post("/console/holders", url.Values{"country": {"UT"}, "mnemonic": {"DVNEW"}, "role": {"dv_domestic"}})
	id := proposalID(t, a.last)
	if !strings.Contains(a.last, "Register UTDVNEW as dv_domestic") {
		t.Fatalf("proposal page: %s", a.last)
	}
	if _, err := f.st.HolderByName(context.Background(), "UT", "DVNEW"); err == nil {
		t.Fatal("DV registered without a second person")
	}
	b := f.person("paul", store.RoleRAOperator)
	if b.approve(id); !strings.Contains(b.last, "executed") {
		t.Fatalf("approve: %s", b.last)
	}
	x, err := f.st.HolderByName(context.Background(), "UT", "DVNEW")
	if err != nil || x.Role != store.RoleDVDomestic {
		t.Fatalf("DV after approval: %+v %v", x, err)
	}
	if !strings.Contains(b.last, fmt.Sprintf(`href="/console/holders/%d"`, x.ID)) {
		t.Error("the executed registration does not link to the holder")
	}
}
