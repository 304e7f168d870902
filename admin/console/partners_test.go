package console

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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

// postFiles sends a multipart form (fields and files by field name) as the page would, with
// the last page's CSRF token; it follows the redirect and returns the final status.
func (b *browser) postFiles(p string, fields url.Values, files map[string][]upload) int {
	b.f.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if _, ok := fields["csrf"]; !ok {
		fields.Set("csrf", b.csrf())
	}
	for k, vs := range fields {
		for _, v := range vs {
			_ = w.WriteField(k, v)
		}
	}
	for k, us := range files {
		for _, u := range us {
			fw, _ := w.CreateFormFile(k, u.name)
			_, _ = fw.Write(u.data)
		}
	}
	w.Close()
	return b.send(p, w.FormDataContentType(), &body)
}

type upload struct {
	name string
	data []byte
}

// spocRoot is a self-signed X.509 CA certificate (PEM) and its SHA-256.
func spocRoot(t *testing.T) ([]byte, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "SPOC root IT"}, NotBefore: time.Now(),
		NotAfter: time.Now().AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), hex.EncodeToString(sum[:])
}

func TestPartnerRegistration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	root, rootSum := spocRoot(t)
	cvca := catest.CVCA(t, "ITCVCA00001", "brainpoolP256r1").Path[0]
	b := f.signedIn("rita", store.RoleRAOperator)
	if b.get("/console/partners"); !strings.Contains(b.last, `href="/console/partners/new"`) {
		t.Fatalf("no link to the registration: %s", b.last)
	}
	if code := b.get("/console/partners/new"); code != http.StatusOK || !strings.Contains(b.last, `enctype="multipart/form-data"`) {
		t.Fatalf("registration form: %d %s", code, b.last)
	}
	fields := func(cvcaSum string) url.Values {
		return url.Values{"country": {"it"}, "url": {"https://spoc.it.example/spoc"}, "spoc_root_sha256": {rootSum},
			"cvca_sha256": {cvcaSum}, "dg3": {"1"}}
	}
	files := map[string][]upload{"spoc_root": {{"root.pem", root}}, "cvca": {{"ITCVCA00001.cvcert", cvca.Raw}}}
	// A SHA-256 that is not the certificate's refuses the registration, the form kept.
	if code := b.postFiles("/console/partners/new", fields(strings.Repeat("00", 32)), files); code != http.StatusBadRequest ||
		!strings.Contains(b.last, "does not match the registration form") || !strings.Contains(b.last, "https://spoc.it.example/spoc") {
		t.Fatalf("wrong SHA-256: %d %s", code, b.last)
	}
	b.postFiles("/console/partners/new", fields(trust.CertificateSHA256(cvca)), files)
	if !strings.Contains(b.last, "waits for the approval of a second person") {
		t.Fatalf("registration: %s", b.last)
	}
	svc := &ops.Service{Store: f.st, Now: f.clock.Now}
	ps, err := svc.ListProposals(ctx, store.ProposalOpen)
	if err != nil || len(ps) != 1 || ps[0].Task != string(ops.ActionPartnerRegister) {
		t.Fatalf("proposals = %+v, %v", ps, err)
	}
	f.operator("rolf", store.RoleRAOperator)
	rolf, _ := f.st.OperatorByName(ctx, "rolf")
	if _, err := svc.Approve(ctx, ops.Actor{Channel: ops.ChannelConsole, Name: "rolf", Role: rolf.Role, OperatorID: rolf.ID, Person: "rolf"},
		ps[0].ID, ps[0].SHA256); err != nil {
		t.Fatal(err)
	}
	if p, err := f.st.PartnerByCountry(ctx, "IT"); err != nil || p.SPOCRootSHA256 != rootSum || p.Rights != "dg3" {
		t.Fatalf("IT = %+v, %v", p, err)
	}
	// Multipart forms are checked like the others.
	b.get("/console/partners/new")
	if code := b.postFiles("/console/partners/new", url.Values{"csrf": {""}}, files); code != http.StatusForbidden {
		t.Fatalf("forged registration: %d", code)
	}
	a := f.signedIn("aude", store.RoleAuditor)
	if code := a.get("/console/partners/new"); code != http.StatusForbidden {
		t.Fatalf("auditor's registration form: %d", code)
	}
}
