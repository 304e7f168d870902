package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/internal/catest"
	"eacgate/store"
	"eacgate/trust"
)

// The partner registry over REST: an RA operator registers (the form's SHA-256 checked,
// newer CVCA certificates fetched; a CA operator may not), the officer suspends and reinstates partners and their
// DVs, the auditor reads but cannot write; every change is audited.
func TestPartnerEndpoints(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for name, role := range map[string]store.OperatorRole{"ada": store.RoleRAOperator, "olga": store.RoleRAOperator, "aude": store.RoleAuditor, "carl": store.RoleCAOperator} {
		if err := st.CreateOperator(ctx, &store.Operator{Name: name, Role: role, TokenHash: TokenHash(name)}); err != nil {
			t.Fatal(err)
		}
	}
	var fetched []string
	routes := (&Handler{Store: st, Country: "UT", Logger: slog.New(slog.DiscardHandler), TwoPerson: onePerson(),
		FetchPartnerCA: func(_ context.Context, country string) (int, error) {
			fetched = append(fetched, country)
			return 1, nil
		}}).Routes()
	call := func(who, method, path string, body any) (int, string) {
		t.Helper()
		var b []byte
		if body != nil {
			b, _ = json.Marshal(body)
		}
		r := httptest.NewRequest(method, path, strings.NewReader(string(b)))
		r.Header.Set("Authorization", "Bearer "+who)
		if method != http.MethodGet {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		routes.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "SPOC root ZZ"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	cvca := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1").Certificate()
	form := func(rootSHA, cvcaSHA string) map[string]any {
		return map[string]any{"country": "ZZ", "url": "https://spoc.zz.example/spoc",
			"spoc_root": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), "spoc_root_sha256": rootSHA,
			"cvca_certificates": []string{base64.StdEncoding.EncodeToString(cvca.Raw)}, "cvca_sha256": []string{cvcaSHA}, "rights": "dg4"}
	}
	good := form(hex.EncodeToString(sum[:]), trust.CertificateSHA256(cvca))
	wrong := strings.Repeat("11", 32)
	if code, body := call("aude", http.MethodPost, "/admin/v1/partners", good); code != http.StatusForbidden {
		t.Fatalf("auditor registers: %d %s", code, body)
	}
	if code, body := call("carl", http.MethodPost, "/admin/v1/partners", good); code != http.StatusForbidden {
		t.Fatalf("officer registers: %d %s", code, body)
	}
	for _, f := range []map[string]any{form(wrong, trust.CertificateSHA256(cvca)), form(hex.EncodeToString(sum[:]), wrong)} {
		if code, body := call("ada", http.MethodPost, "/admin/v1/partners", f); code != http.StatusBadRequest || !strings.Contains(body, "SHA-256 does not match") {
			t.Fatalf("wrong SHA-256: %d %s", code, body)
		}
	}
	if len(fetched) != 0 {
		t.Fatal("fetched for a refused registration")
	}
	code, body := call("ada", http.MethodPost, "/admin/v1/partners", good)
	if code != http.StatusCreated || !strings.Contains(body, `"fetched": 1`) || strings.Join(fetched, ",") != "ZZ" {
		t.Fatalf("register: %d %s (fetched %v)", code, body, fetched)
	}
	steps := []struct {
		who, method, path string
		body              any
		code              int
		want              string
	}{
		{"aude", "GET", "/admin/v1/partners", nil, 200, `"status": "active"`},
		{"aude", "GET", "/admin/v1/partners/ZZ", nil, 200, trust.CertificateSHA256(cvca)},
		{"aude", "POST", "/admin/v1/partners/ZZ/suspend", map[string]string{"reason": "x"}, 403, "may not"},
		{"olga", "POST", "/admin/v1/partners/ZZ/suspend", map[string]string{"reason": "audit"}, 200, `"status": "suspended"`},
		{"olga", "POST", "/admin/v1/partners/ZZ/reinstate", map[string]string{"reason": "ok"}, 200, `"status": "active"`},
		{"olga", "POST", "/admin/v1/partners/QQ/suspend", map[string]string{"reason": "x"}, 404, "not found"},
		{"aude", "POST", "/admin/v1/partners/ZZ/dvs", map[string]string{"mnemonic": "DVA"}, 403, "may not"},
		{"ada", "POST", "/admin/v1/partners/ZZ/dvs", map[string]string{"mnemonic": "DVA", "maintaining_cvca": "ZZCVCA00001"}, 200, `"role": "dv_foreign"`},
		{"olga", "POST", "/admin/v1/partners/ZZ/dvs/DVA/suspend", map[string]string{"reason": "x"}, 200, `"status": "suspended"`},
		{"aude", "GET", "/admin/v1/partners/ZZ/dvs", nil, 200, `"maintaining_cvca": "ZZCVCA00001"`},
		{"olga", "POST", "/admin/v1/partners/ZZ/dvs/NONE/suspend", map[string]string{"reason": "x"}, 404, "not found"},
	}
	for _, s := range steps {
		if code, body := call(s.who, s.method, s.path, s.body); code != s.code || !strings.Contains(body, s.want) {
			t.Fatalf("%s %s %s: %d %s", s.who, s.method, s.path, code, body)
		}
	}
	evs, err := st.ListAudit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Actor+" "+e.Action)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"operator:ada admin.partner.register", "operator:olga admin.partner.suspend", "operator:olga admin.partner.reinstate",
		"operator:ada admin.partner.dv_add", "operator:olga admin.holder.suspend", "operator:aude admin.denied"} {
		if !strings.Contains(all, want) {
			t.Errorf("audit log lacks %q:\n%s", want, all)
		}
	}
}
