package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"eacgate/internal/pgtest"

	"gorm.io/gorm"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// opener returns DSNs for fresh databases of one dialect.
type opener func(t testing.TB) string

func sqliteDSNFor(t testing.TB) string { return filepath.Join(t.TempDir(), "eacgate.db") }

func open(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// suite is run against both dialects.
var suite = []struct {
	name string
	fn   func(t *testing.T, s *Store, dsn string)
}{
	{"MigrationsIdempotent", testMigrationsIdempotent},
	{"DuplicateMessage", testDuplicateMessage},
	{"AcceptAtomic", testAcceptAtomic},
	{"AnswerAtomic", testAnswerAtomic},
	{"Holders", testHolders},
	{"Certificates", testCertificates},
	{"RevokedFinal", testRevokedFinal},
	{"Outbox", testOutbox},
	{"Prune", testPrune},
	{"OutboxConcurrent", testOutboxConcurrent},
	{"OutboxLeaseHolder", testOutboxLeaseHolder},
	{"TakeBackLeases", testTakeBackLeases},
	{"Audit", testAudit},
	{"AuditTamper", testAuditTamper},
	{"AuditConcurrent", testAuditConcurrent},
	{"AuditKeyed", testAuditKeyed},
	{"Stats", testStats},
}

func runSuite(t *testing.T, dsn opener) {
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) {
			d := dsn(t)
			tc.fn(t, open(t, d), d)
		})
	}
}

func TestSQLite(t *testing.T) { runSuite(t, sqliteDSNFor) }

func TestPostgres(t *testing.T) {
	pgtest.AdminDSN(t) // skip (or fail in CI) once, not per sub-test
	runSuite(t, func(t testing.TB) string { return pgtest.DSN(t) })
}

func TestSQLitePragmas(t *testing.T) {
	s := open(t, sqliteDSNFor(t))
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000"} {
		var got string
		if err := s.DB().Raw("PRAGMA " + pragma).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

func TestIsPostgresDSN(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://u@h/db": true, "postgresql://h/db": true, "host=/tmp dbname=x": true,
		"/var/lib/eacgate/eacgate.db": false, "eacgate.db": false,
	} {
		if IsPostgresDSN(dsn) != want {
			t.Errorf("IsPostgresDSN(%q) != %v", dsn, want)
		}
	}
}

func ctx() context.Context { return context.Background() }

func testMigrationsIdempotent(t *testing.T, s *Store, dsn string) {
	v, err := s.SchemaVersion(ctx())
	if err != nil || v != migrations[len(migrations)-1].version {
		t.Fatalf("SchemaVersion = %d, %v", v, err)
	}
	// Open twice more, concurrently: no error, nothing re-applied.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			s2, err := Open(ctx(), dsn, nil)
			if err == nil {
				err = s2.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
	}
	var n int64
	if err := s.DB().Raw("SELECT COUNT(*) FROM schema_migrations").Scan(&n).Error; err != nil || n != int64(len(migrations)) {
		t.Fatalf("schema_migrations rows = %d, %v", n, err)
	}
}

func testDuplicateMessage(t *testing.T, s *Store, _ string) {
	m1 := &Message{Originator: "DEDV1", MessageID: "m-1", Operation: "RequestCertificate", Request: []byte("req")}
	if err := s.AcceptMessage(ctx(), m1, nil); err != nil {
		t.Fatal(err)
	}
	m2 := &Message{Originator: "DEDV1", MessageID: "m-1", Operation: "RequestCertificate"}
	err := s.AcceptMessage(ctx(), m2, &OutboxItem{TargetURL: "https://x/cb", Payload: []byte("p")})
	if !errors.Is(err, ErrDuplicateMessage) {
		t.Fatalf("duplicate accepted: %v", err)
	}
	// An outbox row the database refuses (its message reference is dangling) takes its
	// message with it, and the caller's values get no IDs of rows that do not exist.
	m3 := &Message{Originator: "DEDV1", MessageID: "m-3", Operation: "RequestCertificate"}
	missing := int64(1 << 40)
	bad := &OutboxItem{TargetURL: "https://x/cb", MessageRowID: &missing}
	if err := s.AcceptMessage(ctx(), m3, bad); err == nil {
		t.Fatal("an outbox item referring to no message was stored")
	}
	if m3.ID != 0 || bad.ID != 0 {
		t.Fatalf("after the failed write: message %d, outbox %d", m3.ID, bad.ID)
	}
	if _, err := s.MessageByOriginator(ctx(), "DEDV1", "m-3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the message of the failed write: %v", err)
	}
	// Another originator may use the same messageID; empty messageIDs never collide.
	for _, m := range []*Message{
		{Originator: "FRDV1", MessageID: "m-1", Operation: "op"},
		{Originator: "DEDV1", Operation: "op"}, {Originator: "DEDV1", Operation: "op"},
	} {
		if err := s.AcceptMessage(ctx(), m, nil); err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
	}
	// The database itself refuses the duplicate, not only this package's code.
	err = s.DB().Exec("INSERT INTO messages (originator, message_id, operation, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
		"DEDV1", "m-1", "op", "received", now(), now()).Error
	if err == nil || !isDuplicateMessage(err) {
		t.Fatalf("raw duplicate insert: %v", err)
	}
	got, err := s.MessageByOriginator(ctx(), "DEDV1", "m-1")
	if err != nil || got.ID != m1.ID || string(got.Request) != "req" {
		t.Fatalf("MessageByOriginator = %+v, %v", got, err)
	}
	if _, err := s.MessageByOriginator(ctx(), "DEDV1", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown message: %v", err)
	}
	if err := s.UpdateMessage(ctx(), m1.ID, MessageAnswered, "ok_cert_available", []byte("res")); err != nil {
		t.Fatal(err)
	}
	got, _ = s.MessageByID(ctx(), m1.ID)
	if got.State != MessageAnswered || got.ReturnCode != "ok_cert_available" || string(got.Result) != "res" {
		t.Fatalf("after update: %+v", got)
	}
	if err := s.UpdateMessage(ctx(), 99999, MessageAnswered, "", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
}

func countRows(t *testing.T, s *Store, table string) int64 {
	t.Helper()
	var n int64
	if err := s.DB().Raw("SELECT COUNT(*) FROM " + table).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func testAcceptAtomic(t *testing.T, s *Store, _ string) {
	bad := int64(987654)
	m := &Message{Originator: "DEDV1", MessageID: "atomic", Operation: "op"}
	// The outbox row references a message row that does not exist: the foreign key fails
	// and the message row must be rolled back with it.
	err := s.AcceptMessage(ctx(), m, &OutboxItem{MessageRowID: &bad, TargetURL: "https://x/cb"})
	if err == nil || !errors.Is(err, ErrConflict) {
		t.Fatalf("accept with bad outbox: %v", err)
	}
	// A CHECK violation (empty target URL) likewise.
	err = s.AcceptMessage(ctx(), &Message{Originator: "DEDV1", MessageID: "atomic", Operation: "op"}, &OutboxItem{})
	if err == nil {
		t.Fatal("accept with empty target URL succeeded")
	}
	if n := countRows(t, s, "messages"); n != 0 {
		t.Fatalf("%d message rows after failed accepts", n)
	}
	if n := countRows(t, s, "outbox"); n != 0 {
		t.Fatalf("%d outbox rows after failed accepts", n)
	}
	// And the good case writes both, linked.
	out := &OutboxItem{TargetURL: "https://x/cb", Payload: []byte("p")}
	if err := s.AcceptMessage(ctx(), m, out); err != nil {
		t.Fatal(err)
	}
	if out.MessageRowID == nil || *out.MessageRowID != m.ID || out.ID == 0 {
		t.Fatalf("outbox not linked: %+v", out)
	}
}

// An answer and the certificate it hands out are written together or not at all.
func testAnswerAtomic(t *testing.T, s *Store, _ string) {
	m := &Message{Originator: "DEDV1", MessageID: "answer", Operation: "RequestCertificate", State: MessageProcessing}
	if err := s.AcceptMessage(ctx(), m, nil); err != nil {
		t.Fatal(err)
	}
	ghost := int64(424242) // no such holder: the foreign key fails
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	cert := &Certificate{HolderID: &ghost, CHR: "DEIS0000100001", CAR: "DEDV000001", Role: RoleTerminal, NotBefore: day, NotAfter: day, Raw: []byte{1}}
	if err := s.AnswerMessage(ctx(), m.ID, "ok_cert_available", []byte{1}, cert); err == nil {
		t.Fatal("answer with a dangling certificate succeeded")
	}
	got, err := s.MessageByID(ctx(), m.ID)
	if err != nil || got.State != MessageProcessing || got.ReturnCode != "" || cert.ID != 0 {
		t.Fatalf("after the failed answer: %+v %v", got, err)
	}
	if n := countRows(t, s, "certificates"); n != 0 {
		t.Fatalf("%d certificate rows after the failed answer", n)
	}
	h := &Holder{Country: "DE", Mnemonic: "IS00001", Role: RoleTerminal, Status: HolderActive}
	if err := s.CreateHolder(ctx(), h); err != nil {
		t.Fatal(err)
	}
	cert.HolderID = &h.ID
	if err := s.AnswerMessage(ctx(), m.ID, "ok_cert_available", []byte{1}, cert); err != nil {
		t.Fatal(err)
	}
	got, _ = s.MessageByID(ctx(), m.ID)
	if got.State != MessageAnswered || cert.ID == 0 {
		t.Fatalf("answer not stored: %+v", got)
	}
	if err := s.AnswerMessage(ctx(), 999999, "ok_cert_available", nil, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown message: %v", err)
	}

	// The worker's form: the answer and the outbox item's payload in one transaction; an
	// item that is no longer pending takes the answer back with it.
	m2 := &Message{Originator: "DEDV1", MessageID: "answer-2", Operation: "RequestCertificate", State: MessageProcessing}
	item := &OutboxItem{Kind: OutboxProcess, TargetURL: "https://x/cb"}
	if err := s.AcceptMessage(ctx(), m2, item); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimOutbox(ctx(), "w", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx(), item.ID, "w"); err != nil {
		t.Fatal(err)
	}
	if err := s.AnswerMessageToDeliver(ctx(), m2.ID, "failure_syntax", nil, item.ID, []byte("payload")); !errors.Is(err, ErrConflict) {
		t.Fatalf("answer for an item that is done: %v", err)
	}
	if got, _ := s.MessageByID(ctx(), m2.ID); got.State != MessageProcessing {
		t.Fatalf("answer stored without its payload: %+v", got)
	}
	m3 := &Message{Originator: "DEDV1", MessageID: "answer-3", Operation: "RequestCertificate", State: MessageProcessing}
	item3 := &OutboxItem{Kind: OutboxProcess, TargetURL: "https://x/cb"}
	if err := s.AcceptMessage(ctx(), m3, item3); err != nil {
		t.Fatal(err)
	}
	if err := s.AnswerMessageToDeliver(ctx(), m3.ID, "failure_syntax", nil, item3.ID, []byte("payload")); err != nil {
		t.Fatal(err)
	}
	got3, _ := s.MessageByID(ctx(), m3.ID)
	o3, _ := s.OutboxByID(ctx(), item3.ID)
	if got3.State != MessageAnswered || got3.ReturnCode != "failure_syntax" || string(o3.Payload) != "payload" {
		t.Fatalf("answer %+v, payload %q", got3, o3.Payload)
	}
}

func testHolders(t *testing.T, s *Store, _ string) {
	dv := &Holder{Country: "DE", Mnemonic: "DV01", Role: RoleDVDomestic, TLSFingerprint: "AB12", IPRanges: "10.0.0.0/8, 192.0.2.7"}
	if err := s.CreateHolder(ctx(), dv); err != nil {
		t.Fatal(err)
	}
	if dv.ID == 0 || dv.Status != HolderActive || dv.IPRanges != "10.0.0.0/8,192.0.2.7/32" {
		t.Fatalf("created %+v", dv)
	}
	if !dv.AllowsIP(netip.MustParseAddr("10.1.2.3")) || dv.AllowsIP(netip.MustParseAddr("192.0.2.8")) {
		t.Fatal("AllowsIP")
	}
	if err := s.CreateHolder(ctx(), &Holder{Country: "DE", Mnemonic: "X", Role: RoleTerminal, IPRanges: "300.1.1.1"}); err == nil {
		t.Fatal("bad IP range accepted")
	}
	if err := s.CreateHolder(ctx(), &Holder{Country: "DE", Mnemonic: "DV01", Role: RoleDVDomestic}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	if err := s.CreateHolder(ctx(), &Holder{Country: "DE", Mnemonic: "DV02", Role: RoleDVDomestic, TLSFingerprint: "ab12"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate fingerprint: %v", err)
	}
	// Empty fingerprints do not collide; CHECK on role is in the database.
	for _, h := range []*Holder{
		{Country: "FR", Mnemonic: "DV01", Role: RoleDVForeign},
		{Country: "FR", Mnemonic: "SPOC", Role: RoleSPOC, Status: HolderSuspended},
	} {
		if err := s.CreateHolder(ctx(), h); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DB().Exec("UPDATE holders SET role = 'boss' WHERE id = ?", dv.ID).Error; err == nil {
		t.Fatal("CHECK on role not enforced")
	}
	if h, err := s.HolderByName(ctx(), "DE", "DV01"); err != nil || h.ID != dv.ID {
		t.Fatalf("HolderByName: %+v %v", h, err)
	}
	if h, err := s.HolderByFingerprint(ctx(), "AB12"); err != nil || h.ID != dv.ID {
		t.Fatalf("HolderByFingerprint: %+v %v", h, err)
	}
	if _, err := s.HolderByFingerprint(ctx(), ""); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := s.HolderByID(ctx(), 424242); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	hs, err := s.ListHolders(ctx(), HolderFilter{Country: "FR"})
	if err != nil || len(hs) != 2 || hs[0].Mnemonic != "DV01" {
		t.Fatalf("ListHolders FR: %+v %v", hs, err)
	}
	hs, _ = s.ListHolders(ctx(), HolderFilter{Status: HolderSuspended})
	if len(hs) != 1 || hs[0].Role != RoleSPOC {
		t.Fatalf("ListHolders suspended: %+v", hs)
	}
	hs, _ = s.ListHolders(ctx(), HolderFilter{Role: RoleDVDomestic})
	if len(hs) != 1 || !hs[0].CreatedAt.Equal(dv.CreatedAt) {
		t.Fatalf("ListHolders dv_domestic: %+v vs %v", hs, dv.CreatedAt)
	}
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func testCertificates(t *testing.T, s *Store, _ string) {
	dv := &Holder{Country: "DE", Mnemonic: "DV01", Role: RoleDVDomestic}
	if err := s.CreateHolder(ctx(), dv); err != nil {
		t.Fatal(err)
	}
	// CVCA generations: root 1 (self-signed), link 1->2, root 2 (self-signed), link 2->3.
	cv1 := &Certificate{CHR: "DECVCA00001", CAR: "DECVCA00001", Role: RoleCVCA, NotBefore: day(2020, 1, 1), NotAfter: day(2023, 1, 1), Raw: []byte{1}}
	if err := s.AddCertificate(ctx(), cv1); err != nil {
		t.Fatal(err)
	}
	link := &Certificate{CHR: "DECVCA00002", CAR: "DECVCA00001", IssuerID: &cv1.ID, Role: RoleCVCA, NotBefore: day(2022, 6, 1), NotAfter: day(2025, 6, 1), Raw: []byte{2}}
	self2 := &Certificate{CHR: "DECVCA00002", CAR: "DECVCA00002", Role: RoleCVCA, NotBefore: day(2022, 6, 1), NotAfter: day(2025, 6, 1), Raw: []byte{3}}
	link3 := &Certificate{CHR: "DECVCA00003", CAR: "DECVCA00002", Role: RoleCVCA, NotBefore: day(2025, 1, 1), NotAfter: day(2028, 1, 1), Raw: []byte{4}}
	fr := &Certificate{CHR: "FRCVCA00001", CAR: "FRCVCA00001", Role: RoleCVCA, NotBefore: day(2021, 1, 1), NotAfter: day(2024, 1, 1), Raw: []byte{5}}
	for _, c := range []*Certificate{link, self2, link3, fr} {
		if err := s.AddCertificate(ctx(), c); err != nil {
			t.Fatal(err)
		}
	}
	link3.IssuerID = &self2.ID
	if err := s.DB().Model(link3).Update("issuer_id", self2.ID).Error; err != nil {
		t.Fatal(err)
	}
	chain, err := s.CVCAChain(ctx(), "DE")
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, c := range chain {
		got = append(got, c.ID)
	}
	if want := []int64{cv1.ID, link.ID, self2.ID, link3.ID}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("CVCAChain = %v, want %v", got, want)
	}
	if *chain[1].IssuerID != cv1.ID || !chain[0].NotBefore.Equal(day(2020, 1, 1)) {
		t.Fatalf("chain[1] = %+v", chain[1])
	}
	// DV certificates of one holder: the current one is the valid one expiring last.
	dvs := []*Certificate{
		{HolderID: &dv.ID, IssuerID: &self2.ID, CHR: "DEDV0100001", CAR: "DECVCA00002", Role: RoleDVDomestic, NotBefore: day(2024, 1, 1), NotAfter: day(2024, 4, 1), Raw: []byte{6}},
		{HolderID: &dv.ID, IssuerID: &self2.ID, CHR: "DEDV0100002", CAR: "DECVCA00002", Role: RoleDVDomestic, NotBefore: day(2024, 3, 1), NotAfter: day(2024, 6, 1), Raw: []byte{7}},
		{HolderID: &dv.ID, IssuerID: &self2.ID, CHR: "DEDV0100003", CAR: "DECVCA00002", Role: RoleDVDomestic, NotBefore: day(2024, 3, 1), NotAfter: day(2024, 9, 1), Raw: []byte{8}, Status: CertSuspended},
	}
	for _, c := range dvs {
		if err := s.AddCertificate(ctx(), c); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := s.CurrentCertificate(ctx(), dv.ID, day(2024, 3, 15))
	if err != nil || cur.ID != dvs[1].ID {
		t.Fatalf("CurrentCertificate = %+v, %v", cur, err)
	}
	cur, err = s.CurrentCertificate(ctx(), dv.ID, day(2024, 2, 1).Add(12*time.Hour))
	if err != nil || cur.ID != dvs[0].ID {
		t.Fatalf("CurrentCertificate Feb = %+v, %v", cur, err)
	}
	if _, err := s.CurrentCertificate(ctx(), dv.ID, day(2024, 7, 1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CurrentCertificate July: %v", err)
	}
	byCAR, err := s.CertificatesByCAR(ctx(), "DECVCA00002")
	if err != nil || len(byCAR) != 5 {
		t.Fatalf("CertificatesByCAR = %d, %v", len(byCAR), err)
	}
	byCHR, err := s.CertificatesByCHR(ctx(), "DECVCA00002")
	if err != nil || len(byCHR) != 2 || string(byCHR[0].Raw) != "\x02" {
		t.Fatalf("CertificatesByCHR = %+v, %v", byCHR, err)
	}
	exp, err := s.ExpiringBefore(ctx(), day(2024, 5, 1))
	if err != nil {
		t.Fatal(err)
	}
	var chrs []string
	for _, c := range exp {
		chrs = append(chrs, c.CHR)
	}
	if fmt.Sprint(chrs) != "[DECVCA00001 FRCVCA00001 DEDV0100001]" {
		t.Fatalf("ExpiringBefore = %v", chrs)
	}
	if err := s.AddCertificate(ctx(), &Certificate{CHR: "X", CAR: "Y", Role: RoleTerminal, NotBefore: day(2024, 1, 2), NotAfter: day(2024, 1, 1), Raw: []byte{0}}); err == nil {
		t.Fatal("not_before > not_after accepted")
	}
	missing := int64(5555)
	if err := s.AddCertificate(ctx(), &Certificate{HolderID: &missing, CHR: "X", CAR: "Y", Role: RoleTerminal, NotBefore: day(2024, 1, 1), NotAfter: day(2024, 1, 2), Raw: []byte{0}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("unknown holder accepted: %v", err)
	}
}

func testRevokedFinal(t *testing.T, s *Store, _ string) {
	h := &Holder{Country: "DE", Mnemonic: "T1", Role: RoleTerminal}
	if err := s.CreateHolder(ctx(), h); err != nil {
		t.Fatal(err)
	}
	for _, st := range []HolderStatus{HolderSuspended, HolderActive, HolderRevoked, HolderRevoked} {
		if err := s.SetHolderStatus(ctx(), h.ID, st); err != nil {
			t.Fatalf("-> %s: %v", st, err)
		}
	}
	for _, st := range []HolderStatus{HolderActive, HolderSuspended} {
		if err := s.SetHolderStatus(ctx(), h.ID, st); !errors.Is(err, ErrRevokedFinal) {
			t.Fatalf("revoked -> %s: %v", st, err)
		}
	}
	if err := s.SetHolderStatus(ctx(), 8888, HolderActive); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	got, _ := s.HolderByID(ctx(), h.ID)
	if got.Status != HolderRevoked {
		t.Fatalf("status %s", got.Status)
	}
	c := &Certificate{HolderID: &h.ID, CHR: "DET1", CAR: "DEDV", Role: RoleTerminal, NotBefore: day(2024, 1, 1), NotAfter: day(2024, 2, 1), Raw: []byte{1}}
	if err := s.AddCertificate(ctx(), c); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCertificateStatus(ctx(), c.ID, CertSuspended); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCertificateStatus(ctx(), c.ID, CertRevoked); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCertificateStatus(ctx(), c.ID, CertValid); !errors.Is(err, ErrRevokedFinal) {
		t.Fatalf("cert revoked -> valid: %v", err)
	}
}

func testOutbox(t *testing.T, s *Store, _ string) {
	t0 := time.Now().UTC().Truncate(time.Second)
	a := &OutboxItem{TargetURL: "https://a/cb", Payload: []byte("a"), NextAttemptAt: t0.Add(-2 * time.Minute)}
	b := &OutboxItem{TargetURL: "https://b/cb", Payload: []byte("b"), NextAttemptAt: t0.Add(-time.Minute)}
	later := &OutboxItem{TargetURL: "https://c/cb", Payload: []byte("c"), NextAttemptAt: t0.Add(time.Hour)}
	for _, o := range []*OutboxItem{b, a, later} {
		if err := s.EnqueueOutbox(ctx(), o); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ClaimOutbox(ctx(), "w1", t0, time.Minute)
	if err != nil || got.ID != a.ID || got.LockedBy != "w1" || !got.LockedUntil.Equal(t0.Add(time.Minute)) {
		t.Fatalf("first claim = %+v, %v", got, err)
	}
	got2, err := s.ClaimOutbox(ctx(), "w2", t0, time.Minute)
	if err != nil || got2.ID != b.ID {
		t.Fatalf("second claim = %+v, %v", got2, err)
	}
	if _, err := s.ClaimOutbox(ctx(), "w3", t0, time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("third claim: %v", err)
	}
	// The holder of a lease renews it; another worker cannot.
	if err := s.ExtendOutboxLease(ctx(), b.ID, "w1", t0.Add(time.Hour)); !errors.Is(err, ErrConflict) {
		t.Fatalf("extend another's lease: %v", err)
	}
	if err := s.ExtendOutboxLease(ctx(), b.ID, "w2", t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// An expired lease makes the item claimable again.
	got3, err := s.ClaimOutbox(ctx(), "w3", t0.Add(2*time.Minute), time.Minute)
	if err != nil || got3.ID != a.ID || got3.LockedBy != "w3" {
		t.Fatalf("claim after lease expiry = %+v, %v", got3, err)
	}
	if _, err := s.ClaimOutbox(ctx(), "w4", t0.Add(2*time.Minute), time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("claim under a renewed lease: %v", err)
	}
	if err := s.MarkDelivered(ctx(), a.ID, "w3"); err != nil {
		t.Fatal(err)
	}
	// b fails twice with maxAttempts 2: pending, then dead.
	if err := s.MarkFailed(ctx(), b.ID, "w2", "connection refused", t0.Add(30*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	ob, _ := s.OutboxByID(ctx(), b.ID)
	if ob.State != OutboxPending || ob.Attempts != 1 || ob.LastError != "connection refused" || ob.LockedUntil != nil || !ob.NextAttemptAt.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("after first failure: %+v", ob)
	}
	if _, err := s.ClaimOutbox(ctx(), "w1", t0.Add(10*time.Second), time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("claim before next attempt: %v", err)
	}
	if _, err := s.ClaimOutbox(ctx(), "w1", t0.Add(31*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx(), b.ID, "w1", "HTTP 500", t0.Add(time.Minute), 2); err != nil {
		t.Fatal(err)
	}
	dead, _ := s.ListOutbox(ctx(), OutboxDead)
	if len(dead) != 1 || dead[0].ID != b.ID || dead[0].Attempts != 2 {
		t.Fatalf("dead = %+v", dead)
	}
	if err := s.MarkDelivered(ctx(), b.ID, "w1"); !errors.Is(err, ErrConflict) {
		t.Fatalf("deliver dead: %v", err)
	}
	if err := s.RetryDead(ctx(), a.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("retry done: %v", err)
	}
	if err := s.RetryDead(ctx(), 777); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retry unknown: %v", err)
	}
	if err := s.RetryDead(ctx(), b.ID); err != nil {
		t.Fatal(err)
	}
	pend, _ := s.ListOutbox(ctx(), OutboxPending)
	if len(pend) != 2 || pend[0].ID != b.ID || pend[0].Attempts != 0 {
		t.Fatalf("pending = %+v", pend)
	}
	all, _ := s.ListOutbox(ctx(), "")
	if len(all) != 3 {
		t.Fatalf("all = %d", len(all))
	}
}

// testOutboxConcurrent: two workers, each with its own Store (its own connections), claim
// 200 items concurrently; every item is claimed exactly once.
func testOutboxConcurrent(t *testing.T, s *Store, dsn string) {
	const items = 200
	past := time.Now().Add(-time.Hour)
	for i := range items {
		if err := s.EnqueueOutbox(ctx(), &OutboxItem{TargetURL: fmt.Sprintf("https://x/%d", i), Payload: []byte{byte(i)}, NextAttemptAt: past}); err != nil {
			t.Fatal(err)
		}
	}
	stores := []*Store{open(t, dsn), open(t, dsn)}
	claimed := make([][]int64, len(stores))
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w, ws := range stores {
		wg.Go(func() {
			<-start
			for range items + 1 {
				it, err := ws.ClaimOutbox(ctx(), fmt.Sprintf("worker-%d", w), time.Now(), time.Hour)
				if errors.Is(err, ErrNotFound) {
					return
				}
				if err != nil {
					errs[w] = err
					return
				}
				claimed[w] = append(claimed[w], it.ID)
			}
		})
	}
	close(start)
	wg.Wait()
	seen := map[int64]int{}
	for w := range stores {
		if errs[w] != nil {
			t.Fatalf("worker %d: %v", w, errs[w])
		}
		for _, id := range claimed[w] {
			seen[id]++
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("item %d claimed %d times", id, n)
		}
	}
	if len(seen) != items {
		t.Fatalf("%d distinct items claimed, want %d", len(seen), items)
	}
	t.Logf("%s: worker 0 claimed %d, worker 1 claimed %d", s.Dialect(), len(claimed[0]), len(claimed[1]))
}

func testAudit(t *testing.T, s *Store, _ string) {
	if n, err := s.VerifyAudit(ctx()); n != 0 || err != nil {
		t.Fatalf("empty log: %d %v", n, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	e1, err := s.AppendAudit(ctx(), AuditEvent{At: at, Actor: "admin", Action: "holder.revoke", Target: "DEDV01", Source: "127.0.0.1", Outcome: "ok", Details: `{"reason":"test"}`})
	if err != nil {
		t.Fatal(err)
	}
	if e1.Seq != 1 || e1.PrevHash != GenesisHash || len(e1.Hash) != 64 || !e1.At.Equal(at.Truncate(time.Microsecond)) || e1.At.Location() != time.UTC {
		t.Fatalf("e1 = %+v", e1)
	}
	if _, err := s.AppendAudit(ctx(), AuditEvent{Action: "x", Details: "{not json"}); err == nil {
		t.Fatal("invalid JSON details accepted")
	}
	for i := range 9 {
		e, err := s.AppendAudit(ctx(), AuditEvent{Actor: "gw", Action: "message.accept", Target: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != int64(i+2) {
			t.Fatalf("seq %d", e.Seq)
		}
	}
	n, err := s.VerifyAudit(ctx())
	if n != 10 || err != nil {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
	list, err := s.ListAudit(ctx(), 3)
	if err != nil || len(list) != 3 || list[0].Seq != 8 || list[2].Seq != 10 || list[2].PrevHash != list[1].Hash {
		t.Fatalf("ListAudit = %+v, %v", list, err)
	}
	all, _ := s.ListAudit(ctx(), 0)
	if len(all) != 10 || all[0].Hash != e1.Hash || all[0].ComputeHash() != e1.Hash {
		t.Fatalf("ListAudit all: %d", len(all))
	}
}

func testAuditTamper(t *testing.T, s *Store, _ string) {
	for i := range 5 {
		if _, err := s.AppendAudit(ctx(), AuditEvent{Actor: "gw", Action: "a", Target: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// The database refuses updates and deletes.
	if err := s.DB().Exec("UPDATE audit_events SET outcome = 'forged' WHERE seq = 3").Error; err == nil {
		t.Fatal("UPDATE on audit_events allowed")
	}
	if err := s.DB().Exec("DELETE FROM audit_events WHERE seq = 5").Error; err == nil {
		t.Fatal("DELETE on audit_events allowed")
	}
	// Someone with the power to bypass the trigger tampers anyway; the chain catches it.
	tamperAudit(t, s, "UPDATE audit_events SET outcome = 'forged' WHERE seq = 3")
	n, err := s.VerifyAudit(ctx())
	if !errors.Is(err, ErrAuditBroken) || n != 2 {
		t.Fatalf("VerifyAudit after tamper = %d, %v", n, err)
	}
	if want := "seq 3: hash mismatch"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %q", err, want)
	}
	// Recomputing the row's hash breaks the link to the next one.
	var e AuditEvent
	s.DB().Where("seq = 3").Take(&e)
	tamperAudit(t, s, fmt.Sprintf("UPDATE audit_events SET hash = '%s' WHERE seq = 3", e.ComputeHash()))
	if _, err := s.VerifyAudit(ctx()); err == nil || !strings.Contains(err.Error(), "seq 4: prev_hash") {
		t.Fatalf("after rehash: %v", err)
	}
	// A deleted row is a gap.
	tamperAudit(t, s, "DELETE FROM audit_events WHERE seq IN (3, 4)")
	if _, err := s.VerifyAudit(ctx()); err == nil || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("after delete: %v", err)
	}
}

// tamperAudit runs stmt against audit_events the way an attacker with administrative access
// would: on SQLite by dropping the append-only triggers, on PostgreSQL as a superuser with
// triggers disabled for the session (session_replication_role = replica).
func tamperAudit(t *testing.T, s *Store, stmt string) {
	t.Helper()
	err := s.DB().Transaction(func(tx *gorm.DB) error {
		if s.Dialect() == DialectPostgres {
			if err := tx.Exec("SET LOCAL session_replication_role = replica").Error; err != nil {
				return err
			}
		} else {
			for _, trg := range []string{"audit_events_no_update", "audit_events_no_delete"} {
				if err := tx.Exec("DROP TRIGGER IF EXISTS " + trg).Error; err != nil {
					return err
				}
			}
		}
		return tx.Exec(stmt).Error
	})
	if err != nil {
		t.Fatalf("tamper %q: %v", stmt, err)
	}
}

// testAuditConcurrent: two Stores append 50 events each at the same time; the chain is one
// unbroken line of 100.
func testAuditConcurrent(t *testing.T, s *Store, dsn string) {
	stores := []*Store{open(t, dsn), open(t, dsn)}
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for w, ws := range stores {
		wg.Go(func() {
			for i := range 50 {
				if _, err := ws.AppendAudit(ctx(), AuditEvent{Actor: fmt.Sprint("w", w), Action: "a", Target: fmt.Sprint(i)}); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.VerifyAudit(ctx()); n != 100 || err != nil {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
}

func testStats(t *testing.T, s *Store, _ string) {
	for _, h := range []*Holder{
		{Country: "DE", Mnemonic: "A", Role: RoleDVDomestic},
		{Country: "DE", Mnemonic: "B", Role: RoleDVDomestic, Status: HolderSuspended},
		{Country: "DE", Mnemonic: "C", Role: RoleDVDomestic},
		{Country: "FR", Mnemonic: "S", Role: RoleSPOC},
	} {
		if err := s.CreateHolder(ctx(), h); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddCertificate(ctx(), &Certificate{CHR: "DECVCA1", CAR: "DECVCA1", Role: RoleCVCA, NotBefore: day(2024, 1, 1), NotAfter: day(2027, 1, 1), Raw: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AcceptMessage(ctx(), &Message{Originator: "o", MessageID: "1", Operation: "op"}, &OutboxItem{TargetURL: "https://x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAudit(ctx(), AuditEvent{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx())
	if err != nil {
		t.Fatal(err)
	}
	if st.Holders[RoleDVDomestic][HolderActive] != 2 || st.Holders[RoleDVDomestic][HolderSuspended] != 1 ||
		st.Holders[RoleSPOC][HolderActive] != 1 || st.Certificates[RoleCVCA][CertValid] != 1 ||
		st.Messages[MessageReceived] != 1 || st.Outbox[OutboxPending] != 1 || st.AuditEvents != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}
