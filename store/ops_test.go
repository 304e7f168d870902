package store

import (
	"errors"
	"testing"

	"eacgate/internal/pgtest"
)

// The audited changes commit with their audit event or not at all: with the database
// refusing audit events (a trigger), each change is rolled back; otherwise both are there.

// refuseAudit makes the database refuse new audit events until the returned func is called.
func refuseAudit(t *testing.T, s *Store) (allow func()) {
	t.Helper()
	var create, drop []string
	if s.Dialect() == DialectPostgres {
		create = []string{
			`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$`,
			`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()`,
		}
		drop = []string{`DROP TRIGGER refuse_audit ON audit_events`, `DROP FUNCTION refuse_audit()`}
	} else {
		create = []string{`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END`}
		drop = []string{`DROP TRIGGER refuse_audit`}
	}
	for _, q := range create {
		if err := s.DB().Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return func() {
		t.Helper()
		for _, q := range drop {
			if err := s.DB().Exec(q).Error; err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
}

// auditedCase is one audited change: setup prepares the rows it works on, change makes it
// (with ev), changed reports whether the change is in the database.
type auditedCase struct {
	name    string
	setup   func(t *testing.T, s *Store) int64
	change  func(s *Store, id int64, ev AuditEvent) error
	changed func(t *testing.T, s *Store, id int64) bool
}

var auditedCases = []auditedCase{
	{"SetHolderForeignCountries", newHolder,
		func(s *Store, id int64, ev AuditEvent) error {
			return s.Audited(ctx(), "countries", ev, func(tx *Store) error {
				return tx.SetHolderForeignCountries(ctx(), id, []string{"ZZ", "FR", "ZZ"})
			})
		},
		func(t *testing.T, s *Store, id int64) bool {
			got, err := s.HolderForeignCountries(ctx(), id)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > 0 && (len(got) != 2 || got[0] != "FR" || got[1] != "ZZ") {
				t.Fatalf("countries %v", got)
			}
			return len(got) == 2
		}},
	{"AcceptMessageAudited", newHolder,
		func(s *Store, id int64, ev AuditEvent) error {
			return s.AcceptMessageAudited(ctx(), &Message{Originator: "self", MessageID: "m-1", Operation: "RequestCertificate",
				HolderID: &id, Direction: Outgoing, Peer: "spoc:ZZ", State: MessageProcessing, Request: []byte{1}}, ev)
		},
		func(t *testing.T, s *Store, id int64) bool {
			_, err := s.MessageByOriginator(ctx(), "self", "m-1")
			return err == nil
		}},
	{"CreateHolder", func(*testing.T, *Store) int64 { return 0 },
		func(s *Store, _ int64, ev AuditEvent) error {
			return s.CreateHolderAudited(ctx(), &Holder{Country: "DE", Mnemonic: "DV01", Role: RoleDVDomestic}, ev)
		},
		func(t *testing.T, s *Store, _ int64) bool {
			_, err := s.HolderByName(ctx(), "DE", "DV01")
			return err == nil
		}},
	{"SetHolderStatus", newHolder,
		func(s *Store, id int64, ev AuditEvent) error {
			return s.SetHolderStatusAudited(ctx(), id, HolderSuspended, ev)
		},
		func(t *testing.T, s *Store, id int64) bool {
			h, err := s.HolderByID(ctx(), id)
			if err != nil {
				t.Fatal(err)
			}
			return h.Status == HolderSuspended
		}},
	{"SetCertificateStatus", newCertificate,
		func(s *Store, id int64, ev AuditEvent) error {
			return s.SetCertificateStatusAudited(ctx(), id, CertRevoked, nil, ev)
		},
		func(t *testing.T, s *Store, id int64) bool {
			c, err := s.CertificateByID(ctx(), id)
			if err != nil {
				t.Fatal(err)
			}
			return c.Status == CertRevoked
		}},
	{"ApproveMessage", newHeldMessage,
		func(s *Store, id int64, ev AuditEvent) error {
			return s.ApproveMessageAudited(ctx(), id, "operator:olga", ev)
		},
		func(t *testing.T, s *Store, id int64) bool { return messageApproval(t, s, id) == ApprovalApproved }},
	{"RejectMessage", newHeldMessage,
		func(s *Store, id int64, ev AuditEvent) error {
			return s.RejectMessageAudited(ctx(), id, "operator:olga", "failure_request_not_accepted", ev)
		},
		func(t *testing.T, s *Store, id int64) bool { return messageApproval(t, s, id) == ApprovalRejected }},
	{"RetryDead", newDeadItem,
		func(s *Store, id int64, ev AuditEvent) error { return s.RetryDeadAudited(ctx(), id, ev) },
		func(t *testing.T, s *Store, id int64) bool {
			o, err := s.OutboxByID(ctx(), id)
			if err != nil {
				t.Fatal(err)
			}
			return o.State == OutboxPending
		}},
	{"CreateOperator", func(*testing.T, *Store) int64 { return 0 },
		func(s *Store, _ int64, ev AuditEvent) error {
			return s.CreateOperatorAudited(ctx(), &Operator{Name: "olga", Role: RoleRAOperator, TokenHash: "ab"}, ev)
		},
		func(t *testing.T, s *Store, _ int64) bool {
			_, err := s.OperatorByToken(ctx(), "ab")
			return err == nil
		}},
	{"CreateAPIClient", func(*testing.T, *Store) int64 { return 0 },
		func(s *Store, _ int64, ev AuditEvent) error {
			return s.CreateAPIClientAudited(ctx(), &APIClient{EMKey: "k", UserName: "ops", AESKey: make([]byte, 32), Certificate: []byte{0x30}}, ev)
		},
		func(t *testing.T, s *Store, _ int64) bool {
			_, err := s.APIClientByKey(ctx(), "k")
			return err == nil
		}},
}

func newHolder(t *testing.T, s *Store) int64 {
	h := &Holder{Country: "DE", Mnemonic: "T1", Role: RoleTerminal}
	if err := s.CreateHolder(ctx(), h); err != nil {
		t.Fatal(err)
	}
	return h.ID
}

func newCertificate(t *testing.T, s *Store) int64 {
	id := newHolder(t, s)
	c := &Certificate{HolderID: &id, CHR: "DET100001", CAR: "DEDV00001", Role: RoleTerminal, NotBefore: day(2024, 1, 1), NotAfter: day(2024, 2, 1), Raw: []byte{1}}
	if err := s.AddCertificate(ctx(), c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func newHeldMessage(t *testing.T, s *Store) int64 {
	m := &Message{Originator: "DEDV", MessageID: "m1", Operation: "RequestCertificate", Request: []byte{1}, Approval: ApprovalPending}
	if err := s.AcceptMessage(ctx(), m, &OutboxItem{State: OutboxHeld, Kind: OutboxProcess, TargetURL: "https://dv/cb"}); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func messageApproval(t *testing.T, s *Store, id int64) Approval {
	m, err := s.MessageByID(ctx(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m.Approval
}

func newDeadItem(t *testing.T, s *Store) int64 {
	o := &OutboxItem{TargetURL: "https://dv/cb", Payload: []byte("a")}
	if err := s.EnqueueOutbox(ctx(), o); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Exec("UPDATE outbox SET state = ? WHERE id = ?", OutboxDead, o.ID).Error; err != nil {
		t.Fatal(err)
	}
	return o.ID
}

func runAudited(t *testing.T, dsn opener) {
	for _, tc := range auditedCases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, dsn(t))
			id := tc.setup(t, s)
			ev := AuditEvent{Actor: "operator:olga", Action: "test." + tc.name, Target: "x", Source: "192.0.2.1", Outcome: "ok"}

			allow := refuseAudit(t, s)
			if err := tc.change(s, id, ev); err == nil {
				t.Fatal("the change succeeded although its audit event was refused")
			}
			if tc.changed(t, s, id) {
				t.Fatal("the change was committed without its audit event")
			}
			allow()

			if err := tc.change(s, id, ev); err != nil {
				t.Fatal(err)
			}
			if !tc.changed(t, s, id) {
				t.Fatal("the change is not in the database")
			}
			evs, err := s.ListAudit(ctx(), 0)
			if err != nil || len(evs) != 1 || evs[0].Action != ev.Action || evs[0].Actor != ev.Actor {
				t.Fatalf("audit log = %+v, %v", evs, err)
			}
		})
	}
}

func TestAuditedSQLite(t *testing.T) { runAudited(t, sqliteDSNFor) }

func TestAuditedPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	runAudited(t, func(t testing.TB) string { return pgtest.DSN(t) })
}

// A refused change appends nothing, and the store's own wording of a conflict survives the
// transaction (on PostgreSQL the failed insert aborts it before the conflict is named).
func testAuditedRefusals(t *testing.T, s *Store) {
	ev := AuditEvent{Actor: "cli:root", Action: "test", Outcome: "ok"}
	if err := s.CreateHolderAudited(ctx(), &Holder{Country: "DE", Mnemonic: "X1", Role: RoleTerminal, TLSFingerprint: "ab"}, ev); err != nil {
		t.Fatal(err)
	}
	err := s.CreateHolderAudited(ctx(), &Holder{Country: "DE", Mnemonic: "X1", Role: RoleTerminal}, ev)
	var c *ConflictError
	if !errors.As(err, &c) || c.Msg != "holder DEX1 already exists" {
		t.Fatalf("second holder: %v", err)
	}
	err = s.CreateHolderAudited(ctx(), &Holder{Country: "DE", Mnemonic: "X2", Role: RoleTerminal, TLSFingerprint: "AB"}, ev)
	if !errors.As(err, &c) || c.Msg != "a holder with this TLS certificate is already registered: DEX1 (active)" {
		t.Fatalf("same fingerprint: %v", err)
	}
	if err := s.CreateOperatorAudited(ctx(), &Operator{Name: "olga", Role: RoleRAOperator, TokenHash: "t1"}, ev); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOperatorAudited(ctx(), &Operator{Name: "olga", Role: RoleRAOperator, TokenHash: "t2"}, ev); !errors.As(err, &c) || c.Msg != "operator olga already exists" {
		t.Fatalf("second operator: %v", err)
	}
	client := func() *APIClient {
		return &APIClient{EMKey: "k", UserName: "ops", AESKey: make([]byte, 32), Certificate: []byte{0x30}}
	}
	if err := s.CreateAPIClientAudited(ctx(), client(), ev); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAPIClientAudited(ctx(), client(), ev); !errors.As(err, &c) || c.Msg != "API client ops already exists" {
		t.Fatalf("second API client: %v", err)
	}
	id := newCertificate(t, s)
	check := errors.New("not now")
	if err := s.SetCertificateStatusAudited(ctx(), id, CertSuspended, func(c *Certificate) error {
		if c.ID != id || c.Status != CertValid {
			t.Errorf("check sees %+v", c)
		}
		return check
	}, ev); !errors.Is(err, check) {
		t.Fatalf("refused by check: %v", err)
	}
	if err := s.RetryDeadAudited(ctx(), 777, ev); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retry unknown: %v", err)
	}
	if err := s.SetHolderStatusAudited(ctx(), 777, HolderSuspended, ev); !errors.Is(err, ErrNotFound) {
		t.Fatalf("suspend unknown: %v", err)
	}
	if err := s.SetHolderStatusAudited(ctx(), 1, HolderSuspended, AuditEvent{}); err == nil {
		t.Fatal("an audited change without an action")
	}
	evs, _ := s.ListAudit(ctx(), 0)
	if len(evs) != 3 { // the holder, the operator, the API client
		t.Fatalf("%d audit events, want 3: %+v", len(evs), evs)
	}
	if got, _ := s.CertificateByID(ctx(), id); got.Status != CertValid {
		t.Fatalf("refused change made: %s", got.Status)
	}
}

func TestAuditedRefusalsSQLite(t *testing.T) { testAuditedRefusals(t, open(t, sqliteDSNFor(t))) }

func TestAuditedRefusalsPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	testAuditedRefusals(t, open(t, pgtest.DSN(t)))
}

func TestSetHolderForeignCountries(t *testing.T) {
	s := open(t, sqliteDSNFor(t))
	id := newHolder(t, s)
	if err := s.SetHolderForeignCountries(ctx(), id, []string{"ZZ"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetHolderForeignCountries(ctx(), id, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.HolderForeignCountries(ctx(), id); err != nil || len(got) != 0 {
		t.Fatalf("after clearing: %v %v", got, err)
	}
	if err := s.SetHolderForeignCountries(ctx(), id+100, []string{"ZZ"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown holder: %v", err)
	}
}
