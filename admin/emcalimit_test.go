package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eacgate/internal/testenv"
	"eacgate/store"
)

// emcaFixture is a store with one emCA client ("ops", password "s3cret") and a server whose
// handler h the test configured.
type emcaFixture struct {
	st  *store.Store
	srv *httptest.Server
	h   *Handler
	key []byte
}

func newEMCAFixture(t *testing.T, h *Handler) *emcaFixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, 32)
	rand.Read(key)
	if err := st.CreateAPIClient(ctx, &store.APIClient{EMKey: "key-local", UserName: "ops", PasswordHash: "stored-hash",
		AESKey: key, Certificate: []byte{0x30}, IPRanges: "127.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	h.Store, h.Country, h.Logger = st, "UT", slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(h.Routes())
	t.Cleanup(srv.Close)
	return &emcaFixture{st: st, srv: srv, h: h, key: key}
}

// request is a suspend request with this password and a revokeMode the gateway refuses:
// "Invalid revokeMode" means authenticated, without needing a signature.
func (f *emcaFixture) request(password string) []byte {
	return emcaBody("suspend", "key-local", f.key, "ops", map[string]any{"userName": "ops", "password": password,
		"signature": "", "revokeMode": 1, "remarks": "test"})
}

// post sends a request body; it returns the HTTP status and the emCA response.
func (f *emcaFixture) post(t *testing.T, body []byte) (int, EMCAResponse) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+"/emCAServices/rest/suspend", bytes.NewReader(body))
	req.Header.Set("emKey", "key-local")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, EMCAResponse{}
	}
	defer resp.Body.Close()
	var raw map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil || len(raw) != 5 {
		t.Errorf("response %d: %v %v", resp.StatusCode, raw, err)
	}
	b, _ := json.Marshal(raw)
	var out EMCAResponse
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// blockingCheck is a password check that reports when it starts, records how many run at
// once, and returns only when released.
type blockingCheck struct {
	entered       chan struct{}
	release       chan struct{}
	running, peak atomic.Int32
	calls         atomic.Int32
	once          sync.Once
}

// unblock lets every check return.
func (b *blockingCheck) unblock() { b.once.Do(func() { close(b.release) }) }

// unblockOnCleanup unblocks the checks before the server's cleanup waits for its requests
// (cleanups run last registered first), so a failing test ends instead of hanging.
func (b *blockingCheck) unblockOnCleanup(t *testing.T) { t.Cleanup(b.unblock) }

func newBlockingCheck() *blockingCheck {
	return &blockingCheck{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *blockingCheck) check(_, password string) bool {
	b.calls.Add(1)
	n := b.running.Add(1)
	for p := b.peak.Load(); n > p && !b.peak.CompareAndSwap(p, n); p = b.peak.Load() {
	}
	b.entered <- struct{}{}
	<-b.release
	b.running.Add(-1)
	return password == "s3cret"
}

// At most PasswordChecks Argon2id checks (64 MiB each) run at once; the others wait.
func TestEMCAPasswordChecksBounded(t *testing.T) {
	b := newBlockingCheck()
	f := newEMCAFixture(t, &Handler{EMCA: EMCAOptions{PasswordChecks: 2, PasswordWait: time.Hour, LockoutFailures: 100},
		checkPassword: b.check})
	b.unblockOnCleanup(t)
	const n = 6
	results := make(chan EMCAResponse, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, r := f.post(t, f.request("guess"))
			results <- r
		})
	}
	<-b.entered
	<-b.entered
	testenv.Eventually(t, 10*time.Second, "the other requests to wait for a check slot (or a third check)", func() bool {
		return f.h.limits.waiting.Load() == n-2 || len(b.entered) > 0
	})
	if len(b.entered) != 0 || b.peak.Load() != 2 {
		t.Fatalf("%d more checks started, %d at once, with 2 slots", len(b.entered), b.peak.Load())
	}
	b.unblock()
	wg.Wait()
	close(results)
	for r := range results {
		if r.Status != "failure" || r.Result != resultAuthFailed {
			t.Errorf("wrong password: %+v", r)
		}
	}
	if b.calls.Load() != n || b.peak.Load() != 2 {
		t.Fatalf("%d checks, %d at once", b.calls.Load(), b.peak.Load())
	}
}

// A request that finds no free slot within PasswordWait is answered 503 "Service busy" in
// the emCA shape, and audited.
func TestEMCAPasswordChecksBusy(t *testing.T) {
	b := newBlockingCheck()
	f := newEMCAFixture(t, &Handler{EMCA: EMCAOptions{PasswordChecks: 1, PasswordWait: 10 * time.Millisecond},
		checkPassword: b.check})
	b.unblockOnCleanup(t)
	done := make(chan EMCAResponse, 1)
	go func() {
		_, r := f.post(t, f.request("s3cret"))
		done <- r
	}()
	<-b.entered // the only slot is taken until released
	type answer struct {
		code int
		r    EMCAResponse
	}
	second := make(chan answer, 1)
	go func() {
		code, r := f.post(t, f.request("s3cret"))
		second <- answer{code, r}
	}()
	select {
	case a := <-second:
		if a.code != http.StatusServiceUnavailable || a.r.Status != "failure" || a.r.Result != resultBusy || a.r.RequestID == "" {
			t.Fatalf("busy: HTTP %d %+v", a.code, a.r)
		}
	case <-b.entered:
		t.Fatal("a second password check started with one slot")
	}
	b.unblock()
	if r := <-done; r.Result != resultBadRevokeMode {
		t.Fatalf("the request holding the slot: %+v", r)
	}
	if b.calls.Load() != 1 {
		t.Fatalf("%d checks", b.calls.Load())
	}
	events, err := f.st.ListAudit(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	busy := 0
	for _, e := range events {
		if e.Action == "emca.suspend" && e.Outcome == "failed: "+resultBusy {
			busy++
		}
	}
	if busy != 1 {
		t.Fatalf("%d busy answers audited", busy)
	}
}

// fakeClock is an injected clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Five authentication failures within 15 minutes lock the client out for 15 minutes: its
// requests, the right password included, get "Authentication failed" without a password
// check; the lockout is audited; a success in between starts the count again.
func TestEMCALockout(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	var calls atomic.Int32
	f := newEMCAFixture(t, &Handler{Now: clock.now, checkPassword: func(_, pw string) bool {
		calls.Add(1)
		return pw == "s3cret"
	}})
	try := func(password string) string {
		t.Helper()
		_, r := f.post(t, f.request(password))
		return r.Result
	}
	wrongKey := func() string {
		t.Helper()
		other := make([]byte, 32)
		rand.Read(other)
		_, r := f.post(t, emcaBody("suspend", "key-local", other, "ops", map[string]any{"userName": "ops", "password": "s3cret"}))
		return r.Result
	}
	for i := range 4 {
		if r := try("guess"); r != resultAuthFailed {
			t.Fatalf("guess %d: %s", i, r)
		}
	}
	if r := try("s3cret"); r != resultBadRevokeMode {
		t.Fatalf("right password after 4 failures: %s", r)
	}
	// The count restarted: 4 wrong passwords and a wrong AES key make 5.
	for range 4 {
		try("guess")
		clock.advance(time.Minute)
	}
	if r := wrongKey(); r != resultAuthFailed {
		t.Fatalf("wrong key: %s", r)
	}
	before := calls.Load()
	if r := try("s3cret"); r != resultAuthFailed {
		t.Fatalf("right password while locked out: %s", r)
	}
	if calls.Load() != before {
		t.Fatal("a password was checked while the client was locked out")
	}
	events, err := f.st.ListAudit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	lockouts := 0
	for _, e := range events {
		if e.Action == "emca.lockout" && e.Target == "api_client:ops" && e.Outcome == "locked" {
			lockouts++
		}
	}
	if lockouts != 1 {
		t.Fatalf("%d lockout events", lockouts)
	}
	clock.advance(15*time.Minute - time.Second)
	if r := try("s3cret"); r != resultAuthFailed || calls.Load() != before {
		t.Fatalf("right password a second before the lockout ends: %s", r)
	}
	clock.advance(time.Second)
	if r := try("s3cret"); r != resultBadRevokeMode {
		t.Fatalf("right password after the lockout: %s", r)
	}
	// Failures older than the window do not count.
	for range 4 {
		try("guess")
	}
	clock.advance(16 * time.Minute)
	for range 4 {
		try("guess")
	}
	if r := try("s3cret"); r != resultBadRevokeMode {
		t.Fatalf("4 + 4 failures 16 minutes apart: %s", r)
	}
}

// A request that waited for a check slot while another's failure locked the client out is
// refused without a password check.
func TestEMCALockoutWhileWaiting(t *testing.T) {
	b := newBlockingCheck()
	f := newEMCAFixture(t, &Handler{EMCA: EMCAOptions{PasswordChecks: 1, PasswordWait: time.Hour, LockoutFailures: 1},
		checkPassword: b.check})
	b.unblockOnCleanup(t)
	results := make(chan EMCAResponse, 2)
	go func() {
		_, r := f.post(t, f.request("guess"))
		results <- r
	}()
	<-b.entered
	go func() {
		_, r := f.post(t, f.request("s3cret"))
		results <- r
	}()
	testenv.Eventually(t, 10*time.Second, "the second request to wait for the slot", func() bool { return f.h.limits.waiting.Load() == 1 })
	b.unblock()
	for range 2 {
		if r := <-results; r.Result != resultAuthFailed {
			t.Fatalf("%+v", r)
		}
	}
	if n := b.calls.Load(); n != 1 {
		t.Fatalf("%d password checks", n)
	}
}

// The failure table stays bounded; locked clients are the last to be dropped.
func TestEMCALimitsBounded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	l := newEMCALimits(EMCAOptions{LockoutFailures: 2}, clock.now)
	l.fail("victim")
	if l.fail("victim").IsZero() {
		t.Fatal("no lockout after 2 failures")
	}
	clock.advance(time.Minute)
	for i := range maxTrackedClients + 100 {
		l.fail(string(rune(0x10000 + i)))
	}
	if len(l.clients) > maxTrackedClients {
		t.Fatalf("%d clients tracked", len(l.clients))
	}
	if l.lockedUntil("victim").IsZero() {
		t.Fatal("the locked client was dropped")
	}
}

// The checks' memory is returned to the OS when a burst ends, at most every 10 s.
func TestEMCAFreeMemoryRateLimited(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	l := newEMCALimits(EMCAOptions{}, clock.now)
	var freed atomic.Int32
	l.freeMemory = func() { freed.Add(1) }
	ctx := context.Background()
	burst := func(n int) {
		for range n {
			if err := l.acquire(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for range n {
			l.release()
		}
	}
	burst(2) // freed once, when the second check ends
	testenv.Eventually(t, 10*time.Second, "memory freed after the burst", func() bool { return freed.Load() >= 1 })
	burst(1) // within 10 s of the last: not freed
	clock.advance(10 * time.Second)
	burst(1)
	testenv.Eventually(t, 10*time.Second, "memory freed 10 s later", func() bool { return freed.Load() >= 2 })
	if n := freed.Load(); n != 2 {
		t.Fatalf("freed %d times", n)
	}
}
