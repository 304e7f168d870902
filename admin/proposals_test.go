package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
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

// onePerson is the two-person policy of tests about something else: every critical task
// runs at once, as before the two-person principle.
func onePerson() ops.TwoPerson {
	q := map[string]int{}
	for _, n := range ops.TaskNames() {
		q[n] = 1
	}
	return ops.TwoPerson{Quorum: q}
}

// The REST API's two-person principle: a DV registration and a revocation answer 202 with
// a proposal; the proposer, another token of the same person and a wrong role cannot
// approve it; a second RA operator can, and the result is what was proposed; an expired
// or withdrawn proposal cannot be approved; a wrong hash is refused.
func TestRESTTwoPersonPrinciple(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, o := range []store.Operator{
		{Name: "ada", Person: "Ada", Role: store.RoleRAOperator},
		{Name: "olga", Person: "Olga", Role: store.RoleRAOperator},
		{Name: "olga-2", Person: "Olga", Role: store.RoleRAOperator},
		{Name: "carl", Person: "Carl", Role: store.RoleCAOperator},
		{Name: "aude", Person: "Aude", Role: store.RoleAuditor},
		{Name: "paul", Person: "Paul", Role: store.RoleRAOperator},
	} {
		o.TokenHash = TokenHash(o.Name)
		if err := st.CreateOperator(ctx, &o); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	routes := (&Handler{Store: st, Country: "UT", Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}).Routes()
	call := func(who, method, path string, body any) (int, string) {
		t.Helper()
		b, _ := json.Marshal(body)
		r := httptest.NewRequest(method, path, strings.NewReader(string(b)))
		r.Header.Set("Authorization", "Bearer "+who)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		routes.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	propose := func(who, path string, body any) Proposal {
		t.Helper()
		code, out := call(who, "POST", path, body)
		var p Proposal
		if code != http.StatusAccepted || json.Unmarshal([]byte(out), &p) != nil || p.ID == 0 || p.State != "open" || len(p.SHA256) != 64 ||
			p.Quorum != 2 || p.ExpiresAt.IsZero() || p.Approvals == nil {
			t.Fatalf("%s %s: %d %s", who, path, code, out)
		}
		return p
	}
	dv := map[string]string{"country": "UT", "mnemonic": "DV1", "role": "dv_domestic", "ip_ranges": "192.0.2.0/24"}
	p := propose("ada", "/admin/v1/holders", dv)
	if !strings.HasPrefix(p.Description, "Register UTDV1 as dv_domestic, from 192.0.2.0/24.") {
		t.Fatalf("description %q", p.Description)
	}
	approve := "/admin/v1/proposals/" + itoa(p.ID) + "/approve"
	for _, c := range []struct {
		who, hash string
		code      int
		want      string
	}{
		{"ada", p.SHA256, 403, "proposer's own person"},
		{"carl", p.SHA256, 403, "may not approve"},
		{"aude", p.SHA256, 403, "may not"},
		{"paul", strings.Repeat("ab", 32), 409, "SHA-256 given is not the proposal's"},
	} {
		if code, out := call(c.who, "POST", approve, map[string]string{"sha256": c.hash}); code != c.code || !strings.Contains(out, c.want) {
			t.Fatalf("approval by %s: %d %s", c.who, code, out)
		}
	}
	if code, out := call("aude", "GET", "/admin/v1/holders", nil); code != 200 || strings.Contains(out, "DV1") {
		t.Fatalf("holders before the approval: %d %s", code, out)
	}
	code, out := call("paul", "POST", approve, map[string]string{"sha256": p.SHA256})
	var done Proposal
	if code != 200 || json.Unmarshal([]byte(out), &done) != nil || done.State != "executed" || len(done.Approvals) != 1 || done.Approvals[0].Person != "Paul" {
		t.Fatalf("approval by paul: %d %s", code, out)
	}
	h, err := st.HolderByName(ctx, "UT", "DV1")
	if err != nil || h.Role != store.RoleDVDomestic || h.IPRanges != "192.0.2.0/24" || h.Status != store.HolderActive {
		t.Fatalf("registered %+v, %v", h, err)
	}
	if code, out := call("aude", "GET", "/admin/v1/proposals?state=executed", nil); code != 200 || !strings.Contains(out, `"decided_by": "operator:paul"`) {
		t.Fatalf("list: %d %s", code, out)
	}

	// Revocation: the same person with another token cannot approve; an expired proposal
	// cannot be approved; a withdrawn one neither.
	p = propose("olga", "/admin/v1/holders/"+itoa(h.ID)+"/revoke", map[string]string{"reason": "key compromised"})
	approve = "/admin/v1/proposals/" + itoa(p.ID) + "/approve"
	if code, out := call("olga-2", "POST", approve, map[string]string{"sha256": p.SHA256}); code != 403 || !strings.Contains(out, "same person") {
		t.Fatalf("approval by olga's other token: %d %s", code, out)
	}
	now = now.Add(25 * time.Hour)
	if code, out := call("paul", "POST", approve, map[string]string{"sha256": p.SHA256}); code != 409 || !strings.Contains(out, "expired") {
		t.Fatalf("approval of an expired proposal: %d %s", code, out)
	}
	if h, _ := st.HolderByID(ctx, h.ID); h.Status != store.HolderActive {
		t.Fatalf("revoked by one person: %s", h.Status)
	}
	p = propose("olga", "/admin/v1/holders/"+itoa(h.ID)+"/revoke", map[string]string{"reason": "key compromised"})
	if code, out := call("paul", "POST", "/admin/v1/proposals/"+itoa(p.ID)+"/withdraw", map[string]string{}); code != 403 {
		t.Fatalf("withdrawal by another: %d %s", code, out)
	}
	if code, out := call("olga", "POST", "/admin/v1/proposals/"+itoa(p.ID)+"/withdraw", map[string]string{}); code != 200 || !strings.Contains(out, `"state": "withdrawn"`) {
		t.Fatalf("withdraw: %d %s", code, out)
	}
	if code, out := call("paul", "POST", "/admin/v1/proposals/"+itoa(p.ID)+"/approve", map[string]string{"sha256": p.SHA256}); code != 409 || !strings.Contains(out, "withdrawn") {
		t.Fatalf("approval of a withdrawn proposal: %d %s", code, out)
	}
	p = propose("olga", "/admin/v1/holders/"+itoa(h.ID)+"/revoke", map[string]string{"reason": "key compromised"})
	if code, out := call("paul", "POST", "/admin/v1/proposals/"+itoa(p.ID)+"/approve", map[string]string{"sha256": p.SHA256}); code != 200 || !strings.Contains(out, `"state": "executed"`) {
		t.Fatalf("approval: %d %s", code, out)
	}
	if h, _ := st.HolderByID(ctx, h.ID); h.Status != store.HolderRevoked {
		t.Fatalf("not revoked: %s", h.Status)
	}
	// Suspension stays one person, at once; so does registering a terminal.
	term := map[string]string{"country": "UT", "mnemonic": "TERM1", "role": "terminal"}
	if code, out := call("ada", "POST", "/admin/v1/holders", term); code != 201 {
		t.Fatalf("terminal: %d %s", code, out)
	}
	if code, out := call("aude", "GET", "/admin/v1/proposals/"+itoa(p.ID), nil); code != 200 || !strings.Contains(out, `"task": "holder.revoke"`) {
		t.Fatalf("show: %d %s", code, out)
	}
	if n, err := st.VerifyAudit(ctx); err != nil || n == 0 {
		t.Fatalf("audit: %d %v", n, err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// An emCA client's revocation is a proposal: answered status "pending" with its
// proposalId (the same request again answers the same proposal), and revoked when an RA
// operator approves it.
func TestEMCARevokeIsProposed(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dv := &store.Holder{Country: "UT", Mnemonic: "DVX", Role: store.RoleDVDomestic, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, dv); err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Truncate(24 * time.Hour)
	cert := &store.Certificate{HolderID: &dv.ID, CHR: "UTDVX00001", CAR: "UTCVCA00001", Role: store.RoleDVDomestic,
		NotBefore: day, NotAfter: day.AddDate(0, 0, 90), Raw: []byte{0x7f, 0x21, 0}}
	if err := st.AddCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	client := newSigner(t)
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	hash, _ := HashPassword("s3cret")
	if err := st.CreateAPIClient(ctx, &store.APIClient{EMKey: "key-local", UserName: "ops", PasswordHash: hash, AESKey: key,
		Certificate: client.cert.Raw, IPRanges: "127.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateOperator(ctx, &store.Operator{Name: "paul", Role: store.RoleRAOperator, TokenHash: TokenHash("paul")}); err != nil {
		t.Fatal(err)
	}
	routes := (&Handler{Store: st, Country: "UT", Logger: slog.New(slog.DiscardHandler)}).Routes()
	srv := httptest.NewServer(routes)
	defer srv.Close()
	approve := func(id int64) {
		t.Helper()
		p, err := st.ProposalByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]string{"sha256": p.SHA256})
		r := httptest.NewRequest("POST", "/admin/v1/proposals/"+itoa(id)+"/approve", strings.NewReader(string(b)))
		r.Header.Set("Authorization", "Bearer paul")
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		routes.ServeHTTP(w, r)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"state": "executed"`) {
			t.Fatalf("approval of %d: %d %s", id, w.Code, w.Body.String())
		}
	}
	status := func() store.CertStatus {
		c, _ := st.CertificateByID(ctx, cert.ID)
		return c.Status
	}
	// Suspending a DV's certificate is immediate; reinstating it is a proposal.
	sign := base64Std(client.sign(t, "UTDVX00001"))
	if r := emcaCall(t, srv.URL, "suspend", "key-local", key, "ops", map[string]any{"userName": "ops", "password": "s3cret",
		"signature": sign, "revokeMode": 6, "remarks": "lost"}); r.Status != "success" || status() != store.CertSuspended {
		t.Fatalf("suspend: %+v, %s", r, status())
	}
	reinstate := emcaCall(t, srv.URL, "reinstate", "key-local", key, "ops", map[string]any{"userName": "ops", "password": "s3cret",
		"signature": sign, "remarks": "found"})
	if reinstate.Status != "pending" || reinstate.Result != "Reinstatement Pending Approval" || reinstate.ProposalID == 0 || status() != store.CertSuspended {
		t.Fatalf("reinstate: %+v, %s", reinstate, status())
	}
	approve(reinstate.ProposalID)
	if status() != store.CertValid {
		t.Fatalf("reinstate approved: %s", status())
	}
	revoke := func() EMCAResponse {
		return emcaCall(t, srv.URL, "revoke", "key-local", key, "ops", map[string]any{"userName": "ops", "password": "s3cret",
			"signature": base64Std(client.sign(t, "UTDVX00001")), "revokeMode": 1, "remarks": "key compromised"})
	}
	first := revoke()
	if first.Status != "pending" || first.Result != "Revocation Pending Approval" || first.ProposalID == 0 {
		t.Fatalf("revoke: %+v", first)
	}
	if again := revoke(); again.ProposalID != first.ProposalID || again.Status != "pending" {
		t.Fatalf("the same revocation again: %+v", again)
	}
	if c, _ := st.CertificateByID(ctx, cert.ID); c.Status != store.CertValid {
		t.Fatalf("revoked by the client alone: %s", c.Status)
	}
	p, err := st.ProposalByID(ctx, first.ProposalID)
	if err != nil || p.ProposerPerson != "emca:ops" || p.Task != "certificate.revoke" {
		t.Fatalf("proposal %+v, %v", p, err)
	}
	b, _ := json.Marshal(map[string]string{"sha256": p.SHA256})
	r := httptest.NewRequest("POST", "/admin/v1/proposals/"+itoa(p.ID)+"/approve", strings.NewReader(string(b)))
	r.Header.Set("Authorization", "Bearer paul")
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	routes.ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"state": "executed"`) {
		t.Fatalf("approval: %d %s", w.Code, w.Body.String())
	}
	if c, _ := st.CertificateByID(ctx, cert.ID); c.Status != store.CertRevoked {
		t.Fatalf("not revoked: %s", c.Status)
	}
	evs, _ := st.ListAudit(ctx, 3)
	if evs[1].Action != "emca.revoke" || evs[1].Actor != "emca:ops" || !strings.Contains(evs[1].Details, `"approved_by":"operator:paul"`) {
		t.Fatalf("events %+v", evs)
	}
	if again := revoke(); again.Result != "Certificate already revoked" {
		t.Fatalf("revoke after the approval: %+v", again)
	}
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
