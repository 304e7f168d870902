package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/auditlog"
	"eacgate/store"
)

// GET /admin/v1/audit/verify checks the keyed log (checkpoints and head file included):
// a cut tail, which the chain alone cannot see, is reported.
func TestVerifyAuditKeyed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key, err := auditlog.LoadKey(ctx, st, filepath.Join(dir, "audit.key"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.UseAuditKey(key.MAC())
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	auditor, auditorFP := operatorCert(t, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	if err := st.CreateOperator(ctx, &store.Operator{Name: "anna", Role: store.RoleAuditor, TLSFingerprint: auditorFP}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := st.AppendAudit(ctx, store.AuditEvent{Actor: "op", Action: "holder.suspend"}); err != nil {
			t.Fatal(err)
		}
	}
	lg := &auditlog.Log{Store: st, Key: key, HeadFile: filepath.Join(dir, "audit.head"), Now: func() time.Time { return now }}
	if _, err := lg.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	routes := (&Handler{Store: st, Country: "UT", Now: func() time.Time { return now }, Audit: lg}).Routes()
	get := func() map[string]any {
		r := httptest.NewRequest(http.MethodGet, "/admin/v1/audit/verify", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{auditor}}
		w := httptest.NewRecorder()
		routes.ServeHTTP(w, r)
		var out map[string]any
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &out) != nil {
			t.Fatalf("verify: %d %s", w.Code, w.Body)
		}
		return out
	}
	if out := get(); out["ok"] != true || out["checkpoints"] != float64(1) || out["head_seq"] != float64(3) {
		t.Fatalf("verify: %v", out)
	}
	// The head file's checkpoint now claims more than the log holds: a cut tail.
	c := key.Sign(9, strings.Repeat("ab", 32), now)
	if err := auditlog.WriteHead(lg.HeadFile, c); err != nil {
		t.Fatal(err)
	}
	if out := get(); out["ok"] != false || !strings.Contains(out["error"].(string), "truncated") {
		t.Fatalf("verify after a cut: %v", out)
	}
}
