package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"eacgate/store"
)

// propose registers DV mnemonic as a's proposal and returns its number.
func propose(t *testing.T, a *browser, mnemonic string) string {
	t.Helper()
	a.get("/console/holders/new")
	a.post("/console/holders", url.Values{"country": {"UT"}, "mnemonic": {mnemonic}, "role": {"dv_domestic"}})
	return proposalID(t, a.last)
}

func TestProposalsListAndDecisions(t *testing.T) {
	f := newFixture(t)
	a := f.person("olga", store.RoleRAOperator)
	b := f.person("paul", store.RoleRAOperator)
	first, second, third := propose(t, a, "DV1"), propose(t, a, "DV2"), propose(t, a, "DV3")

	// The list shows the open ones by default, newest first.
	if code := b.get("/console/proposals"); code != http.StatusOK || rows(b.last, "/console/proposals/") != 3 ||
		strings.Index(b.last, "Register UTDV3") > strings.Index(b.last, "Register UTDV1") || !strings.Contains(b.last, "<title>Proposals · ") {
		t.Fatalf("open proposals: %d %d", code, rows(b.last, "/console/proposals/"))
	}
	if !strings.Contains(b.last, `<label for="f-state"`) {
		t.Error("state filter not labelled")
	}

	// A changed hash is refused: the approver agrees to what the page showed.
	b.get("/console/proposals/" + first)
	if !strings.Contains(b.last, "<title>Proposal #"+first+" · ") || !strings.Contains(b.last, ">Approve</button>") {
		t.Fatalf("proposal page: %s", b.last)
	}
	if b.post("/console/proposals/"+first+"/approve", url.Values{"sha256": {strings.Repeat("0", 64)}}); !strings.Contains(b.last, "re-read the proposal") {
		t.Fatalf("hash mismatch: %s", b.last)
	}
	// Only the proposer withdraws; a second person rejects, with a reason.
	if b.post("/console/proposals/"+first+"/withdraw", nil); !strings.Contains(b.last, "only the proposer") {
		t.Fatalf("withdraw by another: %s", b.last)
	}
	if b.post("/console/proposals/"+first+"/reject", url.Values{"reason": {""}}); !strings.Contains(b.last, "A reason is required") {
		t.Fatalf("reject without reason: %s", b.last)
	}
	if b.post("/console/proposals/"+first+"/reject", url.Values{"reason": {"wrong mnemonic"}}); !strings.Contains(b.last, "Proposal #"+first+" rejected.") ||
		!strings.Contains(b.last, `<span class="status rejected">rejected</span>`) || !strings.Contains(b.last, "wrong mnemonic") {
		t.Fatalf("reject: %s", b.last)
	}
	a.get("/console/proposals/" + second)
	if a.post("/console/proposals/"+second+"/withdraw", nil); !strings.Contains(a.last, "withdrawn") {
		t.Fatalf("withdraw: %s", a.last)
	}
	if b.get("/console/proposals"); rows(b.last, "/console/proposals/") != 1 {
		t.Fatalf("open after decisions: %d", rows(b.last, "/console/proposals/"))
	}
	if b.get("/console/proposals?state=all"); rows(b.last, "/console/proposals/") != 3 {
		t.Fatalf("all: %d", rows(b.last, "/console/proposals/"))
	}
	if b.get("/console/proposals?state=rejected"); rows(b.last, "/console/proposals/") != 1 || !strings.Contains(b.last, "Register UTDV1") {
		t.Fatalf("rejected: %d", rows(b.last, "/console/proposals/"))
	}
	if code := b.get("/console/proposals?state=maybe"); code != http.StatusBadRequest {
		t.Fatalf("unknown state: %d", code)
	}

	// A role the task does not allow is refused (a CA operator decides key tasks, not holders).
	ca := f.person("carl", store.RoleCAOperator)
	ca.get("/console/proposals/" + third)
	if strings.Contains(ca.last, ">Approve</button>") || !strings.Contains(ca.last, "Your role may not approve") {
		t.Fatal("a CA operator is offered Approve")
	}
	p, _ := f.st.ProposalByID(context.Background(), mustID(t, third))
	if ca.post("/console/proposals/"+third+"/approve", url.Values{"sha256": {p.SHA256}}); !strings.Contains(ca.last, "this role may not take part") {
		t.Fatalf("CA operator approved: %s", ca.last)
	}
	// The auditor sees no decision and a forged one is refused.
	au := f.person("ann", store.RoleAuditor)
	au.get("/console/proposals/" + third)
	if strings.Contains(au.last, ">Approve</button>") || strings.Contains(au.last, "/reject\"") {
		t.Fatal("the auditor is offered a decision")
	}
	if code := au.post("/console/proposals/"+third+"/approve", url.Values{"sha256": {p.SHA256}}); code != http.StatusForbidden {
		t.Fatalf("forged approval: %d", code)
	}
	// Past its expiry a proposal is shown expired and cannot be approved.
	f.clock.Advance(25 * time.Hour)
	b = f.person("pia", store.RoleRAOperator) // the sessions ended too (signing in shows the dashboard, which closes expired proposals)
	if b.get("/console/proposals?state=all"); !strings.Contains(b.last, `<span class="status expired">expired</span>`) {
		t.Fatal("an expired proposal is listed as open")
	}
	if b.post("/console/proposals/"+third+"/approve", url.Values{"sha256": {p.SHA256}}); !strings.Contains(b.last, "the proposal has expired") {
		t.Fatalf("expired approval: %s", b.last)
	}
	if _, err := f.st.HolderByName(context.Background(), "UT", "DV3"); err == nil {
		t.Fatal("an expired proposal ran")
	}
	if got, _ := f.st.ProposalByID(context.Background(), mustID(t, third)); got.State != store.ProposalExpired {
		t.Fatalf("state %s", got.State)
	}
}
