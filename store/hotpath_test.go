package store

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func init() {
	suite = append(suite,
		struct {
			name string
			fn   func(t *testing.T, s *Store, dsn string)
		}{"RequestHolder", testRequestHolder},
		struct {
			name string
			fn   func(t *testing.T, s *Store, dsn string)
		}{"GroupCommit", testGroupCommit},
	)
}

func addCert(t *testing.T, s *Store, holderID int64, chr string, role Role, notAfter int, status CertStatus) *Certificate {
	t.Helper()
	hid := holderID
	c := &Certificate{HolderID: &hid, CHR: chr, CAR: "DECVCA00001", Role: role, NotBefore: day(2026, 1, 1),
		NotAfter: day(2026, 2, notAfter), Status: status, Raw: []byte(chr)}
	if err := s.AddCertificate(ctx(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// testRequestHolder: the one-statement read of the per-request path agrees with the
// separate queries (newest certificate of the holder's role, current = newest valid one).
func testRequestHolder(t *testing.T, s *Store, _ string) {
	dv := &Holder{Country: "DE", Mnemonic: "DV01", Role: RoleDVDomestic, TLSFingerprint: "aa01"}
	bare := &Holder{Country: "DE", Mnemonic: "DV02", Role: RoleDVDomestic, TLSFingerprint: "aa02", Status: HolderSuspended}
	for _, h := range []*Holder{dv, bare} {
		if err := s.CreateHolder(ctx(), h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RequestHolderByFingerprint(ctx(), "ffff"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown fingerprint: %v", err)
	}
	if _, err := s.RequestHolderByFingerprint(ctx(), " "); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty fingerprint: %v", err)
	}
	rh, err := s.RequestHolderByFingerprint(ctx(), "AA02")
	if err != nil || rh.Holder.ID != bare.ID || rh.Holder.Status != HolderSuspended || rh.NewestStatus != "" || rh.Current != nil {
		t.Fatalf("holder without certificates: %+v %v", rh, err)
	}

	addCert(t, s, dv.ID, "DEDV0100001", RoleDVDomestic, 1, CertValid)
	second := addCert(t, s, dv.ID, "DEDV0100002", RoleDVDomestic, 5, CertValid)
	// A foreign certificate obtained through the SPOC expires later but is of another role.
	addCert(t, s, dv.ID, "ZZDV0100001", RoleDVForeign, 20, CertSuspended)
	rh, err = s.RequestHolderByFingerprint(ctx(), "aa01")
	if err != nil || rh.NewestStatus != CertValid || rh.Current == nil || rh.Current.ID != second.ID ||
		string(rh.Current.Raw) != "DEDV0100002" || rh.Holder.Role != RoleDVDomestic || rh.Holder.Country != "DE" {
		t.Fatalf("two valid: %+v %v", rh, err)
	}

	// Same expiry date: the later row is the newer one.
	third := addCert(t, s, dv.ID, "DEDV0100003", RoleDVDomestic, 5, CertValid)
	if err := s.SetCertificateStatus(ctx(), third.ID, CertSuspended); err != nil {
		t.Fatal(err)
	}
	rh, err = s.RequestHolderByFingerprint(ctx(), "aa01")
	if err != nil || rh.NewestStatus != CertSuspended || rh.Current == nil || rh.Current.ID != second.ID {
		t.Fatalf("newest suspended: %+v %v", rh, err)
	}
	newest, err := s.NewestCertificate(ctx(), dv.ID, RoleDVDomestic)
	if err != nil || newest.ID != third.ID {
		t.Fatalf("NewestCertificate disagrees: %+v %v", newest, err)
	}
	latest, err := s.LatestCertificateOfRole(ctx(), dv.ID, RoleDVDomestic)
	if err != nil || latest.ID != second.ID {
		t.Fatalf("LatestCertificateOfRole disagrees: %+v %v", latest, err)
	}
	// Per chain: the newest valid certificate under one of the given CARs.
	if c, err := s.LatestCertificateFrom(ctx(), dv.ID, []string{"QQCVCA00001", "DECVCA00001"}); err != nil || c.ID != second.ID {
		t.Fatalf("LatestCertificateFrom: %+v %v", c, err)
	}
	for _, cars := range [][]string{{"QQCVCA00001"}, nil} {
		if _, err := s.LatestCertificateFrom(ctx(), dv.ID, cars); !errors.Is(err, ErrNotFound) {
			t.Fatalf("LatestCertificateFrom %v: %v", cars, err)
		}
	}

	// The earlier-request lookup.
	m := &Message{Originator: "holder:1", MessageID: "m-1", Operation: "RequestCertificate", ReturnCode: "ok_cert_available", Result: []byte("R")}
	if err := s.AcceptAnswered(ctx(), m); err != nil {
		t.Fatal(err)
	}
	a, err := s.MessageAnswerByOriginator(ctx(), "holder:1", "m-1")
	if err != nil || a.ID != m.ID || a.State != MessageAnswered || a.ReturnCode != "ok_cert_available" || string(a.Result) != "R" {
		t.Fatalf("MessageAnswerByOriginator: %+v %v", a, err)
	}
	if _, err := s.MessageAnswerByOriginator(ctx(), "holder:1", "m-2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown messageID: %v", err)
	}
	if _, err := s.MessageAnswerByOriginator(ctx(), "holder:1", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty messageID: %v", err)
	}
}

// testGroupCommit: concurrent synchronous requests, some repeating a messageID and some
// failing a constraint, are stored exactly once each, and a failure never takes the other
// requests of its group commit with it.
func testGroupCommit(t *testing.T, s *Store, _ string) {
	h := &Holder{Country: "DE", Mnemonic: "IS01", Role: RoleTerminal}
	if err := s.CreateHolder(ctx(), h); err != nil {
		t.Fatal(err)
	}
	const n = 200
	type outcome struct {
		msg  *Message
		cert *Certificate
		err  error
	}
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hid := h.ID
			// Every fourth request repeats the messageID of the one before; every seventh
			// names an issuer row that does not exist (a foreign-key failure).
			id := i
			if i%4 == 3 {
				id = i - 1
			}
			m := &Message{Originator: "holder:gc", MessageID: fmt.Sprint("m-", id), HolderID: &hid, Operation: "RequestCertificate", ReturnCode: "ok_cert_available"}
			c := &Certificate{HolderID: &hid, CHR: fmt.Sprintf("DEIS01%05d", i), CAR: "DEDV0100001", Role: RoleTerminal,
				NotBefore: day(2026, 1, 1), NotAfter: day(2026, 1, 31), Raw: []byte{byte(i)}}
			if i%7 == 6 {
				bad := int64(1 << 40)
				c.IssuerID = &bad
			}
			err := s.AcceptAnswered(ctx(), m, c)
			out[i] = outcome{m, c, err}
		}()
	}
	wg.Wait()

	stored := map[string]int{}
	var ok int
	for i, o := range out {
		switch {
		case o.err == nil:
			ok++
			stored[o.msg.MessageID]++
			if o.msg.ID == 0 || o.cert.ID == 0 {
				t.Fatalf("request %d stored without row IDs", i)
			}
		case errors.Is(o.err, ErrDuplicateMessage):
			if i%4 != 3 && i%4 != 2 {
				t.Fatalf("request %d: unexpected duplicate", i)
			}
		case i%7 == 6 && errors.Is(o.err, ErrConflict):
		default:
			t.Fatalf("request %d: %v", i, o.err)
		}
		if o.err != nil && (o.msg.ID != 0 || o.cert.ID != 0) {
			t.Fatalf("request %d failed but kept row IDs %d/%d", i, o.msg.ID, o.cert.ID)
		}
	}
	for id, k := range stored {
		if k != 1 {
			t.Fatalf("messageID %s stored %d times", id, k)
		}
	}
	var msgs, certs int64
	s.DB().Raw("SELECT COUNT(*) FROM messages WHERE originator = 'holder:gc'").Scan(&msgs)
	s.DB().Raw("SELECT COUNT(*) FROM certificates WHERE holder_id = ?", h.ID).Scan(&certs)
	if msgs != int64(ok) || certs != int64(ok) {
		t.Fatalf("%d answered, %d messages and %d certificates stored", ok, msgs, certs)
	}
	// A messageID is stored when any of its requests could be: m-i alone for i%4 in {0, 1},
	// m-i shared by requests i and i+1 for i%4 == 2.
	valid := func(i int) bool { return i%7 != 6 }
	for i := 0; i < n; i++ {
		want := 0
		switch i % 4 {
		case 0, 1:
			if valid(i) {
				want = 1
			}
		case 2:
			if valid(i) || valid(i+1) {
				want = 1
			}
		default:
			continue
		}
		if got := stored[fmt.Sprint("m-", i)]; got != want {
			t.Fatalf("messageID m-%d stored %d times, want %d", i, got, want)
		}
	}
}

// TestSQLiteHotPlans: the per-request statements search indexes and never scan a table
// (a scan grows with every request ever answered).
func TestSQLiteHotPlans(t *testing.T) {
	s := open(t, sqliteDSNFor(t))
	for name, q := range map[string]string{"holder": sqlHolderByFingerprint, "message": sqlMessageByOriginator,
		"claim": fmt.Sprintf(sqlClaimOutbox, "")} {
		var rows []struct {
			ID      int
			Parent  int
			NotUsed int `gorm:"column:notused"`
			Detail  string
		}
		args := []any{"x", "y"}
		switch name {
		case "holder":
			args = args[:1]
		case "claim":
			args = []any{"w", time.Now(), time.Now(), time.Now(), time.Now()}
		}
		if err := s.DB().Raw("EXPLAIN QUERY PLAN "+q, args...).Scan(&rows).Error; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rows) == 0 {
			t.Fatalf("%s: no plan", name)
		}
		for _, r := range rows {
			if strings.HasPrefix(r.Detail, "SCAN") || strings.Contains(r.Detail, "TEMP B-TREE") {
				t.Errorf("%s: plan step %q", name, r.Detail)
			}
		}
	}
}

// TestCommitAfterClose: a request submitted after Close is refused, not lost in a queue.
func TestCommitAfterClose(t *testing.T) {
	s, err := Open(ctx(), sqliteDSNFor(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	m := &Message{Originator: "x", MessageID: "1", Operation: "RequestCertificate"}
	if err := s.AcceptAnswered(ctx(), m); !errors.Is(err, errStoreClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func init() {
	suite = append(suite, struct {
		name string
		fn   func(t *testing.T, s *Store, dsn string)
	}{"Leases", testLeases})
}

// testLeases: one owner at a time; the owner extends its lease; an expired lease is taken
// over; only the owner releases.
func testLeases(t *testing.T, s *Store, _ string) {
	t0 := day(2026, 11, 23)
	acquire := func(owner string, at time.Time, want bool) {
		t.Helper()
		got, err := s.AcquireLease(ctx(), "dv-renewal", owner, at, time.Minute)
		if err != nil || got != want {
			t.Fatalf("%s at %v: got %v (%v), want %v", owner, at, got, err, want)
		}
	}
	acquire("a", t0, true)
	acquire("b", t0.Add(30*time.Second), false)
	acquire("a", t0.Add(50*time.Second), true) // extended to t0+110s
	acquire("b", t0.Add(100*time.Second), false)
	acquire("b", t0.Add(111*time.Second), true) // a's lease expired
	if err := s.ReleaseLease(ctx(), "dv-renewal", "a"); err != nil {
		t.Fatal(err)
	}
	acquire("a", t0.Add(112*time.Second), false) // a's release did not touch b's lease
	if err := s.ReleaseLease(ctx(), "dv-renewal", "b"); err != nil {
		t.Fatal(err)
	}
	acquire("a", t0.Add(113*time.Second), true)
	if _, err := s.AcquireLease(ctx(), "", "a", t0, time.Minute); err == nil {
		t.Fatal("empty name accepted")
	}
	// Concurrent contenders: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.AcquireLease(ctx(), "race", fmt.Sprint("owner-", i), t0, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d owners hold one lease", wins.Load())
	}
}
