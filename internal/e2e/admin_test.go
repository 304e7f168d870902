package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"eacgate/cvc"
)

var tokenLine = regexp.MustCompile(`(?m)^([0-9a-f]{64})$`)

// operatorToken registers an operator with the CLI and returns its bearer token.
func (g *gateway) operatorToken(t *testing.T, name, role string) string {
	t.Helper()
	out := g.run(t, "operator", "add", "--name", name, "--role", role)
	m := tokenLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no token in:\n%s", out)
	}
	return m[1]
}

// adminClient calls the REST API over HTTPS, trusting the gateway's certificate.
type adminClient struct {
	t     *testing.T
	base  string
	token string
	hc    *http.Client
}

func (g *gateway) admin(t *testing.T, token string) *adminClient {
	pem, err := os.ReadFile(filepath.Join(g.data, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &adminClient{t: t, base: g.base, token: token, hc: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}}
}

func (a *adminClient) do(method, path string, body any, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json") // admin writes must say so (CSRF guard)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// Over real HTTPS against the real binary: an officer suspends a terminal, whose renewal is
// then refused over SOAP; reinstated, it renews; revoked, it stays refused and cannot be
// reinstated; an auditor reads but cannot write, and nobody without credentials gets in.
func TestAdminSuspendReinstateRevoke(t *testing.T) {
	g := startGateway(t)
	officer := g.admin(t, g.operatorToken(t, "olga", "ra_operator"))
	auditor := g.admin(t, g.operatorToken(t, "arno", "auditor"))
	officer2 := g.admin(t, g.operatorToken(t, "paul", "ra_operator")) // approves the revocation (two-person principle)
	anonymous := g.admin(t, "")
	term := g.register(t, "UT", "ISADM01", "terminal")

	chain := parseChain(t, certificates(t, g.zeep(t, "/dv", term, caCall())[0]))
	dv := chain[len(chain)-1]
	req1, key1 := newRequest(t, "brainpoolP256r1", "UTISADM0100001", dv.CHR, "", nil)
	res := g.zeep(t, "/dv", term, requestCall("a-1", req1))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("initial: %v", res[0])
	}
	first, _ := cvc.ParseCertificate(certificates(t, res[0])[0])

	var holders []struct {
		ID       int64  `json:"id"`
		Mnemonic string `json:"mnemonic"`
		Status   string `json:"status"`
	}
	if code := auditor.do("GET", "/admin/v1/holders?role=terminal", nil, &holders); code != 200 || len(holders) != 1 {
		t.Fatalf("auditor lists holders: %d %v", code, holders)
	}
	id := holders[0].ID
	if code := anonymous.do("GET", "/admin/v1/holders", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d", code)
	}
	if code := auditor.do("POST", fmt.Sprintf("/admin/v1/holders/%d/suspend", id), map[string]string{"reason": "audit"}, nil); code != http.StatusForbidden {
		t.Fatalf("auditor suspends: %d", code)
	}
	renew := func(n int, messageID string) string {
		t.Helper()
		req, _ := newRequest(t, "brainpoolP256r1", fmt.Sprintf("UTISADM01%05d", n), dv.CHR, first.CHR, key1)
		return g.zeep(t, "/dv", term, requestCall(messageID, req))[0]["returnCode"].(string)
	}
	if code := officer.do("POST", fmt.Sprintf("/admin/v1/holders/%d/suspend", id), map[string]string{"reason": "lost device"}, nil); code != 200 {
		t.Fatalf("suspend: %d", code)
	}
	if got := renew(2, "a-2"); got != "failure_request_not_accepted" {
		t.Fatalf("renewal while suspended: %s", got)
	}
	if code := officer.do("POST", fmt.Sprintf("/admin/v1/holders/%d/reinstate", id), map[string]string{"reason": "found"}, nil); code != 200 {
		t.Fatalf("reinstate: %d", code)
	}
	if got := renew(3, "a-3"); got != "ok_cert_available" {
		t.Fatalf("renewal after reinstatement: %s", got)
	}

	// Suspending the certificate stops the holder too; reinstating it restores.
	var certs []struct {
		ID     int64  `json:"id"`
		CHR    string `json:"chr"`
		Status string `json:"status"`
	}
	if code := auditor.do("GET", fmt.Sprintf("/admin/v1/certificates?holder_id=%d", id), nil, &certs); code != 200 || len(certs) != 2 {
		t.Fatalf("certificates: %d %v", code, certs)
	}
	newest := certs[0]
	if code := officer.do("POST", fmt.Sprintf("/admin/v1/certificates/%d/suspend", newest.ID), map[string]string{"reason": "key check"}, nil); code != 200 {
		t.Fatalf("suspend certificate: %d", code)
	}
	fresh, _ := newRequest(t, "brainpoolP256r1", "UTISADM0100009", dv.CHR, "", nil)
	if got := g.zeep(t, "/dv", term, requestCall("a-4", fresh))[0]["returnCode"]; got != "failure_request_not_accepted" {
		t.Fatalf("unauthenticated request while the certificate is suspended: %v", got)
	}
	if code := officer.do("POST", fmt.Sprintf("/admin/v1/certificates/%d/suspend", newest.ID), map[string]string{"reason": "again"}, nil); code != http.StatusConflict {
		t.Fatalf("suspend twice: %d", code)
	}
	if code := officer.do("POST", fmt.Sprintf("/admin/v1/certificates/%d/reinstate", newest.ID), map[string]string{"reason": "ok"}, nil); code != 200 {
		t.Fatalf("reinstate certificate: %d", code)
	}

	// Revoke is final; it needs two persons: olga proposes, paul approves.
	var proposal struct {
		ID     int64  `json:"id"`
		SHA256 string `json:"sha256"`
	}
	if code := officer.do("POST", fmt.Sprintf("/admin/v1/holders/%d/revoke", id), map[string]string{"reason": "decommissioned"}, &proposal); code != http.StatusAccepted {
		t.Fatalf("revoke: %d", code)
	}
	if code := officer2.do("POST", fmt.Sprintf("/admin/v1/proposals/%d/approve", proposal.ID), map[string]string{"sha256": proposal.SHA256}, nil); code != 200 {
		t.Fatalf("approve the revocation: %d", code)
	}
	if code := officer.do("POST", fmt.Sprintf("/admin/v1/holders/%d/reinstate", id), map[string]string{"reason": "undo"}, nil); code != http.StatusConflict {
		t.Fatalf("reinstate after revoke: %d", code)
	}
	if got := renew(4, "a-5"); got != "failure_request_not_accepted" {
		t.Fatalf("renewal after revocation: %s", got)
	}

	// Everything above is in the audit log, which verifies.
	var events []struct {
		Actor   string `json:"Actor"`
		Action  string `json:"Action"`
		Source  string `json:"Source"`
		Outcome string `json:"Outcome"`
	}
	if code := auditor.do("GET", "/admin/v1/audit?limit=50", nil, &events); code != 200 {
		t.Fatalf("audit: %d", code)
	}
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Actor+" "+e.Action+" "+e.Outcome] = true
		if e.Source == "" {
			t.Fatalf("audit event without source: %+v", e)
		}
	}
	for _, want := range []string{"operator:olga admin.holder.suspend ok", "operator:olga admin.holder.revoke ok",
		"operator:arno admin.denied forbidden", "operator:olga admin.certificate.suspend ok"} {
		if !seen[want] {
			t.Errorf("audit log lacks %q", want)
		}
	}
	var verify struct {
		OK bool `json:"ok"`
	}
	if code := auditor.do("GET", "/admin/v1/audit/verify", nil, &verify); code != 200 || !verify.OK {
		t.Fatalf("audit verify: %d %v", code, verify)
	}
	var stats map[string]any
	if code := auditor.do("GET", "/admin/v1/stats?expiring_within_days=400", nil, &stats); code != 200 || stats["certificates_by_country"] == nil {
		t.Fatalf("stats: %d %v", code, stats)
	}
	var doc map[string]any
	if code := anonymous.do("GET", "/admin/v1/openapi.json", nil, &doc); code != 200 || doc["openapi"] == nil {
		t.Fatalf("openapi: %d", code)
	}
}
