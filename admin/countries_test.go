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
	"slices"
	"strings"
	"testing"
	"time"

	"eacgate/store"
)

// PUT /admin/v1/holders/{id}/foreign-countries sets a domestic DV's list (officers only):
// stored and audited, bad codes answered 400.
func TestSetForeignCountries(t *testing.T) {
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
	dv := &store.Holder{Country: "UT", Mnemonic: "DVA", Role: store.RoleDVDomestic, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, dv); err != nil {
		t.Fatal(err)
	}
	routes := (&Handler{Store: st, Country: "UT", Now: func() time.Time { return now }}).Routes()
	put := func(c *x509.Certificate, body string) (int, map[string]any) {
		r := httptest.NewRequest(http.MethodPut, fmt.Sprintf("/admin/v1/holders/%d/foreign-countries", dv.ID), strings.NewReader(body))
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		routes.ServeHTTP(w, r)
		var out map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		return w.Code, out
	}
	if code, out := put(officer, `{"countries":["ZZ","FR"]}`); code != http.StatusOK || fmt.Sprint(out["countries"]) != "[FR ZZ]" {
		t.Fatalf("set: %d %v", code, out)
	}
	if got, _ := st.HolderForeignCountries(ctx, dv.ID); !slices.Equal(got, []string{"FR", "ZZ"}) {
		t.Fatalf("stored %v", got)
	}
	evs, _ := st.ListAudit(ctx, 1)
	if len(evs) != 1 || evs[0].Action != "admin.holder.countries" || evs[0].Actor != "operator:olga" || evs[0].Outcome != "ok" {
		t.Fatalf("audit %+v", evs)
	}
	for _, body := range []string{`{"countries":["zz"]}`, `{"countries":["UT"]}`, `{}`, `{"countries":"ZZ"}`} {
		if code, out := put(officer, body); code != http.StatusBadRequest {
			t.Errorf("%s: %d %v", body, code, out)
		}
	}
	if code, _ := put(auditor, `{"countries":[]}`); code != http.StatusForbidden {
		t.Errorf("auditor: %d", code)
	}
	if got, _ := st.HolderForeignCountries(ctx, dv.ID); len(got) != 2 {
		t.Fatalf("changed by refused calls: %v", got)
	}
}
