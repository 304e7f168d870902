package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func init() {
	suite = append(suite, []struct {
		name string
		fn   func(t *testing.T, s *Store, dsn string)
	}{
		{"IssueAuditPaths", testIssueAuditPaths},
		{"IssueAuditAtomic", testIssueAuditAtomic},
		{"IssueAuditConcurrent", testIssueAuditConcurrent},
	}...)
}

// issueEvents returns the ca.issue events by the SHA-256 they name, failing on a
// certificate named twice.
func issueEvents(t *testing.T, s *Store) map[string]IssueDetails {
	t.Helper()
	evs, err := s.ListAudit(ctx(), 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]IssueDetails{}
	for _, e := range evs {
		if e.Action != ActionIssue {
			continue
		}
		var d IssueDetails
		if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
			t.Fatalf("event %d: details %q: %v", e.Seq, e.Details, err)
		}
		if e.Actor != "ca:"+d.CAR || e.Target != d.CHR || e.Outcome != "ok" {
			t.Errorf("event %d: actor %q target %q outcome %q, details %+v", e.Seq, e.Actor, e.Target, e.Outcome, d)
		}
		if _, dup := out[d.SHA256]; dup {
			t.Errorf("certificate %s has two ca.issue events", d.CHR)
		}
		out[d.SHA256] = d
	}
	return out
}

// verifyChain fails unless the audit chain verifies.
func verifyChain(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.VerifyAudit(ctx()); err != nil {
		t.Fatal(err)
	}
}

// issuedCert is a terminal certificate row of holderID, marked as signed here when by is
// not nil.
func issuedCert(holderID int64, chr string, by *Issuance) *Certificate {
	hid := holderID
	return &Certificate{HolderID: &hid, CHR: chr, CAR: "DEDV0100001", Role: RoleTerminal, NotBefore: day(2026, 1, 1),
		NotAfter: day(2026, 4, 1), Raw: []byte("der of " + chr), Issued: by}
}

// testIssueAuditPaths: every store path that inserts certificates writes the ca.issue
// event of each one marked Issued, with its details, and none for the others.
func testIssueAuditPaths(t *testing.T, s *Store, _ string) {
	h := &Holder{Country: "DE", Mnemonic: "DV01", Role: RoleDVDomestic}
	if err := s.CreateHolder(ctx(), h); err != nil {
		t.Fatal(err)
	}
	by := func(msgID string) *Issuance {
		return &Issuance{Requester: "DETERM1", Caller: "holder:7", Source: "192.0.2.7:4431", MessageID: msgID}
	}
	var want []*Certificate
	mark := func(cs ...*Certificate) []*Certificate {
		for _, c := range cs {
			if c.Issued != nil {
				want = append(want, c)
			}
		}
		return cs
	}
	// AcceptAnswered: one certificate (PostgreSQL's single statement otherwise), two, a
	// foreign one.
	for i, certs := range [][]*Certificate{
		mark(issuedCert(h.ID, "DETERMA00001", by("sync-1"))),
		mark(issuedCert(h.ID, "DETERMA00002", by("sync-2")), issuedCert(h.ID, "DETERMA00003", by("sync-2"))),
		mark(issuedCert(h.ID, "DETERMA00004", nil)),
	} {
		m := &Message{Originator: "holder:7", MessageID: fmt.Sprintf("sync-%d", i+1), Operation: "RequestCertificate"}
		if err := s.AcceptAnswered(ctx(), m, certs...); err != nil {
			t.Fatal(err)
		}
	}
	// AnswerMessage and AnswerMessageToDeliver (the queued and approved requests).
	for i, deliver := range []bool{false, true} {
		m := &Message{Originator: "holder:7", MessageID: fmt.Sprintf("async-%d", i), Operation: "RequestCertificate"}
		o := &OutboxItem{Kind: OutboxProcess, TargetURL: "https://dv.example/cb"}
		if err := s.AcceptMessage(ctx(), m, o); err != nil {
			t.Fatal(err)
		}
		by := by(m.MessageID)
		by.ApprovedBy = "ra-operator"
		c := mark(issuedCert(h.ID, fmt.Sprintf("DETERMB0000%d", i), by))[0]
		var err error
		if deliver {
			err = s.AnswerMessageToDeliver(ctx(), m.ID, "ok_cert_available", c.Raw, o.ID, []byte("payload"), c)
		} else {
			err = s.AnswerMessage(ctx(), m.ID, "ok_cert_available", c.Raw, c, mark(issuedCert(h.ID, "DETERMB00009", nil))[0])
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// RelayAnswer and AddCertificate.
	in := &Message{Originator: "holder:7", MessageID: "relay-in", Operation: "RequestForeignCertificate"}
	out := &Message{Originator: "self", MessageID: "relay-out", Operation: "RequestCertificate", Direction: Outgoing}
	for _, m := range []*Message{in, out} {
		if err := s.AcceptMessage(ctx(), m, nil); err != nil {
			t.Fatal(err)
		}
	}
	relayed := mark(issuedCert(h.ID, "DETERMC00001", by("relay")), issuedCert(h.ID, "DETERMC00002", nil))
	if err := s.RelayAnswer(ctx(), out.ID, "ok_cert_available", in.ID, "ok_cert_available", nil, relayed, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range mark(issuedCert(h.ID, "DETERMD00001", by("add")), issuedCert(h.ID, "DETERMD00002", nil)) {
		if err := s.AddCertificate(ctx(), c); err != nil {
			t.Fatal(err)
		}
	}

	got := issueEvents(t, s)
	if len(got) != len(want) {
		t.Errorf("%d ca.issue events, want %d", len(got), len(want))
	}
	for _, c := range want {
		d, ok := got[CertificateSHA256(c.Raw)]
		if !ok {
			t.Errorf("certificate %s: no ca.issue event", c.CHR)
			continue
		}
		w := IssueDetails{CHR: c.CHR, CAR: c.CAR, Role: c.Role, Requester: c.Issued.Requester, Caller: c.Issued.Caller,
			SHA256: CertificateSHA256(c.Raw), MessageID: c.Issued.MessageID, ApprovedBy: c.Issued.ApprovedBy}
		if d != w {
			t.Errorf("certificate %s: details %+v, want %+v", c.CHR, d, w)
		}
	}
	evs, err := s.ListAudit(ctx(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Action == ActionIssue && e.Source != "192.0.2.7:4431" {
			t.Errorf("event %d: source %q", e.Seq, e.Source)
		}
	}
	verifyChain(t, s)
}

// testIssueAuditAtomic: a certificate that is not stored (a repeated CHR, a repeated
// messageID, a message answered before) leaves no event, also inside a group commit whose
// other requests are stored with theirs.
func testIssueAuditAtomic(t *testing.T, s *Store, _ string) {
	h := &Holder{Country: "DE", Mnemonic: "DV01", Role: RoleDVDomestic}
	if err := s.CreateHolder(ctx(), h); err != nil {
		t.Fatal(err)
	}
	by := &Issuance{Requester: "DETERM1", Caller: "holder:1", MessageID: "x"}
	first := issuedCert(h.ID, "DETERMA00001", by)
	if err := s.AcceptAnswered(ctx(), &Message{Originator: "o", MessageID: "1", Operation: "RequestCertificate"}, first); err != nil {
		t.Fatal(err)
	}
	again := issuedCert(h.ID, "DETERMA00001", by)
	again.Raw = []byte("another der")
	if err := s.AcceptAnswered(ctx(), &Message{Originator: "o", MessageID: "2", Operation: "RequestCertificate"}, again); !errors.Is(err, ErrDuplicateCertificate) {
		t.Fatalf("repeated CHR: %v", err)
	}
	if err := s.AcceptAnswered(ctx(), &Message{Originator: "o", MessageID: "1", Operation: "RequestCertificate"}, issuedCert(h.ID, "DETERMA00002", by)); !errors.Is(err, ErrDuplicateMessage) {
		t.Fatalf("repeated messageID: %v", err)
	}
	m := &Message{Originator: "o", MessageID: "3", Operation: "RequestCertificate"}
	if err := s.AcceptMessage(ctx(), m, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AnswerMessage(ctx(), m.ID, "ok", nil, issuedCert(h.ID, "DETERMA00003", by)); err != nil {
		t.Fatal(err)
	}
	if err := s.AnswerMessage(ctx(), m.ID, "ok", nil, issuedCert(h.ID, "DETERMA00004", by)); !errors.Is(err, ErrConflict) {
		t.Fatalf("answered twice: %v", err)
	}
	if err := s.AddCertificate(ctx(), issuedCert(h.ID, "DETERMA00003", by)); !errors.Is(err, ErrDuplicateCertificate) {
		t.Fatalf("AddCertificate of a repeated CHR: %v", err)
	}
	got := issueEvents(t, s)
	if len(got) != 2 {
		t.Errorf("%d ca.issue events, want 2 (DETERMA00001, DETERMA00003): %v", len(got), got)
	}
	for _, raw := range []string{"another der", "der of DETERMA00002", "der of DETERMA00004"} {
		if _, ok := got[CertificateSHA256([]byte(raw))]; ok {
			t.Errorf("an event for a certificate not stored (%s)", raw)
		}
	}
	verifyChain(t, s)
}

// testIssueAuditConcurrent: concurrent requests (group commits on SQLite, the advisory
// lock on PostgreSQL), some of them refused, interleaved with other audit appends: one
// event per stored certificate, none for the others, and the chain verifies.
func testIssueAuditConcurrent(t *testing.T, s *Store, _ string) {
	h := &Holder{Country: "DE", Mnemonic: "DV01", Role: RoleDVDomestic}
	if err := s.CreateHolder(ctx(), h); err != nil {
		t.Fatal(err)
	}
	const n = 120
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		stored []*Certificate
	)
	for i := range n {
		wg.Go(func() {
			by := &Issuance{Requester: "DETERM1", Caller: "holder:1", MessageID: fmt.Sprint(i)}
			// Every fifth request repeats the messageID of the one before: one of each
			// pair is refused.
			mid := fmt.Sprint(i - i%5/4)
			c := issuedCert(h.ID, fmt.Sprintf("DETERM%06d", i), by)
			err := s.AcceptAnswered(ctx(), &Message{Originator: "o", MessageID: mid, Operation: "RequestCertificate"}, c)
			switch {
			case err == nil:
				mu.Lock()
				stored = append(stored, c)
				mu.Unlock()
			case !errors.Is(err, ErrDuplicateMessage):
				t.Error(err)
			}
			if i%10 == 0 {
				if _, err := s.AppendAudit(ctx(), AuditEvent{Actor: "test", Action: "other"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got := issueEvents(t, s)
	if len(got) != len(stored) {
		t.Errorf("%d ca.issue events for %d certificates stored", len(got), len(stored))
	}
	for _, c := range stored {
		if _, ok := got[CertificateSHA256(c.Raw)]; !ok {
			t.Errorf("certificate %s stored without its event", c.CHR)
		}
	}
	var rows int64
	if err := s.db.Model(&Certificate{}).Count(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if rows != int64(len(stored)) {
		t.Errorf("%d certificate rows, %d reported stored", rows, len(stored))
	}
	verifyChain(t, s)
}

// TestCertificateInsertPaths lists where the store inserts rows (gorm's Create, the
// per-request statements): certificates only through createCertificateTx (gorm) and
// insertAccepted (the per-request path, whose caller appends the events), or
// insertAnsweredAtOnce for rows not marked Issued. A new insert fails here until it is
// listed: one of certificates must go through those, so that it cannot forget the
// ca.issue event.
func TestCertificateInsertPaths(t *testing.T) {
	// Enclosing function -> what its Create call inserts.
	creates := map[string]string{
		"createCertificateTx": "certificates (with the ca.issue event)",
		"CreateOperator":      "operators", "CreateAPIClient": "api clients", "RelayAnswer": "the outbox item",
		"appendAuditTx": "audit events", "AcceptMessage": "messages", "AcceptMessageAudited": "messages", "CreateHolder": "holders",
		"EnqueueOutbox": "outbox items", "CreatePartner": "partners", "AddPartnerDV": "partner DVs",
		"AddAuditCheckpoint": "audit checkpoints", "CreateProposal": "proposals", "AddApproval": "approvals",
		"CreateConsoleSession": "console sessions",
	}
	statements := map[string][]string{ // hotStatements field -> the functions that may run it
		"insertCertificate":             {"insertAccepted", "prepareHot", "close"},
		"insertAnsweredWithCertificate": {"insertAnsweredAtOnce", "insertAccepted", "prepareHot", "close"},
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.SelectorExpr:
					if allowed, ok := statements[n.Sel.Name]; ok && !slices.Contains(allowed, fn.Name.Name) {
						t.Errorf("%s: %s runs %s: certificates are inserted in insertAccepted (with their ca.issue events)", fset.Position(n.Pos()), fn.Name.Name, n.Sel.Name)
					}
					if n.Sel.Name == "Create" {
						if _, ok := creates[fn.Name.Name]; !ok {
							t.Errorf("%s: %s inserts with Create: list it here; a certificate goes through createCertificateTx", fset.Position(n.Pos()), fn.Name.Name)
						}
					}
				case *ast.BasicLit:
					if n.Kind == token.STRING && strings.Contains(strings.ToUpper(n.Value), "INTO CERTIFICATES") {
						t.Errorf("%s: a hand-written certificate insert: use insertAccepted or createCertificateTx", fset.Position(n.Pos()))
					}
				}
				return true
			})
		}
	}
}

// BenchmarkAcceptAnsweredIssued measures the synchronous path's write of a request with
// its certificate, 16 in flight, with and without the certificate's ca.issue event.
func BenchmarkAcceptAnsweredIssued(b *testing.B) {
	for _, audited := range []bool{false, true} {
		b.Run(fmt.Sprint("audited=", audited), func(b *testing.B) {
			benchDialects(b, func(b *testing.B, s *Store) {
				h := &Holder{Country: "DE", Mnemonic: "DV01", Role: RoleDVDomestic}
				if err := s.CreateHolder(ctx(), h); err != nil {
					b.Fatal(err)
				}
				var seq atomic.Int64
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := seq.Add(1)
						var by *Issuance
						if audited {
							by = &Issuance{Requester: "DETERM1", Caller: "holder:1", Source: "192.0.2.1:1", MessageID: fmt.Sprint(i)}
						}
						c := issuedCert(h.ID, fmt.Sprintf("DETERM%07d", i), by)
						c.Raw = make([]byte, 300)
						copy(c.Raw, c.CHR)
						m := &Message{Originator: "o", MessageID: fmt.Sprint(i), Operation: "RequestCertificate", Request: c.Raw, Result: c.Raw}
						if err := s.AcceptAnswered(ctx(), m, c); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		})
	}
}
