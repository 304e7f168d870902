package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"eacgate/ops"
	"eacgate/store"
)

var shownTokenField = regexp.MustCompile(`id="token-value" class="mono" readonly size="70" value="([0-9a-f]{64})"`)

// shownToken is the token shown once on the last page.
func (b *browser) shownToken() string {
	b.f.t.Helper()
	m := shownTokenField.FindStringSubmatch(b.last)
	if m == nil {
		b.f.t.Fatalf("no token shown: %s", b.last)
	}
	return m[1]
}

func TestOperatorsPageByRole(t *testing.T) {
	f := newFixture(t)
	admin := f.signedIn("sam", store.RoleSystemAdministrator)
	if !strings.Contains(admin.last, `href="/console/operators"`) {
		t.Fatal("no link to the operators for the system administrator")
	}
	f.operator("rita", store.RoleRAOperator)
	if code := admin.get("/console/operators"); code != http.StatusOK {
		t.Fatalf("operators: %d", code)
	}
	for _, want := range []string{"<title>Operators", "sam", "(you)", "rita", "RA operator", "active", ">Disable</button>", ">Rotate token</button>", "Add an operator"} {
		if !strings.Contains(admin.last, want) {
			t.Fatalf("operators page lacks %q: %s", want, admin.last)
		}
	}
	ra := f.signedIn("rolf", store.RoleRAOperator)
	if strings.Contains(ra.last, `href="/console/operators"`) {
		t.Fatal("the RA operator sees a link to the operators")
	}
	if code := ra.get("/console/operators"); code != http.StatusForbidden {
		t.Fatalf("RA operator on the operators page: %d", code)
	}
	aud := f.signedIn("aude", store.RoleAuditor)
	if code := aud.get("/console/operators"); code != http.StatusOK || strings.Contains(aud.last, ">Disable</button>") || strings.Contains(aud.last, "Add an operator") {
		t.Fatalf("auditor's operators page: %d %s", code, aud.last)
	}
}

func TestOperatorAddProposal(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.signedIn("sam", store.RoleSystemAdministrator)
	if code := b.get("/console/operators/new"); code != http.StatusOK || !strings.Contains(b.last, `<label for="op-name">`) {
		t.Fatalf("add form: %d %s", code, b.last)
	}
	if code := b.post("/console/operators/new", url.Values{"name": {"eve"}, "role": {"bogus"}}); code != http.StatusBadRequest {
		t.Fatalf("bad role: %d", code)
	}
	b.get("/console/operators/new")
	code := b.post("/console/operators/new", url.Values{"name": {"eve"}, "person": {"Eve Example"}, "role": {"auditor"}, "expires_days": {"30"}})
	if code != http.StatusOK || !strings.Contains(b.last, "Operator eve proposed") {
		t.Fatalf("add: %d %s", code, b.last)
	}
	token := b.shownToken()
	svc := &ops.Service{Store: f.st, Now: f.clock.Now}
	ps, err := svc.ListProposals(ctx, store.ProposalOpen)
	if err != nil || len(ps) != 1 || ps[0].Task != string(ops.ActionOperatorAdd) {
		t.Fatalf("proposals = %+v, %v", ps, err)
	}
	var params ops.OperatorRegistration
	if err := json.Unmarshal([]byte(ps[0].Params), &params); err != nil || params.TokenSHA256 != ops.TokenHash(token) ||
		params.Person != "Eve Example" || params.Role != store.RoleAuditor || params.ExpiresAt == nil {
		t.Fatalf("params = %+v, %v", params, err)
	}
	if strings.Contains(ps[0].Description, token) {
		t.Fatal("the proposal holds the token itself")
	}
	// The token works once a second system administrator approved.
	e := f.browser()
	e.get("/console/signin")
	if e.post("/console/signin", url.Values{"token": {token}}); !strings.Contains(e.last, "Unknown token") {
		t.Fatalf("token works before approval: %s", e.last)
	}
	f.operator("sue", store.RoleSystemAdministrator)
	sue, _ := f.st.OperatorByName(ctx, "sue")
	if _, err := svc.Approve(ctx, ops.Actor{Channel: ops.ChannelConsole, Name: "sue", Role: sue.Role, OperatorID: sue.ID, Person: "sue"}, ps[0].ID, ps[0].SHA256); err != nil {
		t.Fatal(err)
	}
	e.signIn(token)
	// Only a system administrator proposes operators.
	ra := f.signedIn("rita", store.RoleRAOperator)
	if code := ra.get("/console/operators/new"); code != http.StatusForbidden {
		t.Fatalf("RA operator's add form: %d", code)
	}
	if code := b.post("/console/operators/new", url.Values{"csrf": {""}, "name": {"mallory"}, "role": {"system_administrator"}}); code != http.StatusForbidden {
		t.Fatalf("forged add: %d", code)
	}
}

func TestOperatorDisableAndRotate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.signedIn("sam", store.RoleSystemAdministrator)
	bob := f.signedIn("bob", store.RoleRAOperator)
	bobOp, _ := f.st.OperatorByName(ctx, "bob")
	b.get("/console/operators")
	if code := b.post(pathf("/console/operators/%d/disable", bobOp.ID), url.Values{"csrf": {"forged"}}); code != http.StatusForbidden {
		t.Fatalf("forged disable: %d", code)
	}
	b.get("/console/operators")
	if code := b.post(pathf("/console/operators/%d/disable", bobOp.ID), nil); code != http.StatusOK || !strings.Contains(b.last, "Operator bob disabled") {
		t.Fatalf("disable: %d %s", code, b.last)
	}
	if bob.get("/console/"); !strings.Contains(bob.last, "<h1>Sign in</h1>") || !strings.Contains(bob.last, "session has ended") {
		t.Fatalf("bob's session survived the disable: %s", bob.last)
	}
	if !f.audited("console.operator.disable", "bob") {
		t.Fatal("disable not audited")
	}
	// Rotation: the new token is shown on the answer (200, no redirect); the old one and
	// the sessions opened with it end.
	oldToken := f.operator("carol", store.RoleAuditor)
	carol := f.browser()
	carol.signIn(oldToken)
	carolOp, _ := f.st.OperatorByName(ctx, "carol")
	b.get("/console/operators")
	if code := b.post(pathf("/console/operators/%d/rotate", carolOp.ID), url.Values{"expires_days": {"90"}}); code != http.StatusOK ||
		!strings.Contains(b.last, "New token of carol") {
		t.Fatalf("rotate: %d %s", code, b.last)
	}
	newTok := b.shownToken()
	if carol.get("/console/"); !strings.Contains(carol.last, "<h1>Sign in</h1>") {
		t.Fatalf("carol's session survived the rotation: %s", carol.last)
	}
	if carol.post("/console/signin", url.Values{"token": {oldToken}}); !strings.Contains(carol.last, "Unknown token") {
		t.Fatalf("old token signs in: %s", carol.last)
	}
	carol.signIn(newTok)
	if o, _ := f.st.OperatorByName(ctx, "carol"); o.ExpiresAt == nil {
		t.Fatal("the rotated token has no expiry")
	}
	if b.get("/console/operators"); strings.Contains(b.last, newTok) {
		t.Fatal("the new token is shown again")
	}
}

func TestAPIClientDisable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := &store.APIClient{EMKey: "em1", UserName: "integrator", AESKey: make([]byte, 32), Certificate: []byte{1}}
	if err := f.st.CreateAPIClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	b := f.signedIn("sam", store.RoleSystemAdministrator)
	if b.get("/console/operators"); !strings.Contains(b.last, "integrator") {
		t.Fatalf("no API client: %s", b.last)
	}
	if code := b.post(pathf("/console/apiclients/%d/disable", c.ID), nil); code != http.StatusOK || !strings.Contains(b.last, "API client integrator disabled") {
		t.Fatalf("disable API client: %d %s", code, b.last)
	}
	if got, _ := f.st.APIClientByID(ctx, c.ID); !got.Disabled {
		t.Fatal("API client not disabled")
	}
	// Enabling it again is a proposal.
	if !strings.Contains(b.last, "Propose to enable API client integrator") {
		t.Fatalf("no enable form: %s", b.last)
	}
	b.post(pathf("/console/apiclients/%d/enable", c.ID), nil)
	if !strings.Contains(b.last, "waits for the approval of a second person") {
		t.Fatalf("enable API client: %s", b.last)
	}
	if got, _ := f.st.APIClientByID(ctx, c.ID); !got.Disabled {
		t.Fatal("API client enabled by one person")
	}
}

func TestOperatorEnableProposal(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.operator("bob", store.RoleRAOperator)
	bob, _ := f.st.OperatorByName(ctx, "bob")
	if err := f.st.SetOperatorDisabled(ctx, bob.ID, true); err != nil {
		t.Fatal(err)
	}
	b := f.signedIn("sam", store.RoleSystemAdministrator)
	if b.get("/console/operators"); !strings.Contains(b.last, "Propose to enable operator bob") {
		t.Fatalf("no enable form: %s", b.last)
	}
	b.post(pathf("/console/operators/%d/enable", bob.ID), nil)
	if !strings.Contains(b.last, "waits for the approval of a second person") {
		t.Fatalf("enable: %s", b.last)
	}
	svc := &ops.Service{Store: f.st, Now: f.clock.Now}
	if ps, err := svc.ListProposals(ctx, store.ProposalOpen); err != nil || len(ps) != 1 || ps[0].Task != string(ops.TaskOperatorEnable) {
		t.Fatalf("proposals = %+v, %v", ps, err)
	}
	if o, _ := f.st.OperatorByID(ctx, bob.ID); !o.Disabled {
		t.Fatal("operator enabled by one person")
	}
}
