package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"eacgate/authority"
	"eacgate/store"
)

// fakePartners stands in for the SPOC's partners: ZZ takes every message, QQ cannot be
// reached.
type fakePartners struct {
	mu   sync.Mutex
	sent []string // country: subject / body
}

func (p *fakePartners) Partners() []string { return []string{"ZZ", "QQ"} }

func (p *fakePartners) SendGeneralMessage(_ context.Context, country, _, subject, body string) (authority.ReturnCode, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, country+": "+subject+" / "+body)
	if country == "QQ" {
		return "", errors.New("connection refused")
	}
	return "ok", nil
}

// An officer sends a C.4 notification to one partner or all of them and sees per partner
// whether it was taken; an auditor may list the messages but not send one (403, audited as
// denied); a template without its parameters or an unknown partner is a bad request.
func TestSPOCNotifyEndpoint(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for name, role := range map[string]store.OperatorRole{"olga": store.RoleRAOperator, "audrey": store.RoleAuditor} {
		if err := st.CreateOperator(ctx, &store.Operator{Name: name, Role: role, TokenHash: TokenHash(name + "-token")}); err != nil {
			t.Fatal(err)
		}
	}
	partners := &fakePartners{}
	srv := httptest.NewServer((&Handler{Store: st, Country: "UT", Partners: partners, Logger: slog.New(slog.DiscardHandler)}).Routes())
	defer srv.Close()
	call := func(who, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+who+"-token")
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, body := call("olga", http.MethodPost, "/admin/v1/spoc/notify",
		`{"to":"zz","template":"key-compromise","role":"DV","loss":"stolen","chr":"UTDVN00001","date":"2026-11-30"}`)
	var ans NotifyAnswer
	_ = json.Unmarshal([]byte(body), &ans)
	if code != http.StatusOK || !ans.AllTaken || len(ans.Results) != 1 || !ans.Results[0].Taken || ans.Results[0].Country != "ZZ" {
		t.Fatalf("notify ZZ: %d %s", code, body)
	}
	want := "ZZ: DV private key stolen / Private key belonging to UTDVN00001 was stolen on 2026-11-30."
	if len(partners.sent) != 1 || partners.sent[0] != want {
		t.Fatalf("sent %q, want %q", partners.sent, want)
	}

	code, body = call("olga", http.MethodPost, "/admin/v1/spoc/notify", `{"to":"all","subject":"Maintenance","body":"Sunday"}`)
	ans = NotifyAnswer{}
	_ = json.Unmarshal([]byte(body), &ans)
	if code != http.StatusOK || ans.AllTaken || len(ans.Results) != 2 || !ans.Results[0].Taken || ans.Results[1].Taken ||
		ans.Results[1].Error != "partner unreachable" {
		t.Fatalf("notify all with QQ down: %d %s", code, body)
	}

	sent := len(partners.sent)
	for name, req := range map[string]string{
		"missing parameters": `{"to":"ZZ","template":"dv-not-compliant"}`,
		"unknown partner":    `{"to":"XX","template":"disruption"}`,
		"no recipient":       `{"template":"disruption"}`,
	} {
		if code, body := call("olga", http.MethodPost, "/admin/v1/spoc/notify", req); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	if code, body := call("audrey", http.MethodPost, "/admin/v1/spoc/notify", `{"to":"ZZ","template":"disruption"}`); code != http.StatusForbidden {
		t.Errorf("auditor sent a notification: %d %s", code, body)
	}
	if len(partners.sent) != sent {
		t.Fatalf("a refused notification was sent: %q", partners.sent[sent:])
	}
	events, _ := st.ListAudit(ctx, 0)
	var notified, denied int
	for _, ev := range events {
		switch {
		case ev.Action == "admin.partner.notify" && ev.Actor == "operator:olga" && ev.Outcome == "ok":
			notified++
		case ev.Action == "admin.denied" && ev.Actor == "operator:audrey" && ev.Target == "POST /admin/v1/spoc/notify":
			denied++
		}
	}
	if notified != 2 || denied != 1 {
		t.Fatalf("audit: %d notifications taken, %d denied: %+v", notified, denied, events)
	}

	code, body = call("audrey", http.MethodGet, "/admin/v1/spoc/messages", "")
	var list []GeneralMessage
	_ = json.Unmarshal([]byte(body), &list)
	if code != http.StatusOK || len(list) != 3 || list[0].Partner != "QQ" || list[0].State != "failed" || list[0].Direction != "out" ||
		list[2].Subject != "DV private key stolen" || list[2].State != "answered" {
		t.Fatalf("messages: %d %s", code, body)
	}
}
