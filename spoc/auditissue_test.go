package spoc

import (
	"context"
	"encoding/json"
	"testing"

	"eacgate/store"
)

// checkForeignIssuance checks that the ca.issue events of st are exactly one for each
// certificate chr -> messageID, issued by UTCVCA00001 to a foreign DV whose SPOC ZZ called
// from source, naming the stored certificate's SHA-256, and that the chain verifies.
func checkForeignIssuance(t *testing.T, st *store.Store, source string, want map[string]string) {
	t.Helper()
	ctx := context.Background()
	evs, err := st.ListAudit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if e.Action != store.ActionIssue {
			continue
		}
		var d store.IssueDetails
		if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
			t.Fatal(err)
		}
		mid, ok := want[d.CHR]
		if !ok || seen[d.CHR] {
			t.Errorf("unexpected ca.issue event %+v", d)
			continue
		}
		seen[d.CHR] = true
		rows, err := st.CertificatesByCHR(ctx, d.CHR)
		if err != nil || len(rows) != 1 {
			t.Fatalf("%s: %d certificates, %v", d.CHR, len(rows), err)
		}
		w := store.IssueDetails{CHR: d.CHR, CAR: "UTCVCA00001", Role: store.RoleDVForeign, Requester: d.CHR[:len(d.CHR)-5],
			Caller: "spoc:ZZ", SHA256: store.CertificateSHA256(rows[0].Raw), MessageID: mid}
		if d != w || e.Source != source || e.Actor != "ca:UTCVCA00001" {
			t.Errorf("event %+v details %+v, want %+v from %s", e, d, w, source)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("ca.issue events for %v, want %v", seen, want)
	}
	if _, err := st.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}
