package store

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm/schema"
)

func init() {
	suite = append(suite, struct {
		name string
		fn   func(t *testing.T, s *Store, dsn string)
	}{"HotColumnsRoundTrip", testHotColumnsRoundTrip})
}

// modelSchema parses a gorm model the way the store's gorm.DB sees it.
func modelSchema(t *testing.T, model any) *schema.Schema {
	t.Helper()
	sch, err := schema.Parse(model, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatalf("parse %T: %v", model, err)
	}
	return sch
}

// modelColumns are a model's column names, the primary key left out when withID is false.
func modelColumns(sch *schema.Schema, withID bool) []string {
	var cols []string
	for _, f := range sch.Fields {
		if f.DBName != "" && (withID || !f.PrimaryKey) {
			cols = append(cols, f.DBName)
		}
	}
	return cols
}

// TestHotColumnsMatchModels: every column the hand-written statements of the per-request
// path name is a column of the model's table, named once, and the INSERTs (and the claim's
// RETURNING) cover every column of the model, so that a field added to a model, or a
// column renamed, fails here rather than being silently left out of the hot path.
func TestHotColumnsMatchModels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		model any
		cols  []string
		// all: the list must hold every column of the model (but the id, unless withID).
		all, withID bool
	}{
		{"requestHolderColumns", &Holder{}, requestHolderColumns, false, false},
		{"messageAnswerColumns", &Message{}, messageAnswerColumns, false, false},
		{"messageInsertColumns", &Message{}, messageInsertColumns, true, false},
		{"certificateInsertColumns", &Certificate{}, certificateInsertColumns, true, false},
		{"outboxInsertColumns", &OutboxItem{}, outboxInsertColumns, true, false},
		{"outboxColumns", &OutboxItem{}, outboxColumns, true, true},
		{"auditColumns", &AuditEvent{}, auditColumns, true, true},
	} {
		sch := modelSchema(t, tc.model)
		seen := map[string]bool{}
		for _, c := range tc.cols {
			if sch.LookUpField(c) == nil || sch.LookUpField(c).DBName != c {
				t.Errorf("%s: column %q is not a column of %T (table %s)", tc.name, c, tc.model, sch.Table)
			}
			if seen[c] {
				t.Errorf("%s: column %q named twice", tc.name, c)
			}
			seen[c] = true
		}
		if !tc.all {
			continue
		}
		for _, c := range modelColumns(sch, tc.withID) {
			if !seen[c] {
				t.Errorf("%s: column %q of %T (table %s) is missing: the hot path would not write or read it", tc.name, c, tc.model, sch.Table)
			}
		}
		if !tc.withID && seen["id"] {
			t.Errorf("%s: names the generated id", tc.name)
		}
	}
}

// fillDistinct gives every column field of model (a pointer) a value no other field has.
func fillDistinct(t *testing.T, sch *schema.Schema, model any) {
	t.Helper()
	rv := reflect.ValueOf(model).Elem()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, f := range sch.Fields {
		if f.DBName == "" {
			continue
		}
		v := f.ReflectValueOf(context.Background(), rv)
		if v.Kind() == reflect.Pointer {
			v.Set(reflect.New(v.Type().Elem()))
			v = v.Elem()
		}
		switch {
		case v.Type() == reflect.TypeFor[time.Time]():
			v.Set(reflect.ValueOf(base.Add(time.Duration(i) * time.Hour)))
		case v.Kind() == reflect.String:
			v.SetString(fmt.Sprintf("%s-%d", f.DBName, i))
		case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
			v.SetInt(int64(1000 + i))
		case v.Type() == reflect.TypeFor[[]byte]():
			v.SetBytes(fmt.Appendf(nil, "%s-%d", f.DBName, i))
		default:
			t.Fatalf("fillDistinct: no distinct value for %s (%s)", f.Name, v.Type())
		}
	}
}

// plain is a value as it reaches the database: pointers dereferenced, string types as
// strings.
func plain(v reflect.Value) any {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int64:
		return v.Int()
	}
	return v.Interface()
}

// TestHotArgsFollowColumns: the arguments of each INSERT are the model's fields in the
// order of its column list.
func TestHotArgsFollowColumns(t *testing.T) {
	m, c, o, e := &Message{}, &Certificate{}, &OutboxItem{}, &AuditEvent{}
	for _, tc := range []struct {
		name  string
		model any
		cols  []string
		args  func() []any
	}{
		{"messageArgs", m, messageInsertColumns, func() []any { return messageArgs(m) }},
		{"certificateArgs", c, certificateInsertColumns, func() []any { return certificateArgs(c) }},
		{"outboxArgs", o, outboxInsertColumns, func() []any { return outboxArgs(o) }},
		{"auditArgs", e, auditColumns, func() []any { return auditArgs(e) }},
	} {
		sch := modelSchema(t, tc.model)
		fillDistinct(t, sch, tc.model)
		args := tc.args()
		if len(args) != len(tc.cols) {
			t.Errorf("%s: %d arguments for %d columns", tc.name, len(args), len(tc.cols))
			continue
		}
		rv := reflect.ValueOf(tc.model).Elem()
		for i, col := range tc.cols {
			f := sch.LookUpField(col)
			if f == nil {
				continue // reported by TestHotColumnsMatchModels
			}
			want := plain(f.ReflectValueOf(context.Background(), rv))
			if got := plain(reflect.ValueOf(args[i])); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: argument %d for column %q is %v, want field %s (%v)", tc.name, i, col, got, f.Name, want)
			}
		}
	}
}

// TestHotScanTargetsFollowColumns: the scan targets of each SELECT or RETURNING are the
// fields (found by the model's field name) in the order of its column list.
func TestHotScanTargetsFollowColumns(t *testing.T) {
	var (
		h Holder
		a MessageAnswer
		o OutboxItem
		e AuditEvent
	)
	for _, tc := range []struct {
		name    string
		model   any // the gorm model that names the columns
		dst     any // the struct scanned into (pointer)
		cols    []string
		targets []any
	}{
		{"requestHolderScanTargets", &Holder{}, &h, requestHolderColumns, requestHolderScanTargets(&h)},
		{"MessageAnswer.scanTargets", &Message{}, &a, messageAnswerColumns, a.scanTargets()},
		{"outboxScanTargets", &OutboxItem{}, &o, outboxColumns, outboxScanTargets(&o)},
		{"auditScanTargets", &AuditEvent{}, &e, auditColumns, auditScanTargets(&e)},
	} {
		sch := modelSchema(t, tc.model)
		if len(tc.targets) != len(tc.cols) {
			t.Errorf("%s: %d targets for %d columns", tc.name, len(tc.targets), len(tc.cols))
			continue
		}
		dst := reflect.ValueOf(tc.dst).Elem()
		for i, col := range tc.cols {
			f := sch.LookUpField(col)
			if f == nil {
				continue // reported by TestHotColumnsMatchModels
			}
			field := dst.FieldByName(f.Name)
			if !field.IsValid() {
				t.Errorf("%s: %T has no field %s for column %q", tc.name, tc.dst, f.Name, col)
				continue
			}
			if got := reflect.ValueOf(tc.targets[i]).Pointer(); got != field.Addr().Pointer() {
				t.Errorf("%s: target %d for column %q is not field %s", tc.name, i, col, f.Name)
			}
		}
	}
}

// sameRow compares every column field of two rows of one model (times by instant), except
// the named columns.
func sameRow(t *testing.T, what string, sch *schema.Schema, got, want any, except ...string) {
	t.Helper()
	g, w := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for _, f := range sch.Fields {
		if f.DBName == "" || slices.Contains(except, f.DBName) {
			continue
		}
		gv, wv := plain(f.ReflectValueOf(context.Background(), g)), plain(f.ReflectValueOf(context.Background(), w))
		if gt, ok := gv.(time.Time); ok {
			if wt, ok := wv.(time.Time); ok && gt.Equal(wt) {
				continue
			}
		}
		if !reflect.DeepEqual(gv, wv) {
			t.Errorf("%s: column %s is %v, want %v", what, f.DBName, gv, wv)
		}
	}
}

// testHotColumnsRoundTrip: rows written by the hot path's statements, every column with a
// value of its own, read back through gorm unchanged; and what its reads return agrees with
// gorm's. A column written or scanned in the wrong place shows here. The migrated tables
// have every column of the models, and a default for any other.
func testHotColumnsRoundTrip(t *testing.T, s *Store, _ string) {
	for _, model := range []any{&Holder{}, &Certificate{}, &Message{}, &OutboxItem{}} {
		sch := modelSchema(t, model)
		types, err := s.db.Migrator().ColumnTypes(model)
		if err != nil {
			t.Fatal(err)
		}
		inDB := map[string]bool{}
		for _, ct := range types {
			inDB[ct.Name()] = true
			if sch.LookUpField(ct.Name()) != nil {
				continue
			}
			// A column the model lacks is never written by it: it needs a default.
			_, hasDefault := ct.DefaultValue()
			nullable, _ := ct.Nullable()
			if !hasDefault && !nullable {
				t.Errorf("table %s: column %s is not in model %T and has no default", sch.Table, ct.Name(), model)
			}
		}
		for _, c := range modelColumns(sch, true) {
			if !inDB[c] {
				t.Errorf("model %T: column %s is not in table %s", model, c, sch.Table)
			}
		}
	}

	h := &Holder{Country: "DE", Mnemonic: "DVRT1", Role: RoleDVDomestic, Status: HolderSuspended,
		TLSFingerprint: "ab12", IPRanges: "10.0.0.0/8"}
	if err := s.CreateHolder(ctx(), h); err != nil {
		t.Fatal(err)
	}
	anchor := addCert(t, s, h.ID, "DEDVRT100001", RoleDVDomestic, 10, CertValid)
	rh, err := s.RequestHolderByFingerprint(ctx(), "ab12")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.HolderByID(ctx(), h.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameRow(t, "RequestHolderByFingerprint", modelSchema(t, &Holder{}), &rh.Holder, stored, "created_at", "updated_at")

	parent := &Message{Originator: "DEDVRT1", MessageID: "parent", Operation: "op"}
	if err := s.AcceptMessage(ctx(), parent, nil); err != nil {
		t.Fatal(err)
	}
	hid, pid := h.ID, parent.ID
	m := &Message{Originator: "DEDVRT1", MessageID: "m-1", Operation: "RequestCertificate", Request: []byte("request"),
		HolderID: &hid, Protocol: "urn:proto", ResponseURL: "https://dv.example/cb", Approval: ApprovalPending,
		DecidedBy: "operator", Direction: Outgoing, Peer: "holder:7", ParentID: &pid, State: MessageProcessing,
		ReturnCode: "ok_cert_available", Result: []byte("result")}
	next := time.Date(2026, 4, 5, 6, 7, 8, 9000, time.UTC)
	locked := next.Add(time.Minute)
	o := &OutboxItem{Kind: OutboxProcess, TargetURL: "https://dv.example/target", Payload: []byte("payload"),
		Attempts: 3, NextAttemptAt: next, LockedBy: "nobody", LockedUntil: &locked, LastError: "last error", State: OutboxPending}
	if err := s.AcceptMessage(ctx(), m, o); err != nil {
		t.Fatal(err)
	}
	gotM, err := s.MessageByID(ctx(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameRow(t, "AcceptMessage's message", modelSchema(t, &Message{}), gotM, m)
	gotO, err := s.OutboxByID(ctx(), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameRow(t, "AcceptMessage's outbox item", modelSchema(t, &OutboxItem{}), gotO, o)

	ans, err := s.MessageAnswerByOriginator(ctx(), m.Originator, m.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (MessageAnswer{ID: m.ID, State: m.State, ReturnCode: m.ReturnCode, Result: m.Result}); !reflect.DeepEqual(*ans, want) {
		t.Errorf("MessageAnswerByOriginator = %+v, want %+v", *ans, want)
	}

	claimed, err := s.ClaimOutbox(ctx(), "worker-1", locked.Add(time.Hour), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	gotO, err = s.OutboxByID(ctx(), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameRow(t, "ClaimOutbox", modelSchema(t, &OutboxItem{}), claimed, gotO)

	// One certificate (PostgreSQL: the single-statement insert) and two (a transaction).
	for n := 1; n <= 2; n++ {
		var certs []*Certificate
		for i := range n {
			chr := fmt.Sprintf("DETRT%d%05d", n, i)
			aid := anchor.ID
			certs = append(certs, &Certificate{HolderID: &hid, IssuerID: &aid, CHR: chr, CAR: "DEDVRT100001",
				Role: RoleTerminal, NotBefore: day(2026, 1, 2), NotAfter: day(2026, 3, 4), Status: CertSuspended,
				Raw: []byte("raw " + chr), KeySHA256: "key " + chr})
		}
		am := &Message{Originator: "DEDVRT1", MessageID: fmt.Sprintf("answered-%d", n), Operation: "RequestCertificate",
			Request: []byte("req"), HolderID: &hid, Protocol: "urn:p2", ResponseURL: "", Approval: ApprovalApproved,
			DecidedBy: "op2", Direction: Incoming, Peer: "peer", ReturnCode: "ok_cert_available", Result: []byte("res")}
		if err := s.AcceptAnswered(ctx(), am, certs...); err != nil {
			t.Fatal(err)
		}
		gotM, err := s.MessageByID(ctx(), am.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameRow(t, "AcceptAnswered's message", modelSchema(t, &Message{}), gotM, am)
		for _, c := range certs {
			gotC, err := s.CertificateByID(ctx(), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameRow(t, "AcceptAnswered's certificate", modelSchema(t, &Certificate{}), gotC, c)
		}
	}
}
