package callback

import (
	"context"
	"encoding/json"
	"testing"

	"eacgate/ra"
	"eacgate/store"
)

// A queued request and a held one approved by an operator: each certificate signed when
// the worker decides it is audited (ca.issue) with its holder, messageID, the SHA-256 of
// the stored certificate and, for the approved one, the approver; the chain verifies.
func TestAsyncIssuanceAudited(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn func() string) {
		f := newFixture(t, dsn(), 0)
		ctx := context.Background()
		held := &store.Holder{Country: "UT", Mnemonic: "DVB", Role: store.RoleDVDomestic, Status: store.HolderActive}
		if err := f.st.CreateHolder(ctx, held); err != nil {
			t.Fatal(err)
		}
		f.enqueue(t, "m-async", false)
		f.enqueueFor(t, held, "m-approve", true)
		pending, err := f.st.PendingApprovals(ctx)
		if err != nil || len(pending) != 1 {
			t.Fatalf("pending %d %v", len(pending), err)
		}
		if err := f.st.ApproveMessage(ctx, pending[0].ID, "ra-op"); err != nil {
			t.Fatal(err)
		}
		runUntil(t, f.worker(fastConfig()), func() bool { return f.done() == 2 })

		evs, err := f.st.ListAudit(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]store.IssueDetails{}
		for _, e := range evs {
			if e.Action != store.ActionIssue {
				continue
			}
			var d store.IssueDetails
			if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
				t.Fatal(err)
			}
			if e.Actor != "ca:UTCVCA00001" || e.Target != d.CHR {
				t.Errorf("event %+v", e)
			}
			got[d.MessageID] = d
		}
		if len(got) != 2 {
			t.Fatalf("ca.issue events %+v, want one per request", got)
		}
		for _, w := range []struct {
			h          *store.Holder
			messageID  string
			approvedBy string
		}{{f.dv, "m-async", ""}, {held, "m-approve", "ra-op"}} {
			chr := w.h.Country + w.h.Mnemonic + "00001"
			rows, err := f.st.CertificatesByCHR(ctx, chr)
			if err != nil || len(rows) != 1 {
				t.Fatalf("%s: %d certificates, %v", chr, len(rows), err)
			}
			want := store.IssueDetails{CHR: chr, CAR: "UTCVCA00001", Role: store.RoleDVDomestic, Requester: w.h.Country + w.h.Mnemonic,
				Caller: ra.Originator(w.h.ID), SHA256: store.CertificateSHA256(rows[0].Raw), MessageID: w.messageID, ApprovedBy: w.approvedBy}
			if got[w.messageID] != want {
				t.Errorf("%s: %+v, want %+v", w.messageID, got[w.messageID], want)
			}
		}
		if _, err := f.st.VerifyAudit(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
