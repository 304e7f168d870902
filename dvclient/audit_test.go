package dvclient

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/hsm"
	"eacgate/store"
	"eacgate/trust"
)

// eventsAfter returns the audit events after seq, checking the chain.
func (f *fixture) eventsAfter(t *testing.T, seq int64) []store.AuditEvent {
	t.Helper()
	if _, err := f.st.VerifyAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	all, err := f.st.ListAudit(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(e store.AuditEvent) bool { return e.Seq <= seq })
}

func (f *fixture) lastSeq(t *testing.T) int64 {
	t.Helper()
	evs := f.eventsAfter(t, 0)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// refuseAudit makes the database refuse to append events of action (all: ""); the
// returned function lifts it.
func (f *fixture) refuseAudit(t *testing.T, action string) func() {
	t.Helper()
	when := ""
	if action != "" {
		when = "WHEN NEW.action = '" + action + "' "
	}
	if err := f.st.DB().Exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events ` + when + `BEGIN SELECT RAISE(ABORT, 'audit refused'); END`).Error; err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := f.st.DB().Exec(`DROP TRIGGER refuse_audit`).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// checkSigned checks the event recording cert as a CA signature (ca.issue or
// certificate.received) for the DV UTDVDEMO-like requester.
func checkSigned(t *testing.T, e store.AuditEvent, action string, cert *cvc.Certificate, requester string) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
		t.Fatal(err)
	}
	if e.Action != action || e.Target != cert.CHR || d["chr"] != cert.CHR || d["car"] != cert.CAR || d["requester"] != requester ||
		d["role"] != "dv_domestic" || d["sha256"] != trust.CertificateSHA256(cert) || d["message_id"] == nil {
		t.Fatalf("%s event of %s: %+v", action, cert.CHR, e)
	}
	return d
}

// The CVCA in process signs the DV's renewal: the certificate is stored with ca.issue (our
// CVCA's signature) and dv.renew in one transaction; a refused audit leaves no certificate.
func TestInProcessRenewalIsACASignature(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	seq := f.lastSeq(t)
	lift := f.refuseAudit(t, cvca.EventIssue)
	if _, err := f.c.Renew(ctx, due, time.Now()); err == nil || !strings.Contains(err.Error(), "audit refused") {
		t.Fatalf("renewal with the audit refused: %v", err)
	}
	if row, err := f.st.LatestCertificateOfRole(ctx, f.holder(t).ID, store.RoleDVDomestic); err != nil || row.CHR != "UTDVDEMO00001" {
		t.Fatalf("a certificate stored without its events: %+v (%v)", row, err)
	}
	lift()
	cert, err := f.c.Renew(ctx, due, time.Now())
	if err != nil || cert == nil {
		t.Fatalf("renewed %v (%v)", cert, err)
	}
	// The key made by the refused attempt is used again, and audited when made (its
	// certificate could come days later).
	evs := f.eventsAfter(t, seq)
	if len(evs) != 4 || evs[0].Action != cvca.EventKeyGenerate || evs[0].Target != "dv-"+cert.CHR || strings.Contains(evs[0].Details, "reused") ||
		evs[1].Action != cvca.EventKeyGenerate || !strings.Contains(evs[1].Details, `"reused":true`) || evs[3].Action != "dv.renew" {
		t.Fatalf("renewal events: %+v", evs)
	}
	d := checkSigned(t, evs[2], cvca.EventIssue, cert, "UTDVDEMO")
	if d["previous"] != "UTDVDEMO00001" || !strings.HasPrefix(d["message_id"].(string), "renew-"+cert.CHR) {
		t.Fatalf("ca.issue details: %s", evs[2].Details)
	}
}

// init dv with the gateway's own CVCA: holder, certificate and the events key.generate,
// ca.issue and init.dv in one transaction; a refused audit leaves neither holder nor
// certificate.
func TestInitLocalIsAudited(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	refused := f.client("b")
	refused.Mnemonic, refused.KeyLabel = "DVLOST", "dvlost"
	lift := f.refuseAudit(t, "")
	if _, err := refused.InitLocal(ctx, f.cvca, cvca.Ceremony{}, "UTDVLOST00001", hsm.KeySpec{}); err == nil {
		t.Fatal("init dv with the audit refused")
	}
	if _, err := f.st.HolderByName(ctx, "UT", "DVLOST"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("holder of a refused init dv: %v", err)
	}
	if certs, err := f.st.CertificatesByCHR(ctx, "UTDVLOST00001"); err != nil || len(certs) != 0 {
		t.Fatalf("certificate of a refused init dv: %d (%v)", len(certs), err)
	}
	lift()

	seq := f.lastSeq(t)
	c := f.client("c")
	c.Mnemonic, c.KeyLabel = "DVNEW", "dvnew"
	by := cvca.Ceremony{Actor: "operator:carol", Proposer: "alice", Witnesses: []string{"bob"}, ProposalID: "3"}
	cert, err := c.InitLocal(ctx, f.cvca, by, "UTDVNEW00001", hsm.KeySpec{})
	if err != nil {
		t.Fatal(err)
	}
	evs := f.eventsAfter(t, seq)
	if len(evs) != 3 || evs[0].Action != cvca.EventKeyGenerate || evs[0].Target != "dvnew" || evs[2].Action != cvca.EventInitDV {
		t.Fatalf("init dv events: %+v", evs)
	}
	checkSigned(t, evs[1], cvca.EventIssue, cert, "UTDVNEW")
	var d map[string]any
	if err := json.Unmarshal([]byte(evs[2].Details), &d); err != nil {
		t.Fatal(err)
	}
	if d["chr"] != cert.CHR || d["car"] != "UTCVCA00001" || d["holder"] != "UTDVNEW" || d["key_label"] != "dvnew" ||
		d["keystore"] != "software" || d["proposer"] != "alice" || d["proposal_id"] != "3" || d["sha256"] != trust.CertificateSHA256(cert) {
		t.Fatalf("init.dv details: %s", evs[2].Details)
	}
	if certs, err := f.st.CertificatesByCHR(ctx, "UTDVNEW00001"); err != nil || len(certs) != 1 {
		t.Fatalf("stored certificate: %d (%v)", len(certs), err)
	}
}
