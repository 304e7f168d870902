package cvca

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/hsm/softhsmtest"
	"eacgate/internal/pgtest"
	"eacgate/store"
	"eacgate/trust"
)

var bp256 = hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP256r1"}

// events returns the audit log after seq, checking the chain.
func (f *fixture) events(t *testing.T, after int64) []store.AuditEvent {
	t.Helper()
	if _, err := f.st.VerifyAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	all, err := f.st.ListAudit(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(e store.AuditEvent) bool { return e.Seq <= after })
}

func details(t *testing.T, e store.AuditEvent) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
		t.Fatalf("event %s: details %q: %v", e.Action, e.Details, err)
	}
	return d
}

// refuse makes the database refuse inserts into table (a trigger), as a failing audit
// append or certificate insert; the returned function lifts it.
func (f *fixture) refuse(t *testing.T, table string) func() {
	t.Helper()
	db := f.st.DB()
	if err := db.Exec(`CREATE TRIGGER refuse_` + table + ` BEFORE INSERT ON ` + table + ` BEGIN SELECT RAISE(ABORT, 'refused'); END`).Error; err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := db.Exec(`DROP TRIGGER refuse_` + table).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// checkCertEvent checks a certificate event: action, target and the detail keys every CA
// signature's event has.
func checkCertEvent(t *testing.T, e store.AuditEvent, action string, cert *cvc.Certificate, by Ceremony) map[string]any {
	t.Helper()
	d := details(t, e)
	if e.Action != action || e.Target != cert.CHR || e.Outcome != "ok" || e.Actor != by.Actor ||
		d["chr"] != cert.CHR || d["car"] != cert.CAR || d["sha256"] != trust.CertificateSHA256(cert) || d["role"] != "cvca" ||
		d["effective"] != cert.EffectiveDate.String() || d["expiration"] != cert.ExpirationDate.String() {
		t.Fatalf("%s event of %s: %+v", action, cert.CHR, e)
	}
	if d["proposer"] != nz(by.Proposer) || d["proposal_id"] != nz(by.ProposalID) {
		t.Fatalf("%s event of %s: participants %s, want %+v", action, cert.CHR, e.Details, by)
	}
	return d
}

// nz is s as JSON decodes an omitted string: nil when empty.
func nz(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Init stores the CVCA certificate with exactly two events in one transaction: the key's
// key.generate and init.cvca, naming the participants; the demo CVCA is audited too.
func TestInitIsAuditedWithTheCertificate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a := f.authority()
	by := Ceremony{Actor: "operator:carol", Proposer: "alice", Witnesses: []string{"bob"}, ProposalID: "7"}
	for _, chr := range []string{"ZZCVCA00001", "U"} {
		if _, err := a.Init(ctx, by, chr, bp256, 3); err == nil {
			t.Fatalf("init of CVCA %q for UT", chr)
		}
	}
	cert, err := a.Init(ctx, by, "UTCVCA00001", bp256, 3)
	if err != nil {
		t.Fatal(err)
	}
	evs := f.events(t, 0)
	if len(evs) != 2 {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	k := details(t, evs[0])
	if evs[0].Action != EventKeyGenerate || evs[0].Target != "cvca" || k["label"] != "cvca" || k["keystore"] != "software" ||
		k["curve"] != "brainpoolP256r1" || k["chr"] != "UTCVCA00001" || k["proposer"] != "alice" {
		t.Fatalf("key event: %+v", evs[0])
	}
	d := checkCertEvent(t, evs[1], EventInitCVCA, cert, by)
	if d["car"] != "UTCVCA00001" || d["key_label"] != "cvca" || d["keystore"] != "software" || d["holder"] != "UTCVCA" ||
		!slices.Equal(d["witnesses"].([]any), []any{"bob"}) {
		t.Fatalf("init.cvca details: %s", evs[1].Details)
	}

	demo := newFixture(t)
	demo.demo(t)
	evs = demo.events(t, 0)
	if len(evs) != 2 || evs[1].Action != EventInitCVCA || evs[1].Target != "UTCVCA00001" || evs[1].Actor != DemoCeremony.Actor {
		t.Fatalf("demo CVCA events: %+v", evs)
	}
}

// A rollover stores the link certificate with key.generate and cvca.rollover (CAR: the
// previous key) in one transaction.
func TestRolloverIsAuditedWithTheLink(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a := f.demo(t)
	before := f.events(t, 0)
	by := Ceremony{Actor: "operator:carol", Proposer: "alice", Witnesses: []string{"bob", "dave"}, ProposalID: "8"}
	link, err := a.Rollover(ctx, by, "UTCVCA00002", hsm.KeySpec{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	evs := f.events(t, before[len(before)-1].Seq)
	if len(evs) != 2 || evs[0].Action != EventKeyGenerate || evs[0].Target != "cvca-UTCVCA00002" {
		t.Fatalf("rollover events: %+v", evs)
	}
	d := checkCertEvent(t, evs[1], EventRollover, link, by)
	if d["car"] != "UTCVCA00001" || d["key_label"] != "cvca-UTCVCA00002" {
		t.Fatalf("cvca.rollover details: %s", evs[1].Details)
	}
}

// An audit append that fails rolls the certificate back (init and rollover, with the
// partners' notifications); a certificate
// the store refuses leaves the key recorded as uncertified; the rollover run again uses the
// key made before and says so.
func TestFailedAuditRollsTheCertificateBack(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a := f.authority()
	lift := f.refuse(t, "audit_events")
	if _, err := a.Init(ctx, Ceremony{}, "UTCVCA00001", bp256, 3); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("init with the audit refused: %v", err)
	}
	if chain, err := f.st.CVCAChain(ctx, "UT"); err != nil || len(chain) != 0 {
		t.Fatalf("CVCA certificates stored without their events: %d (%v)", len(chain), err)
	}
	lift()

	f = newFixture(t)
	a = f.demo(t, Partner{Country: "ZZ", URL: "https://spoc.zz.example/spoc"})
	seq := int64(len(f.events(t, 0)))
	notices := func() int {
		items, err := f.st.ListOutbox(ctx, store.OutboxPending)
		if err != nil {
			t.Fatal(err)
		}
		return len(items)
	}
	lift = f.refuse(t, "audit_events")
	if _, err := a.Rollover(ctx, Ceremony{}, "UTCVCA00002", hsm.KeySpec{}, 3); err == nil {
		t.Fatal("rollover with the audit refused")
	}
	if chain, err := f.st.CVCAChain(ctx, "UT"); err != nil || len(chain) != 1 || notices() != 0 {
		t.Fatalf("link certificate stored without its events: %d (%v), %d notifications", len(chain), err, notices())
	}
	lift()

	lift = f.refuse(t, "certificates")
	if _, err := a.Rollover(ctx, Ceremony{}, "UTCVCA00002", hsm.KeySpec{}, 3); err == nil {
		t.Fatal("rollover with the certificate refused")
	}
	lift()
	evs := f.events(t, seq)
	if len(evs) != 1 || evs[0].Action != EventKeyGenerate || evs[0].Outcome != "uncertified" || details(t, evs[0])["reused"] != true ||
		!strings.Contains(evs[0].Details, "refused") {
		t.Fatalf("a key without its certificate: %+v", evs)
	}
	link, err := a.Rollover(ctx, Ceremony{}, "UTCVCA00002", hsm.KeySpec{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	evs = f.events(t, seq+1)
	if len(evs) != 2 || details(t, evs[0])["reused"] != true || evs[1].Action != EventRollover || evs[1].Target != link.CHR || notices() != 1 {
		t.Fatalf("rollover after failures: %+v", evs)
	}
}

// The ceremony record names the certificate, its chain for part III, its key and the
// participants from its audit event; part II comes from the SPOC root given.
func TestRecordOf(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a := f.demo(t)
	by := Ceremony{Actor: "operator:carol", Proposer: "alice", Witnesses: []string{"bob"}, ProposalID: "9"}
	link, err := a.Rollover(ctx, by, "UTCVCA00002", hsm.KeySpec{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	r, err := RecordOf(ctx, f.st, "UT", "")
	if err != nil {
		t.Fatal(err)
	}
	c := r.Certificate
	if c.CHR != link.CHR || c.CAR != "UTCVCA00001" || c.SHA256 != trust.CertificateSHA256(link) || !c.Link ||
		c.Curve != "brainpoolP256r1" || c.Algorithm != link.PublicKey.Algorithm.String() || c.KeyLabel != "cvca-UTCVCA00002" ||
		c.Effective != link.EffectiveDate.String() || c.Expiration != link.ExpirationDate.String() {
		t.Fatalf("record certificate: %+v", c)
	}
	if cer := r.Ceremony; !cer.Recorded || cer.Event != EventRollover || cer.Proposer != "alice" || !slices.Equal(cer.Witnesses, []string{"bob"}) ||
		cer.ProposalID != "9" || cer.Actor != "operator:carol" {
		t.Fatalf("record ceremony: %+v", cer)
	}
	if len(r.Form.PartIII) != 2 || r.Form.PartIII[0].CHR != "UTCVCA00001" || r.Form.PartIII[1].SHA256 != c.SHA256 || r.Form.PartII != nil {
		t.Fatalf("form: %+v", r.Form)
	}
	first, err := RecordOf(ctx, f.st, "", "UTCVCA00001")
	if err != nil || first.Certificate.Link || first.Ceremony.Actor != DemoCeremony.Actor || len(first.Form.PartIII) != 1 {
		t.Fatalf("record of the first certificate: %+v (%v)", first, err)
	}
	if _, err := RecordOf(ctx, f.st, "", "U"); err == nil {
		t.Fatal("record of a CHR that is none")
	}
	if _, err := RecordOf(ctx, f.st, "", "UTCVCA00009"); err == nil {
		t.Fatal("record of a certificate that does not exist")
	}
	if err := r.AddSPOCRoot([]byte("not PEM"), ""); err == nil {
		t.Fatal("a SPOC root that is not PEM")
	}
}

// A CVCA key made in a PKCS#11 token is recorded as an HSM key, in the key's event and the
// ceremony record.
func TestInitInTheHSMIsRecordedAsSuch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tok := softhsmtest.NewToken(t, "cvca")
	ks, err := hsm.OpenPKCS11(ctx, hsm.PKCS11Config{ModulePath: tok.Module, TokenLabel: tok.Label,
		PIN: hsm.Secret{Value: []byte(tok.PIN)}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	a := f.authority()
	a.Keys = ks
	if _, err := a.Init(ctx, Ceremony{}, "UTCVCA00001", bp256, 3); err != nil {
		t.Fatal(err)
	}
	if evs := f.events(t, 0); len(evs) != 2 || details(t, evs[0])["keystore"] != "hsm" || details(t, evs[1])["keystore"] != "hsm" {
		t.Fatalf("events: %+v", evs)
	}
	if r, err := RecordOf(ctx, f.st, "UT", ""); err != nil || r.Certificate.Keystore != "hsm" {
		t.Fatalf("record: %+v (%v)", r, err)
	}
}

// A rollover whose partner notification cannot be queued stores no link certificate: the
// notifications are part of its transaction.
func TestRolloverWithoutNotificationsStoresNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a := f.demo(t, Partner{Country: "ZZ", URL: "https://spoc.zz.example/spoc"})
	lift := f.refuse(t, "outbox")
	if _, err := a.Rollover(ctx, Ceremony{}, "UTCVCA00002", hsm.KeySpec{}, 3); err == nil {
		t.Fatal("rollover with the outbox refused")
	}
	lift()
	if chain, err := f.st.CVCAChain(ctx, "UT"); err != nil || len(chain) != 1 {
		t.Fatalf("link certificate stored without its notifications: %d (%v)", len(chain), err)
	}
}

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// On PostgreSQL too, the key and certificate events chain in the certificate's transaction
// (appends under the advisory lock, nested), and a refused append rolls the link back.
func TestAuditedOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	pgtest.AdminDSN(t)
	f := newFixture(t)
	st, err := store.Open(ctx, pgtest.DSN(t), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	a := f.demo(t)
	link, err := a.Rollover(ctx, Ceremony{Actor: "operator:carol"}, "UTCVCA00002", hsm.KeySpec{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	evs := f.events(t, 0)
	if len(evs) != 4 || evs[2].Action != EventKeyGenerate || evs[3].Action != EventRollover || evs[3].Target != link.CHR {
		t.Fatalf("events: %+v", evs)
	}
	for _, q := range []string{
		`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$`,
		`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()`,
	} {
		if err := st.DB().Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Rollover(ctx, Ceremony{}, "UTCVCA00003", hsm.KeySpec{}, 3); err == nil {
		t.Fatal("rollover with the audit refused")
	}
	if chain, err := st.CVCAChain(ctx, "UT"); err != nil || len(chain) != 2 {
		t.Fatalf("link certificate stored without its events: %d (%v)", len(chain), err)
	}
}
