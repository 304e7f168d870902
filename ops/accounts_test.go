package ops

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"eacgate/store"
)

// One person, one role: an account of a person holding another role is refused and the
// refusal audited; a second account of the same role is allowed.
func TestAddOperatorOnePersonOneRole(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	if err := s.AddOperator(ctx, cli, &store.Operator{Name: "olga", Role: store.RoleRAOperator, TokenHash: "t1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddOperator(ctx, cli, &store.Operator{Name: "olga2", Person: "olga", Role: store.RoleRAOperator, TokenHash: "t2"}); err != nil {
		t.Fatalf("second token of one person and role: %v", err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "operator.add", Target: "olga2", Source: "local", Outcome: "ok",
		Details: `{"person":"olga","role":"ra_operator"}`})
	err := s.AddOperator(ctx, cli, &store.Operator{Name: "olga-audit", Person: "olga", Role: store.RoleAuditor, TokenHash: "t3"})
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(PublicText(err), "person olga already holds the role ra_operator") {
		t.Fatalf("second role: %v", err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "operator.add", Target: "olga-audit", Source: "local",
		Outcome: "failed: person olga already holds the role ra_operator: one person holds one role (TR-03139 5.2)"})
}

// The lifecycle functions: each change with its event; the two-person ones (role, enable)
// work at the ops level; a removed account cannot be enabled again.
func TestAccountLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	o := &store.Operator{Name: "olga", Role: store.RoleRAOperator, TokenHash: "t1"}
	if err := s.AddOperator(ctx, cli, o); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(o.ID, 10)
	if got, err := s.DisableOperator(ctx, rest, o.ID); err != nil || !got.Disabled {
		t.Fatalf("disable: %+v %v", got, err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "operator:olga", Action: "admin.operator.disable", Target: "olga", Source: "192.0.2.1", Outcome: "ok"})
	if got, _ := s.Store.OperatorByID(ctx, o.ID); CheckOperatorUsable(got, s.Now()) == nil {
		t.Fatal("a disabled operator is usable")
	}
	if err := s.EnableOperator(ctx, cli, o.ID); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "operator.enable", Target: "olga", Source: "local", Outcome: "ok"})
	if err := s.SetOperatorRole(ctx, cli, o.ID, store.RoleAuditor); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "operator.role", Target: "olga", Source: "local", Outcome: "ok",
		Details: `{"from":"ra_operator","id":` + id + `,"person":"olga","to":"auditor"}`})
	exp := s.Now().Add(time.Hour)
	if _, err := s.RotateOperatorToken(ctx, cli, o.ID, "t9", &exp); err != nil {
		t.Fatal(err)
	}
	got, err := s.Store.OperatorByToken(ctx, "t9")
	if err != nil || got.Role != store.RoleAuditor || got.Disabled || CheckOperatorUsable(got, s.Now()) != nil {
		t.Fatalf("after enable, role change and rotation: %+v %v", got, err)
	}
	if _, err := s.Store.OperatorByToken(ctx, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old token: %v", err)
	}
	var ae *AccountError
	if err := CheckOperatorUsable(got, exp); !errors.As(err, &ae) || ae.State != AccountExpired {
		t.Fatalf("at its expiry: %v", err)
	}
	if _, err := s.RemoveOperator(ctx, cli, o.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableOperator(ctx, cli, o.ID); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("enable a removed operator: %v", err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "operator.enable", Target: "olga", Source: "local",
		Outcome: "failed: operator " + id + " was removed"})
	if err := s.SetOperatorRole(ctx, cli, 999, store.RoleAuditor); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("role of nobody: %v", err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "operator.role", Target: "operator:999", Source: "local", Outcome: "failed: not found"})

	c := &store.APIClient{EMKey: "k", UserName: "ops", AESKey: make([]byte, 32), Certificate: []byte{0x30}}
	if err := s.AddAPIClient(ctx, cli, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DisableAPIClient(ctx, cli, c.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Store.APIClientByKey(ctx, "k"); APIClientState(got, s.Now()) != AccountDisabled {
		t.Fatalf("disabled client: %+v", got)
	}
	if err := s.EnableAPIClient(ctx, cli, c.ID); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "apiclient.enable", Target: "ops", Source: "local", Outcome: "ok"})
	if _, err := s.RotateAPIClient(ctx, cli, c.ID, store.APIClientSecrets{PasswordHash: "new"}); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, s, store.AuditEvent{Actor: "cli:root", Action: "apiclient.rotate", Target: "ops", Source: "local", Outcome: "ok",
		Details: `{"id":` + strconv.FormatInt(c.ID, 10) + `,"key":false,"password":true}`})
	if _, err := s.RemoveAPIClient(ctx, cli, c.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Store.APIClientByKey(ctx, "k"); CheckAPIClientUsable(got, s.Now()) == nil || got.PasswordHash != "new" {
		t.Fatalf("removed client: %+v", got)
	}
}

// A flood of 10,000 refused authentications (bad tokens, with what the caller sent 10 kB
// long) leaves a bounded number of small events, and the next
// one recorded after the flood is preceded by a summary of those not recorded. Logins are
// recorded once an hour per account, last use written once a minute.
func TestAuthLogBounded(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	s.Now = func() time.Time { return now }
	s.AuthLog = NewAuthLog(AuthLimits{})
	long := strings.Repeat("x", 10000)
	for i := range 10000 {
		a := Actor{Channel: ChannelREST, Name: long, Remote: "192.0.2." + strconv.Itoa(i%300)}
		s.AuthRefused(ctx, a, ActionAuthRefused, long, "refused: "+long, map[string]string{"user_agent": long})
	}
	evs, err := s.Store.ListAudit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 100 { // the global burst
		t.Fatalf("%d events after 10,000 refusals", len(evs))
	}
	for _, e := range evs {
		if n := len(e.Actor) + len(e.Action) + len(e.Target) + len(e.Source) + len(e.Outcome) + len(e.Details); n > 512 {
			t.Fatalf("event of %d bytes: %+v", n, e)
		}
	}
	now = now.Add(time.Minute)
	s.AuthRefused(ctx, Actor{Channel: ChannelREST, Name: "anonymous", Remote: "198.51.100.1"}, ActionAuthRefused, "token", "refused: unknown credentials", nil)
	evs, _ = s.Store.ListAudit(ctx, 2)
	if len(evs) != 2 || evs[0].Action != "auth.refused.suppressed" || !strings.Contains(evs[0].Details, `"count":"9900"`) || evs[1].Action != "auth.refused" {
		t.Fatalf("after the flood: %+v", evs)
	}

	o := &store.Operator{Name: "olga", Role: store.RoleRAOperator, TokenHash: "t1"}
	if err := s.Store.CreateOperator(ctx, o); err != nil {
		t.Fatal(err)
	}
	before := countEvents(t, s)
	login := func() {
		got, err := s.Store.OperatorByID(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		s.OperatorAuthenticated(ctx, rest, got, nil)
	}
	login()
	wantEvent(t, s, store.AuditEvent{Actor: "operator:olga", Action: "auth.login", Target: "operator:" + strconv.FormatInt(o.ID, 10), Source: "192.0.2.1", Outcome: "ok"})
	first := now
	for range 59 {
		now = now.Add(time.Second)
		login()
	}
	if got, _ := s.Store.OperatorByID(ctx, o.ID); got.LastUsedAt == nil || !got.LastUsedAt.Equal(first) {
		t.Fatalf("last use rewritten within a minute: %v", got.LastUsedAt)
	}
	now = now.Add(time.Minute)
	login()
	if got, _ := s.Store.OperatorByID(ctx, o.ID); got.LastUsedAt == nil || !got.LastUsedAt.Equal(now) {
		t.Fatalf("last use after a minute: %v, want %v", got.LastUsedAt, now)
	}
	if n := countEvents(t, s) - before; n != 1 {
		t.Fatalf("%d login events within an hour", n)
	}
	now = first.Add(time.Hour)
	login()
	if n := countEvents(t, s) - before; n != 2 {
		t.Fatalf("%d login events after an hour", n)
	}
}
