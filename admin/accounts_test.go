package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/ops"
	"eacgate/store"
)

// accountsFixture: a store with a system administrator (ada), an RA operator (olga) and an
// auditor (aude), their tokens their names, and the handler on a clock the test moves.
type accountsFixture struct {
	st     *store.Store
	now    time.Time
	routes http.Handler
	ids    map[string]int64
}

func newAccountsFixture(t *testing.T) *accountsFixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &accountsFixture{st: st, now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), ids: map[string]int64{}}
	for name, role := range map[string]store.OperatorRole{"ada": store.RoleSystemAdministrator, "olga": store.RoleRAOperator, "aude": store.RoleAuditor} {
		o := &store.Operator{Name: name, Role: role, TokenHash: TokenHash(name)}
		if err := st.CreateOperator(ctx, o); err != nil {
			t.Fatal(err)
		}
		f.ids[name] = o.ID
	}
	f.routes = (&Handler{Store: st, Country: "UT", Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return f.now }}).Routes()
	return f
}

func (f *accountsFixture) call(token, method, path, body string, remote string) (int, string) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if remote != "" {
		r.RemoteAddr = remote + ":4000"
	}
	if method != http.MethodGet {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	f.routes.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func (f *accountsFixture) events(t *testing.T, action string) []store.AuditEvent {
	t.Helper()
	evs, err := f.st.ListAudit(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEvent
	for _, e := range evs {
		if action == "" || e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// The system administrator lists, disables, rotates and removes operator accounts; a
// disabled, removed or expired account is refused (401, audited as auth.refused); other
// roles may not (403, audited as denied).
func TestOperatorLifecycleREST(t *testing.T) {
	f := newAccountsFixture(t)
	olga := fmt.Sprint(f.ids["olga"])
	if code, body := f.call("olga", "POST", "/admin/v1/operators/"+olga+"/disable", "{}", ""); code != http.StatusForbidden {
		t.Fatalf("RA operator disables: %d %s", code, body)
	}
	if len(f.events(t, "admin.denied")) != 1 {
		t.Fatal("refusal not audited")
	}
	if code, body := f.call("aude", "GET", "/admin/v1/operators", "", ""); code != http.StatusOK || !strings.Contains(body, `"last_used_at"`) {
		t.Fatalf("auditor lists: %d %s", code, body)
	}
	if code, body := f.call("ada", "POST", "/admin/v1/operators/"+olga+"/disable", "{}", ""); code != http.StatusOK || !strings.Contains(body, `"state": "disabled"`) {
		t.Fatalf("disable: %d %s", code, body)
	}
	if code, _ := f.call("olga", "GET", "/admin/v1/holders", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("disabled operator: %d", code)
	}
	refused := f.events(t, "auth.refused")
	if len(refused) != 1 || refused[0].Actor != "operator:olga" || refused[0].Outcome != "refused: disabled" {
		t.Fatalf("refusal of a disabled operator: %+v", refused)
	}
	if code, body := f.call("ada", "POST", "/admin/v1/operators/"+olga+"/frobnicate", "{}", ""); code != http.StatusNotFound {
		t.Fatalf("unknown action: %d %s", code, body)
	}

	aude := fmt.Sprint(f.ids["aude"])
	code, body := f.call("ada", "POST", "/admin/v1/operators/"+aude+"/rotate", `{"expires_in_days": 1}`, "")
	var rotated Operator
	if err := json.Unmarshal([]byte(body), &rotated); code != http.StatusOK || err != nil || len(rotated.NewToken) != 64 || rotated.ExpiresAt == nil {
		t.Fatalf("rotate: %d %s", code, body)
	}
	if code, _ := f.call("aude", "GET", "/admin/v1/audit", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("old token after rotation: %d", code)
	}
	if code, _ := f.call(rotated.NewToken, "GET", "/admin/v1/audit", "", ""); code != http.StatusOK {
		t.Fatalf("new token: %d", code)
	}
	f.now = f.now.Add(25 * time.Hour)
	if code, _ := f.call(rotated.NewToken, "GET", "/admin/v1/audit", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("expired token: %d", code)
	}
	if code, body := f.call("ada", "POST", "/admin/v1/operators/"+olga+"/remove", "{}", ""); code != http.StatusOK || !strings.Contains(body, `"state": "removed"`) {
		t.Fatalf("remove: %d %s", code, body)
	}
	if code, _ := f.call("ada", "POST", "/admin/v1/operators/"+olga+"/rotate", "{}", ""); code != http.StatusConflict {
		t.Fatalf("rotate a removed operator: %d", code)
	}
	var outcomes []string
	for _, e := range f.events(t, "auth.refused") {
		outcomes = append(outcomes, e.Actor+" "+e.Outcome)
	}
	if got := strings.Join(outcomes, ","); got != "operator:olga refused: disabled,operator:(unknown) refused: unknown credentials,operator:aude refused: expired" {
		t.Fatalf("refusals: %s", got)
	}
	for _, want := range []string{"admin.operator.disable", "admin.operator.rotate", "admin.operator.remove"} {
		if evs := f.events(t, want); len(evs) == 0 || evs[0].Actor != "operator:ada" || evs[0].Outcome != "ok" {
			t.Errorf("%s: %+v", want, evs)
		}
	}
	logins := f.events(t, "auth.login")
	if len(logins) != 4 { // ada, olga, aude, then aude's new token (one account: an hour later)
		var who []string
		for _, e := range logins {
			who = append(who, e.Actor+"@"+e.At.String())
		}
		t.Errorf("logins: %v", who)
	}
}

// A flood of bad tokens, from one source and from many, leaves a bounded number of events
// of a few hundred bytes each, however long what the caller sent. (2,000 requests: each is
// a database lookup, slow under -race; ops.TestAuthLogBounded sends 10,000 to the limiter.)
func TestRefusedAuthenticationFlood(t *testing.T) {
	f := newAccountsFixture(t)
	long := strings.Repeat("A", 4000)
	const flood = 2000
	for i := range flood {
		remote := "192.0.2.7"
		if i%2 == 1 {
			remote = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		}
		r := httptest.NewRequest("GET", "/admin/v1/holders/"+long, nil)
		r.Header.Set("Authorization", "Bearer "+long+fmt.Sprint(i))
		r.Header.Set("User-Agent", long)
		r.RemoteAddr = remote + ":4000"
		w := httptest.NewRecorder()
		f.routes.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("bad token %d: %d", i, w.Code)
		}
	}
	evs := f.events(t, "")
	if len(evs) > 102 { // the global burst and one summary
		t.Fatalf("%d events after %d bad tokens", len(evs), flood)
	}
	for _, e := range evs {
		if n := len(e.Actor) + len(e.Action) + len(e.Target) + len(e.Source) + len(e.Outcome) + len(e.Details); n > 512 {
			t.Fatalf("event of %d bytes: %+v", n, e)
		}
	}
	f.now = f.now.Add(time.Minute)
	if code, _ := f.call("nope", "GET", "/admin/v1/holders", "", "198.51.100.1"); code != http.StatusUnauthorized {
		t.Fatal(code)
	}
	// The summaries (one during the flood, one now) count every refusal not recorded.
	sums := f.events(t, "auth.refused.suppressed")
	total := 0
	for _, e := range sums {
		var d struct{ Count string }
		_ = json.Unmarshal([]byte(e.Details), &d)
		var n int
		fmt.Sscan(d.Count, &n)
		total += n
	}
	if refused := len(f.events(t, "auth.refused")) - 1; len(sums) != 2 || total != flood-refused {
		t.Fatalf("summaries %+v: %d, want %d", sums, total, flood-refused)
	}
}

// The API clients' endpoints: list without secrets, rotate (password and new key), disable
// and remove; a disabled or removed client is refused by the emCA endpoints.
func TestAPIClientLifecycleREST(t *testing.T) {
	f := newAccountsFixture(t)
	ctx := context.Background()
	hash, _ := HashPassword("s3cret")
	signer := newSigner(t)
	c := &store.APIClient{EMKey: "em1", UserName: "ops", PasswordHash: hash, AESKey: make([]byte, 32), Certificate: signer.cert.Raw}
	if err := f.st.CreateAPIClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprint(c.ID)
	srv := httptest.NewServer(f.routes)
	defer srv.Close()
	// A request that authenticates, for a certificate nobody has: "No Data Found".
	emca := func(password string, key []byte) string {
		return emcaCall(t, srv.URL, "suspend", "em1", key, "ops", map[string]any{"userName": "ops", "password": password,
			"signature": base64.StdEncoding.EncodeToString(signer.sign(t, "UTNOBODY1")), "revokeMode": 6}).Result
	}
	if r := emca("s3cret", make([]byte, 32)); r != "No Data Found For UTNOBODY1" {
		t.Fatalf("before: %s", r)
	}
	if code, body := f.call("ada", "GET", "/admin/v1/apiclients", "", ""); code != http.StatusOK || !strings.Contains(body, `"state": "active"`) || strings.Contains(body, hash) {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, _ := f.call("olga", "POST", "/admin/v1/apiclients/"+id+"/disable", "{}", ""); code != http.StatusForbidden {
		t.Fatalf("RA operator disables a client: %d", code)
	}
	code, body := f.call("ada", "POST", "/admin/v1/apiclients/"+id+"/rotate", `{"password":"n3w","new_key":true}`, "")
	var rotated APIClientRotated
	if err := json.Unmarshal([]byte(body), &rotated); code != http.StatusOK || err != nil || len(rotated.NewKey) != 44 {
		t.Fatalf("rotate: %d %s", code, body)
	}
	newKey, _ := base64.StdEncoding.DecodeString(rotated.NewKey)
	if r := emca("s3cret", make([]byte, 32)); r != resultAuthFailed {
		t.Fatalf("old password and key after rotation: %s", r)
	}
	if r := emca("n3w", newKey); r != "No Data Found For UTNOBODY1" {
		t.Fatalf("new password and key: %s", r)
	}
	if code, _ := f.call("ada", "POST", "/admin/v1/apiclients/"+id+"/rotate", `{}`, ""); code != http.StatusBadRequest {
		t.Fatalf("rotate nothing: %d", code)
	}
	if code, body := f.call("ada", "POST", "/admin/v1/apiclients/"+id+"/disable", "{}", ""); code != http.StatusOK || !strings.Contains(body, `"state": "disabled"`) {
		t.Fatalf("disable: %d %s", code, body)
	}
	if r := emca("n3w", newKey); r != resultAuthFailed {
		t.Fatalf("disabled client: %s", r)
	}
	if got, _ := f.st.APIClientByKey(ctx, "em1"); got.LastUsedAt == nil {
		t.Fatal("last use not recorded")
	}
	if code, body := f.call("ada", "POST", "/admin/v1/apiclients/"+id+"/remove", "{}", ""); code != http.StatusOK || !strings.Contains(body, `"state": "removed"`) {
		t.Fatalf("remove: %d %s", code, body)
	}
}

// Every route's OpenAPI description names the roles the matrix lets perform its action.
func TestOpenAPIRolesMatchMatrix(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Description string `json:"description"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range (&Handler{}).routes() {
		method, path, _ := strings.Cut(r.pattern, " ")
		action := r.action
		for _, a := range r.verbs {
			if action != "" && rolesText(ops.RolesFor(a)) != rolesText(ops.RolesFor(action)) {
				t.Errorf("%s: actions of different roles", r.pattern)
			}
			action = a
		}
		want := "Role needed: " + rolesText(ops.RolesFor(action)) + "."
		if got := doc.Paths[path][strings.ToLower(method)].Description; !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q", r.pattern, got, want)
		}
	}
}
