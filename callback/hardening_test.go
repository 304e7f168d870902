package callback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/internal/testenv"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
)

// start runs w until the test ends.
func start(t *testing.T, w *Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// sendCertificates is a stored callback to deliver (kind deliver).
func sendCertificates(t *testing.T, st *store.Store, target, messageID string) *store.OutboxItem {
	t.Helper()
	payload, err := server.EncodeRequest(server.DVProtocols[0], msg.Message{Operation: "SendCertificates", MessageID: messageID,
		CallerID: "UT", StatusInfo: string(authority.FailureRequestNotAccepted)})
	if err != nil {
		t.Fatal(err)
	}
	item := &store.OutboxItem{Kind: store.OutboxDeliver, TargetURL: target, Payload: payload}
	if err := st.EnqueueOutbox(context.Background(), item); err != nil {
		t.Fatal(err)
	}
	return item
}

// A receiver that never answers holds at most target_concurrency workers: another target's
// callback is delivered while the silent one is still blocked (issue #17 item 9: 8
// terminals pointing at a silent port delayed a legitimate callback 20 s).
func TestBlackHoleTargetDoesNotStallOthers(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "eacgate.db"), 0)
	release := make(chan struct{})
	var entered atomic.Int32
	hole := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hole.Close()
	defer close(release) // before hole.Close: its handlers return
	var got sync.Map
	good := httptest.NewServer(&server.Endpoint{Protocols: server.DVProtocols, Service: serviceFunc(
		func(_ context.Context, _ msg.Caller, m msg.Message) msg.Answer {
			got.Store(m.MessageID, true)
			return msg.Answer{ReturnCode: authority.OKReceivedCorrectly}
		})})
	defer good.Close()
	for i := range 6 { // the silent target's items are due first
		sendCertificates(t, f.st, hole.URL+"/dv", fmt.Sprintf("hole-%d", i))
	}
	item := sendCertificates(t, f.st, good.URL+"/dv", "good-1")
	cfg := fastConfig()
	cfg.Workers = 4
	cfg.CallTimeout = time.Hour // silent for as long as the test wants
	w := f.worker(cfg)
	w.HTTP = &http.Client{}
	start(t, w)
	testenv.Eventually(t, 30*time.Second, "the good target's callback delivered", func() bool {
		o, err := f.st.OutboxByID(context.Background(), item.ID)
		return err == nil && o.State == store.OutboxDone
	})
	if _, ok := got.Load("good-1"); !ok {
		t.Fatal("delivered, but not received")
	}
	if n := entered.Load(); n > 2 {
		t.Fatalf("%d deliveries to the silent target in flight, want at most 2", n)
	}
	if w.Stats().TargetBusy == 0 {
		t.Fatal("no item was put back for its busy target")
	}
}

// A holder's unfinished asynchronous requests are bounded: beyond the quota a new request is
// refused (ErrQueueFull; the issuing service answers failure_request_not_accepted), a
// repeated messageID is still recognised, and room is made when callbacks are delivered.
func TestHolderQueueQuota(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn func() string) {
		f := newFixture(t, dsn(), 0)
		ctx := context.Background()
		f.reg.QueueQuota = 3
		h := &store.Holder{Country: "UT", Mnemonic: "DVQ", Role: store.RoleDVDomestic, Status: store.HolderActive, TLSFingerprint: "quota-test"}
		if err := f.st.CreateHolder(ctx, h); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			f.enqueueFor(t, h, fmt.Sprintf("q-%d", i), i == 0) // held ones count too
		}
		if err := f.reg.Enqueue(ctx, h.ID, f.request(t, h, "q-3"), false); !errors.Is(err, ra.ErrQueueFull) {
			t.Fatalf("beyond the quota: %v", err)
		}
		if err := f.reg.Enqueue(ctx, h.ID, f.request(t, h, "q-1"), false); !errors.Is(err, ra.ErrDuplicate) {
			t.Fatalf("repeat of an acknowledged request: %v", err)
		}
		// Another holder is not affected.
		f.enqueue(t, "o-1", false)
		// The issuing service answers the refusal.
		svc := &ra.IssuingService{Issuer: f.cvca, Registry: f.reg, CheckResponseURL: server.CheckHTTPS,
			Mode: func(*ra.Holder, msg.Message) ra.Mode { return ra.ModeAsync }}
		if got := svc.Handle(ctx, msg.Caller{Fingerprint: h.TLSFingerprint}, f.request(t, h, "q-4")).ReturnCode; got != authority.FailureRequestNotAccepted {
			t.Fatalf("issuing service: %s, want failure_request_not_accepted", got)
		}
		pending, _ := f.st.PendingApprovals(ctx)
		if err := f.st.ApproveMessage(ctx, pending[0].ID, "officer"); err != nil {
			t.Fatal(err)
		}
		runUntil(t, f.worker(fastConfig()), func() bool { return f.done() == 4 })
		f.enqueueFor(t, h, "q-5", false)
	})
}

// flakyProcessor fails its first n calls as a keystore would, then decides with next.
type flakyProcessor struct {
	n     atomic.Int32
	fails int32
	next  Processor
}

func (p *flakyProcessor) Process(ctx context.Context, m *store.Message) (authority.ReturnCode, *store.Certificate, error) {
	if p.n.Add(1) <= p.fails {
		return "", nil, errors.New("keystore: CKR_DEVICE_REMOVED")
	}
	return p.next.Process(ctx, m)
}

// Failures of our own (the keystore, the database) while processing are retried without
// counting as delivery attempts: with the HSM failing longer than max_attempts would allow,
// the request is still decided and delivered once it is back (issue #17 item 17: 80
// acknowledged requests were dead-lettered in 17 s while the receiver was up).
func TestProcessingErrorsDoNotBurnAttempts(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn func() string) {
		f := newFixture(t, dsn(), 0)
		f.enqueue(t, "m-hsm", false)
		cfg := fastConfig()
		cfg.MaxAttempts = 2
		cfg.ProcessingBackoffMax = 50 * time.Millisecond
		w := f.worker(cfg)
		flaky := &flakyProcessor{fails: 6, next: w.Processor}
		w.Processor = flaky
		var logs strings.Builder
		var mu sync.Mutex
		w.Logger = slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(b)
		}), nil))
		runUntil(t, w, func() bool { return f.done() == 1 })
		items, _ := f.st.ListOutbox(context.Background(), "")
		if len(items) != 1 || items[0].State != store.OutboxDone || items[0].Attempts != 0 {
			t.Fatalf("outbox %+v", items)
		}
		if got := f.recv.got["m-hsm"]; len(got) != 1 || got[0].StatusInfo != "ok_cert_available" {
			t.Fatalf("received %+v", got)
		}
		if st := w.Stats(); st.ProcessingErrors != 6 || st.DeliveryFailures != 0 {
			t.Fatalf("stats %+v", st)
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(logs.String(), "processing failed") || strings.Contains(logs.String(), "delivery failed") ||
			strings.Contains(logs.String(), "undeliverable") {
			t.Fatalf("logs:\n%s", logs.String())
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// levelCounter counts log records per level.
type levelCounter struct {
	mu sync.Mutex
	n  map[slog.Level]int
}

func (c *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *levelCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[r.Level]++
	return nil
}
func (c *levelCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *levelCounter) WithGroup(string) slog.Handler      { return c }

func (c *levelCounter) count(l slog.Level) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[l]
}

// While the database fails, the queue polls back off exponentially (up to
// claim_backoff_max) and the failure is logged once, not once per poll (issue #17 item 19:
// 1,277 ERROR lines in 27 s).
func TestClaimErrorsBackOff(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "eacgate.db"), 0)
	if err := f.st.Close(); err != nil { // every claim fails from now on
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.Workers = 1
	cfg.PollInterval = 10 * time.Millisecond
	cfg.ClaimBackoffMax = time.Second
	w := f.worker(cfg)
	logs := &levelCounter{n: map[slog.Level]int{}}
	w.Logger = slog.New(logs)
	waits := make(chan time.Duration, 100)
	w.After = func(d time.Duration) <-chan time.Time {
		select {
		case waits <- d:
		default: // the test has read what it needs and stopped reading: never block the worker
		}
		c := make(chan time.Time, 1)
		c <- time.Time{} // the injected clock: no real waiting
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	var got []time.Duration
	for len(got) < 10 {
		got = append(got, <-waits)
	}
	cancel()
	<-done
	for i, d := range got {
		full := min(cfg.PollInterval<<i, cfg.ClaimBackoffMax)
		if d < full/2 || d > full {
			t.Fatalf("wait %d: %v, want within [%v, %v] (all: %v)", i+1, d, full/2, full, got)
		}
	}
	if n := logs.count(slog.LevelError); n != 1 {
		t.Fatalf("%d ERROR records for one outage, want 1", n)
	}
	if w.Stats().ClaimErrors < 10 {
		t.Fatalf("stats %+v", w.Stats())
	}
}

// On SQLite a restarted gateway takes back at once the items its previous run had leased,
// instead of waiting until the lease runs out (here an hour).
func TestRestartTakesBackLeasesSQLite(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "eacgate.db"), 0)
	f.enqueue(t, "m-restart", false)
	// The killed instance ran workers (it took the outbox lock) and held the item's lease.
	_, unlock, err := f.st.TakeBackOrphanedLeases(context.Background(), "killed-instance")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.ClaimOutbox(context.Background(), "killed-instance/0", time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	unlock() // the process dies: the operating system drops its lock
	runUntil(t, f.worker(fastConfig()), func() bool { return f.done() == 1 })
	if got := f.recv.got["m-restart"]; len(got) != 1 {
		t.Fatalf("received %+v", got)
	}
}

// The responseURL policy is applied again at delivery: an item whose target no longer
// passes is dead-lettered with the reason, neither processed nor delivered.
func TestDeliveryChecksTargetAgain(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "eacgate.db"), 0)
	f.enqueue(t, "m-policy", false)
	w := f.worker(fastConfig())
	w.CheckTarget = server.URLPolicy{AllowedPrefixes: []string{"https://dv.example/"}}.Check
	runUntil(t, w, func() bool {
		items, _ := f.st.ListOutbox(context.Background(), store.OutboxDead)
		return len(items) == 1
	})
	dead, _ := f.st.ListOutbox(context.Background(), store.OutboxDead)
	if dead[0].Attempts != 1 || !strings.Contains(dead[0].LastError, "refused by policy") || !strings.Contains(dead[0].LastError, "allowed_url_prefixes") {
		t.Fatalf("dead item %+v", dead[0])
	}
	if f.recv.calls != 0 {
		t.Fatalf("%d calls to the receiver", f.recv.calls)
	}
	if stored, _ := f.st.CertificatesByCHR(context.Background(), "UTDVA00001"); len(stored) != 0 {
		t.Fatalf("%d certificates issued for an undeliverable request", len(stored))
	}
	// A target the operator configured (ClientFor: a partner SPOC) is not subject to it.
	if err := f.st.RetryDead(context.Background(), dead[0].ID); err != nil {
		t.Fatal(err)
	}
	w = f.worker(fastConfig())
	w.CheckTarget = server.URLPolicy{AllowedPrefixes: []string{"https://dv.example/"}}.Check
	w.ClientFor = func(string) *http.Client { return f.server.Client() }
	runUntil(t, w, func() bool { return f.done() == 1 })
}

// When processing works again (the HSM is back), the items deferred by the failures are due
// at once, not at the end of their backoff: with an hour's backoff, all three items are
// still delivered within the test.
func TestRecoveryBringsDeferredItemsForward(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "eacgate.db"), 0)
	for _, id := range []string{"m-1", "m-2", "m-3"} {
		f.enqueue(t, id, false)
	}
	cfg := fastConfig()
	cfg.Workers = 1 // the two failures come before the success
	cfg.BackoffInitial, cfg.ProcessingBackoffMax = time.Hour, time.Hour
	w := f.worker(cfg)
	w.Processor = &flakyProcessor{fails: 2, next: w.Processor}
	runUntil(t, w, func() bool { return f.done() == 3 })
	if st := w.Stats(); st.ProcessingErrors != 2 {
		t.Fatalf("stats %+v", st)
	}
}
