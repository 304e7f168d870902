package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/store"
)

// adminFixture is a store with an administrator (bearer token) and a terminal holder, served by
// the admin handler.
type adminFixture struct {
	st     *store.Store
	srv    *httptest.Server
	token  string
	holder *store.Holder
}

func newAdminFixture(t *testing.T) *adminFixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &adminFixture{st: st, token: "officer-token"}
	if err := st.CreateOperator(ctx, &store.Operator{Name: "ada", Role: store.RoleRAOperator, TokenHash: TokenHash(f.token)}); err != nil {
		t.Fatal(err)
	}
	f.holder = &store.Holder{Country: "UT", Mnemonic: "TERM1", Role: store.RoleTerminal, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, f.holder); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer((&Handler{Store: st, Country: "UT", Logger: slog.New(slog.DiscardHandler)}).Routes())
	t.Cleanup(f.srv.Close)
	return f
}

// call sends an authenticated request with the given headers; it returns the status and body.
func (f *adminFixture) call(t *testing.T, method, path, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *adminFixture) holderStatus(t *testing.T) store.HolderStatus {
	t.Helper()
	h, err := f.st.HolderByID(context.Background(), f.holder.ID)
	if err != nil {
		t.Fatal(err)
	}
	return h.Status
}

// A browser can send a text/plain or form POST to another origin without a CORS preflight,
// and presents the operator's TLS client certificate with it: admin writes need
// Content-Type application/json (415) and are refused cross-site (403), before anything
// changes.
func TestAdminWritesRefuseCrossSite(t *testing.T) {
	f := newAdminFixture(t)
	suspend := fmt.Sprintf("/admin/v1/holders/%d/suspend", f.holder.ID)
	reason := `{"reason": "csrf"}`
	host := strings.TrimPrefix(f.srv.URL, "http://")
	for name, tc := range map[string]struct {
		headers map[string]string
		want    int
	}{
		"text/plain":           {map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
		"form":                 {map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		"no content type":      {map[string]string{}, http.StatusUnsupportedMediaType},
		"json lookalike":       {map[string]string{"Content-Type": "application/jsonp"}, http.StatusUnsupportedMediaType},
		"Sec-Fetch-Site cross": {map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		"Sec-Fetch-Site same-site": {map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"},
			http.StatusForbidden},
		"foreign Origin":      {map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}, http.StatusForbidden},
		"other port Origin":   {map[string]string{"Content-Type": "application/json", "Origin": "http://" + strings.Split(host, ":")[0] + ":1"}, http.StatusForbidden},
		"null Origin":         {map[string]string{"Content-Type": "application/json", "Origin": "null"}, http.StatusForbidden},
		"text/plain + Origin": {map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example"}, http.StatusForbidden},
		"same-origin, foreign Origin": {map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin",
			"Origin": "https://evil.example"}, http.StatusForbidden},
	} {
		code, body := f.call(t, "POST", suspend, reason, tc.headers)
		if code != tc.want {
			t.Errorf("%s: HTTP %d %s, want %d", name, code, body, tc.want)
		}
		var e map[string]string
		if err := json.Unmarshal([]byte(body), &e); err != nil || e["error"] == "" {
			t.Errorf("%s: not a JSON error: %s", name, body)
		}
		if s := f.holderStatus(t); s != store.HolderActive {
			t.Fatalf("%s: the holder is %s", name, s)
		}
	}
	// Reads are not affected; scripts (no Origin, no Sec-Fetch-Site) and same-origin browser
	// requests write.
	if code, body := f.call(t, "GET", "/admin/v1/holders", "", map[string]string{"Origin": "https://evil.example"}); code != http.StatusOK {
		t.Fatalf("GET with Origin: %d %s", code, body)
	}
	if code, body := f.call(t, "POST", suspend, reason, map[string]string{"Content-Type": "application/json; charset=utf-8"}); code != http.StatusOK {
		t.Fatalf("script suspend: %d %s", code, body)
	}
	if code, body := f.call(t, "POST", fmt.Sprintf("/admin/v1/holders/%d/reinstate", f.holder.ID), reason,
		map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin", "Origin": "http://" + host}); code != http.StatusOK {
		t.Fatalf("same-origin reinstate: %d %s", code, body)
	}
	if code, body := f.call(t, "POST", suspend, reason, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "none"}); code != http.StatusOK {
		t.Fatalf("user-initiated suspend: %d %s", code, body)
	}
}

func TestSameHost(t *testing.T) {
	for _, tc := range []struct {
		origin, host string
		tls, want    bool
	}{
		{"https://gw.example", "gw.example:443", true, true},
		{"https://GW.example:8443", "gw.example:8443", true, true},
		{"http://gw.example", "gw.example", false, true},
		{"https://[::1]:8443", "[::1]:8443", true, true},
		{"https://gw.example:8443", "gw.example:9443", true, false},
		{"https://evil.example", "gw.example", true, false},
		{"null", "gw.example", true, false},
		{"gw.example", "gw.example", true, false},
		{"ftp://gw.example", "gw.example", true, false},
	} {
		scheme := "http://"
		if tc.tls {
			scheme = "https://"
		}
		r := httptest.NewRequest("POST", scheme+tc.host+"/admin/v1/holders", nil)
		if got := sameHost(tc.origin, r); got != tc.want {
			t.Errorf("sameHost(%q, %q) = %v", tc.origin, tc.host, got)
		}
	}
}

// Database errors never reach operators: a duplicate registration is a plain 409 and the
// audit log records no driver text either.
func TestAdminNoDatabaseErrorText(t *testing.T) {
	f := newAdminFixture(t)
	body, _ := json.Marshal(map[string]string{"country": "UT", "mnemonic": "TERM1", "role": "terminal"})
	code, out := f.call(t, "POST", "/admin/v1/holders", string(body), map[string]string{"Content-Type": "application/json"})
	if code != http.StatusConflict {
		t.Fatalf("duplicate holder: %d %s", code, out)
	}
	events, err := f.st.ListAudit(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{out}
	for _, e := range events {
		texts = append(texts, e.Outcome, e.Details)
	}
	for _, s := range texts {
		for _, leak := range []string{"UNIQUE", "constraint", "SQLSTATE", "holders.", "sqlite"} {
			if strings.Contains(s, leak) {
				t.Errorf("database error text %q shown: %s", leak, s)
			}
		}
	}
	if !bytes.Contains([]byte(out), []byte("already registered")) {
		t.Errorf("answer: %s", out)
	}
}

// The emCA endpoints keep their wire format: machine-to-machine, authenticated by the emKey
// header and the sealed body (neither can be forged by a browser), they take any
// Content-Type and are not subject to the Origin checks.
func TestEMCANotGuarded(t *testing.T) {
	f := newEMCAFixture(t, &Handler{checkPassword: func(_, pw string) bool { return pw == "s3cret" }})
	for _, ct := range []string{"text/plain", ""} {
		req, _ := http.NewRequest("POST", f.srv.URL+"/emCAServices/rest/suspend", bytes.NewReader(f.request("s3cret")))
		req.Header.Set("emKey", "key-local")
		req.Header.Set("Origin", "https://elsewhere.example")
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r EMCAResponse
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || r.Result != resultBadRevokeMode {
			t.Fatalf("Content-Type %q: HTTP %d %+v %v", ct, resp.StatusCode, r, err)
		}
	}
}

// A database failure while looking up the emCA client is an internal error (logged), not an
// authentication failure counted against the client, and its text is not shown.
func TestEMCAClientLookupFailure(t *testing.T) {
	f := newEMCAFixture(t, &Handler{checkPassword: func(_, pw string) bool { return pw == "s3cret" }})
	f.st.Close()
	req, _ := http.NewRequest("POST", f.srv.URL+"/emCAServices/rest/suspend", bytes.NewReader(f.request("s3cret")))
	req.Header.Set("emKey", "key-local")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r EMCAResponse
	if err := json.Unmarshal(b, &r); err != nil || r.Result != resultInternal || strings.Contains(string(b), "sql") {
		t.Fatalf("HTTP %d %s", resp.StatusCode, b)
	}
}
