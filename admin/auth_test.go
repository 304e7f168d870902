package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/internal/testenv"
	"eacgate/store"
)

// operatorCert makes a self-signed operator certificate and its fingerprint.
func operatorCert(t *testing.T, notBefore, notAfter time.Time, ekus ...x509.ExtKeyUsage) (*x509.Certificate, string) {
	return testenv.ClientCert(t, "operator", notBefore, notAfter, ekus)
}

// An operator certificate valid 2020-2021 no longer opens the admin API: 401 with a JSON
// error saying when it expired; one without the client usage neither. Registering a holder
// with such a certificate is refused.
func TestOperatorCertificateValidity(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	good, goodFP := operatorCert(t, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	old, oldFP := operatorCert(t, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 12, 31, 23, 59, 59, 0, time.UTC))
	srvOnly, srvFP := operatorCert(t, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageServerAuth)
	for name, fp := range map[string]string{"good": goodFP, "old": oldFP, "server": srvFP} {
		if err := st.CreateOperator(ctx, &store.Operator{Name: name, Role: store.RoleRAOperator, TLSFingerprint: fp}); err != nil {
			t.Fatal(err)
		}
	}
	routes := (&Handler{Store: st, Country: "UT", Now: func() time.Time { return now }}).Routes()
	call := func(c *x509.Certificate, method, path, body string) (int, map[string]any) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
		if method != http.MethodGet {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		routes.ServeHTTP(w, r)
		var out map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		return w.Code, out
	}
	if code, _ := call(good, http.MethodGet, "/admin/v1/stats", ""); code != http.StatusOK {
		t.Fatalf("valid operator certificate: %d", code)
	}
	code, out := call(old, http.MethodGet, "/admin/v1/stats", "")
	if msg, _ := out["error"].(string); code != http.StatusUnauthorized || !strings.Contains(msg, "expired on 2021-12-31") {
		t.Errorf("expired operator certificate: %d %v", code, out)
	}
	if code, _ := call(srvOnly, http.MethodGet, "/admin/v1/stats", ""); code != http.StatusUnauthorized {
		t.Errorf("server-only operator certificate: %d", code)
	}
	oldPEM, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: old.Raw})))
	code, out = call(good, http.MethodPost, "/admin/v1/holders", `{"country":"UT","mnemonic":"ISGATE01","role":"terminal","tls_certificate":`+string(oldPEM)+`}`)
	if msg, _ := out["error"].(string); code != http.StatusBadRequest || !strings.Contains(msg, "expired on 2021-12-31") {
		t.Errorf("holder registered with an expired certificate: %d %v", code, out)
	}
	goodPEM, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good.Raw})))
	if code, out = call(good, http.MethodPost, "/admin/v1/holders", `{"country":"UT","mnemonic":"ISGATE02","role":"terminal","tls_certificate":`+string(goodPEM)+`}`); code != http.StatusCreated {
		t.Errorf("holder with a good certificate: %d %v", code, out)
	}
}
