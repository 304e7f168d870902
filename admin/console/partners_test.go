package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"eacgate/internal/catest"
	"eacgate/ops"
	"eacgate/store"
	"eacgate/trust"
)

// pathf is fmt.Sprintf for paths.
func pathf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// seedPartner registers partner FR (stored directly: the registration itself is ops'),
// with a CVCA root, a DV on its list, a SPOC holder and a message from it.
func (f *fixture) seedPartner() (cvcaSHA256 string) {
	f.t.Helper()
	ctx := context.Background()
	if err := f.st.CreatePartner(ctx, &store.Partner{Country: "FR", URL: "https://spoc.fr.example/spoc", SPOCRoot: []byte("-----BEGIN CERTIFICATE-----"),
		SPOCRootSHA256: strings.Repeat("ab", 32)}); err != nil {
		f.t.Fatal(err)
	}
	root := catest.CVCA(f.t, "FRCVCA00001", "brainpoolP256r1").Path[0]
	if _, err := trust.New(f.st).AddCVCACertificate(ctx, root, true); err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.AddPartnerDV(ctx, &store.Holder{Country: "FR", Mnemonic: "DVFR1", Role: store.RoleDVForeign, Status: store.HolderActive}, "FRCVCA00001"); err != nil {
		f.t.Fatal(err)
	}
	sp := &store.Holder{Country: "FR", Mnemonic: "SPOC", Role: store.RoleSPOC, Status: store.HolderActive}
	if err := f.st.CreateHolder(ctx, sp); err != nil {
		f.t.Fatal(err)
	}
	m := &store.Message{Originator: "FRSPOC", MessageID: "gm-1", Operation: "GeneralMessage", HolderID: &sp.ID, State: store.MessageAnswered,
		Request: []byte(`{"subject":"Reactivation of SPOC service","body":"The service of our SPOC is reactivated."}`)}
	if err := f.st.AcceptMessage(ctx, m, nil); err != nil {
		f.t.Fatal(err)
	}
	return trust.CertificateSHA256(root)
}

func TestPartnersPages(t *testing.T) {
	f := newFixture(t)
	fp := f.seedPartner()
	b := f.signedIn("aude", store.RoleAuditor)
	if code := b.get("/console/partners"); code != http.StatusOK {
		t.Fatalf("partners: %d", code)
	}
	for _, want := range []string{"<title>Partners", `href="/console/partners/FR"`, "https://spoc.fr.example/spoc", strings.Repeat("ab", 32), "FRCVCA00001", fp} {
		if !strings.Contains(b.last, want) {
			t.Fatalf("partners page lacks %q: %s", want, b.last)
		}
	}
	if strings.Count(b.last, " UTC") < 2 { // the footer's time and FR's last contact
		t.Fatalf("no last contact: %s", b.last)
	}
	if code := b.get("/console/partners/fr"); code != http.StatusOK {
		t.Fatalf("partner FR: %d", code)
	}
	for _, want := range []string{"<title>Partner FR", "DVFR1", "FRCVCA00001", fp, "Reactivation of SPOC service", "received"} {
		if !strings.Contains(b.last, want) {
			t.Fatalf("partner page lacks %q: %s", want, b.last)
		}
	}
	if strings.Contains(b.last, ">Suspend</button>") || strings.Contains(b.last, "Propose DV") {
		t.Fatalf("the auditor sees write buttons: %s", b.last)
	}
	if code := b.get("/console/partners/IT"); code != http.StatusNotFound {
		t.Fatalf("unknown partner: %d", code)
	}
	if code := b.get("/console/partners/1X"); code != http.StatusBadRequest {
		t.Fatalf("bad country: %d", code)
	}
}

func TestPartnerSuspendAndReinstate(t *testing.T) {
	f := newFixture(t)
	f.seedPartner()
	ctx := context.Background()
	b := f.signedIn("rita", store.RoleRAOperator)
	b.get("/console/partners/FR")
	if !strings.Contains(b.last, ">Suspend</button>") {
		t.Fatalf("no Suspend button: %s", b.last)
	}
	if code := b.post("/console/partners/FR/suspend", url.Values{"csrf": {""}, "reason": {"x"}}); code != http.StatusForbidden {
		t.Fatalf("forged suspend: %d", code)
	}
	b.get("/console/partners/FR")
	if code := b.post("/console/partners/FR/suspend", url.Values{"reason": {"certificate mis-issued"}}); code != http.StatusOK ||
		!strings.Contains(b.last, "Partner FR suspended") {
		t.Fatalf("suspend: %d %s", code, b.last)
	}
	if p, _ := f.st.PartnerByCountry(ctx, "FR"); p.Status != store.PartnerSuspended {
		t.Fatalf("FR = %s", p.Status)
	}
	if !f.audited("console.partner.suspend", "partner:FR") {
		t.Fatal("suspension not audited")
	}
	// Reinstating is a proposal: FR stays suspended until a second RA operator approves.
	if !strings.Contains(b.last, "Propose reinstatement") {
		t.Fatalf("no reinstatement form: %s", b.last)
	}
	b.post("/console/partners/FR/reinstate", url.Values{"reason": {"fixed"}})
	if !strings.Contains(b.last, "waits for the approval of a second person") {
		t.Fatalf("reinstate: %s", b.last)
	}
	if p, _ := f.st.PartnerByCountry(ctx, "FR"); p.Status != store.PartnerSuspended {
		t.Fatalf("FR reinstated by one person: %s", p.Status)
	}
	svc := &ops.Service{Store: f.st, Now: f.clock.Now}
	ps, err := svc.ListProposals(ctx, store.ProposalOpen)
	if err != nil || len(ps) != 1 || ps[0].Task != string(ops.ActionPartnerReinstate) || ps[0].ProposerName != "rita" {
		t.Fatalf("proposals = %+v, %v", ps, err)
	}
	f.operator("rolf", store.RoleRAOperator)
	rolf, _ := f.st.OperatorByName(ctx, "rolf")
	a := ops.Actor{Channel: ops.ChannelConsole, Name: "rolf", Role: rolf.Role, OperatorID: rolf.ID, Person: "rolf"}
	if _, err := svc.Approve(ctx, a, ps[0].ID, ps[0].SHA256); err != nil {
		t.Fatal(err)
	}
	if p, _ := f.st.PartnerByCountry(ctx, "FR"); p.Status != store.PartnerActive {
		t.Fatalf("FR after approval = %s", p.Status)
	}
	// A DV for its list is a proposal too.
	b.get("/console/partners/FR")
	b.post("/console/partners/FR/dvs", url.Values{"mnemonic": {"DVFR2"}, "maintaining_cvca": {"frcvca00001"}})
	if !strings.Contains(b.last, "waits for the approval") {
		t.Fatalf("add DV: %s", b.last)
	}
	if ps, _ := svc.ListProposals(ctx, store.ProposalOpen); len(ps) != 1 || !strings.Contains(ps[0].Description, "DVFR2") ||
		!strings.Contains(ps[0].Description, "FRCVCA00001") {
		t.Fatalf("DV proposal = %+v", ps)
	}
}
