package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/store"
)

func TestAuditVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "eacgate.db")
	st, err := store.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := st.AppendAudit(ctx, store.AuditEvent{Actor: "admin", Action: "holder.suspend", Target: fmt.Sprintf("DEDV%02d", i), Outcome: "ok", Details: `{"n":1}`}); err != nil {
			t.Fatal(err)
		}
	}
	call := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(ctx, args, &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := call("audit", "verify", "--db", path); code != 0 || !strings.Contains(out, "audit chain OK: 5 events") {
		t.Fatalf("verify: %d %q", code, out)
	}
	if code, out := call("audit", "verify", "--data", dir); code != 0 || !strings.Contains(out, "audit chain OK: 5 events") {
		t.Fatalf("verify --data: %d %q", code, out)
	}
	if code, out := call("audit", "list", "--db", path, "--limit", "2"); code != 0 || !strings.Contains(out, "DEDV04") || strings.Contains(out, "DEDV02") {
		t.Fatalf("list: %d %q", code, out)
	}
	if code, _ := call("audit", "verify", "--db", filepath.Join(dir, "missing.db")); code != 1 {
		t.Fatalf("missing db: exit %d", code)
	}
	if code, _ := call("audit", "verify"); code != 2 {
		t.Fatalf("no --db: exit %d", code)
	}

	// The trigger refuses the update; drop it, as someone with access to the file could, and
	// tamper with a row.
	if err := st.DB().Exec("UPDATE audit_events SET target = 'DEDV99' WHERE seq = 3").Error; err == nil {
		t.Fatal("append-only trigger did not fire")
	}
	if err := st.DB().Exec("DROP TRIGGER audit_events_no_update").Error; err != nil {
		t.Fatal(err)
	}
	if err := st.DB().Exec("UPDATE audit_events SET target = 'DEDV99' WHERE seq = 3").Error; err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	code, out := call("audit", "verify", "--db", path)
	if code != 1 || !strings.Contains(out, "audit chain BROKEN:") || !strings.Contains(out, "seq 3") {
		t.Fatalf("tampered verify: %d %q", code, out)
	}
}
