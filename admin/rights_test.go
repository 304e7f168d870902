package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/store"
)

// PUT /admin/v1/holders/{id}/rights sets a terminal's rights (officers only): stored and
// audited, bad values answered 400.
func TestSetHolderRights(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	officer, officerFP := operatorCert(t, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	auditor, auditorFP := operatorCert(t, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	for name, o := range map[string]store.Operator{"olga": {Role: store.RoleRAOperator, TLSFingerprint: officerFP}, "anna": {Role: store.RoleAuditor, TLSFingerprint: auditorFP}} {
		o.Name = name
		if err := st.CreateOperator(ctx, &o); err != nil {
			t.Fatal(err)
		}
	}
	term := &store.Holder{Country: "UT", Mnemonic: "T1", Role: store.RoleTerminal, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, term); err != nil {
		t.Fatal(err)
	}
	routes := (&Handler{Store: st, Country: "UT", Now: func() time.Time { return now }}).Routes()
	put := func(c *x509.Certificate, id int64, body string) (int, map[string]any) {
		r := httptest.NewRequest(http.MethodPut, fmt.Sprintf("/admin/v1/holders/%d/rights", id), strings.NewReader(body))
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		routes.ServeHTTP(w, r)
		var out map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		return w.Code, out
	}
	if code, out := put(officer, term.ID, `{"rights":["dg3"]}`); code != http.StatusOK || fmt.Sprint(out["rights"]) != "[dg3]" {
		t.Fatalf("set: %d %v", code, out)
	}
	if h, _ := st.HolderByID(ctx, term.ID); h.Rights != "dg3" {
		t.Fatalf("stored %q", h.Rights)
	}
	evs, _ := st.ListAudit(ctx, 1)
	if len(evs) != 1 || evs[0].Action != "admin.holder.rights" || evs[0].Actor != "operator:olga" || evs[0].Outcome != "ok" {
		t.Fatalf("audit %+v", evs)
	}
	for _, body := range []string{`{"rights":["dg5"]}`, `{}`, `{"rights":"dg3"}`} {
		if code, out := put(officer, term.ID, body); code != http.StatusBadRequest {
			t.Errorf("%s: %d %v", body, code, out)
		}
	}
	if code, _ := put(officer, term.ID+100, `{"rights":["dg3"]}`); code != http.StatusNotFound {
		t.Errorf("unknown holder: %d", code)
	}
	if code, _ := put(auditor, term.ID, `{"rights":[]}`); code != http.StatusForbidden {
		t.Errorf("auditor: %d", code)
	}
	if h, _ := st.HolderByID(ctx, term.ID); h.Rights != "dg3" {
		t.Fatalf("changed by refused calls: %q", h.Rights)
	}
	if code, out := put(officer, term.ID, `{"rights":[]}`); code != http.StatusOK || fmt.Sprint(out["rights"]) != "[]" {
		t.Fatalf("clear: %d %v", code, out)
	}
}
