package ra

import (
	"context"
	"encoding/json"
	"testing"

	"eacgate/authority"
	"eacgate/store"
)

// issueEvents returns the ca.issue events of st with their details, oldest first.
func issueEvents(t *testing.T, st *store.Store) ([]store.AuditEvent, []store.IssueDetails) {
	t.Helper()
	evs, err := st.ListAudit(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out []store.AuditEvent
		ds  []store.IssueDetails
	)
	for _, e := range evs {
		if e.Action != store.ActionIssue {
			continue
		}
		var d store.IssueDetails
		if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
			t.Fatal(err)
		}
		out, ds = append(out, e), append(ds, d)
	}
	if _, err := st.VerifyAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out, ds
}

// A certificate issued on the synchronous path is audited with its CHR, issuer, holder,
// caller and address, the SHA-256 of what was handed out and the messageID; a refused or
// dropped one (its CHR was stored first by a racing request) is not.
func TestSyncIssuanceAudited(t *testing.T) {
	f := newUniqueFixture(t)
	k := dvKey(t)
	a := f.request(t, "DVX", "UTDVX00001", k, nil, "")
	if a.ReturnCode != authority.OKCertAvailable {
		t.Fatalf("initial: %s", a.ReturnCode)
	}
	if a := f.request(t, "DVY", "UTDVY00001", k, nil, ""); a.ReturnCode != authority.FailureRequestNotAccepted {
		t.Fatalf("a certified key again: %s", a.ReturnCode)
	}
	f.svc.Registry = staleRegistry{f.svc.Registry.(*StoreRegistry)}
	if a := f.request(t, "DVX", "UTDVX00001", dvKey(t), nil, ""); a.ReturnCode != authority.FailureRequestNotAccepted {
		t.Fatalf("racing CHR: %s", a.ReturnCode)
	}
	h, err := f.st.HolderByName(context.Background(), "UT", "DVX")
	if err != nil {
		t.Fatal(err)
	}
	evs, ds := issueEvents(t, f.st)
	if len(evs) != 1 {
		t.Fatalf("%d ca.issue events, want 1: %+v", len(evs), ds)
	}
	want := store.IssueDetails{CHR: "UTDVX00001", CAR: "UTCVCA00001", Role: store.RoleDVDomestic, Requester: "UTDVX",
		Caller: Originator(h.ID), SHA256: store.CertificateSHA256(a.Certificates[0]), MessageID: "m-UTDVX00001-b"}
	if ds[0] != want {
		t.Errorf("details %+v, want %+v", ds[0], want)
	}
	if e := evs[0]; e.Actor != "ca:UTCVCA00001" || e.Target != "UTDVX00001" || e.Source != "127.0.0.1:1" {
		t.Errorf("event %+v", e)
	}
}
