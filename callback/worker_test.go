package callback

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/pgtest"
	"eacgate/internal/testenv"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixture is a store with a CVCA, one registered DV and a SOAP receiver for callbacks.
type fixture struct {
	st     *store.Store
	reg    *ra.StoreRegistry
	cvca   *authority.Issuer
	dv     *store.Holder
	dvKey  *ecc.PrivateKey
	recv   *receiver
	server *httptest.Server
}

// receiver is a DV's SendCertificates endpoint that fails the first failFirst calls (HTTP
// 503), or all of them with failFirst < 0.
type receiver struct {
	mu        sync.Mutex
	failFirst int
	delay     time.Duration // each answer takes this long
	calls     int
	got       map[string][]msg.Message // by messageID
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.calls++
	fail := r.failFirst < 0 || r.calls <= r.failFirst
	delay := r.delay
	r.mu.Unlock()
	time.Sleep(delay) // a slow partner in real time: the leases it outlasts are in the database
	if fail {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	ep := &server.Endpoint{Protocols: server.DVProtocols, Service: serviceFunc(func(_ context.Context, _ msg.Caller, m msg.Message) msg.Answer {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got[m.MessageID] = append(r.got[m.MessageID], m)
		return msg.Answer{ReturnCode: authority.OKReceivedCorrectly}
	})}
	ep.ServeHTTP(w, req)
}

type serviceFunc func(context.Context, msg.Caller, msg.Message) msg.Answer

func (f serviceFunc) Handle(ctx context.Context, c msg.Caller, m msg.Message) msg.Answer {
	return f(ctx, c, m)
}

func newFixture(t *testing.T, dsn string, failFirst int) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	today := cvc.DateOf(time.Now())
	root, err := authority.NewCVCA(authority.CVCASpec{CHR: "UTCVCA00001", Algorithm: cvc.ECDSA_SHA256,
		CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3|cvc.ISReadDG4), Effective: today, Expiration: today.AddDays(365)}, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddCertificate(ctx, &store.Certificate{CHR: root.CHR, CAR: root.CAR, Role: store.RoleCVCA,
		NotBefore: root.EffectiveDate.Time(), NotAfter: root.ExpirationDate.Time(), Status: store.CertValid, Raw: root.Raw}); err != nil {
		t.Fatal(err)
	}
	dv := &store.Holder{Country: "UT", Mnemonic: "DVA", Role: store.RoleDVDomestic, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, dv); err != nil {
		t.Fatal(err)
	}
	dvKey, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	f := &fixture{st: st, reg: ra.NewStoreRegistry(st), dv: dv, dvKey: dvKey,
		cvca: &authority.Issuer{Path: []*cvc.Certificate{root}, Signer: key, Policy: authority.DefaultPolicy()},
		recv: &receiver{failFirst: failFirst, got: map[string][]msg.Message{}}}
	f.server = httptest.NewTLSServer(f.recv)
	t.Cleanup(f.server.Close)
	return f
}

// enqueue accepts an initial DV request for asynchronous processing, as the SOAP endpoint
// does.
func (f *fixture) enqueue(t *testing.T, messageID string, held bool) {
	t.Helper()
	f.enqueueFor(t, f.dv, messageID, held)
}

func (f *fixture) enqueueFor(t *testing.T, h *store.Holder, messageID string, held bool) {
	t.Helper()
	if err := f.reg.Enqueue(context.Background(), h.ID, f.request(t, h, messageID), held); err != nil {
		t.Fatal(err)
	}
}

// request is an initial request of h for asynchronous processing, answered at the
// fixture's receiver, with a key of its own (a key is certified once).
func (f *fixture) request(t *testing.T, h *store.Holder, messageID string) msg.Message {
	t.Helper()
	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, err := cvc.NewRequest(cvc.RequestTemplate{CHR: h.Country + h.Mnemonic + "00001"}, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return msg.Message{Operation: "RequestCertificate", Namespace: server.CVCAProtocols[0].Namespace, MessageID: messageID,
		CallbackPossible: true, ResponseURL: f.server.URL + "/dv", CertReq: req.Raw}
}

func (f *fixture) worker(cfg Config) *Worker {
	return &Worker{Store: f.st, HTTP: f.server.Client(), Config: cfg,
		Processor: &IssuerProcessor{Registry: f.reg, Issuer: func(string) *authority.Issuer { return f.cvca }}}
}

// runInstances runs two workers as two gateway instances on the fixture's store until done
// holds, failing the test when it has not within the deadline.
func (f *fixture) runInstances(t *testing.T, cfg Config, deadline time.Duration, what string, done func() bool) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i := range 2 {
		w := f.worker(cfg)
		w.ID = fmt.Sprintf("instance-%d", i+1)
		wg.Add(1)
		go func() { defer wg.Done(); w.Run(ctx) }()
	}
	testenv.Eventually(t, deadline, what, done)
}

// done counts the delivered outbox items.
func (f *fixture) done() int {
	items, _ := f.st.ListOutbox(context.Background(), store.OutboxDone)
	return len(items)
}

// runUntil runs the worker until cond holds (or fails the test after a generous bound).
func runUntil(t *testing.T, w *Worker, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop) // when the wait fails
	testenv.Eventually(t, 30*time.Second, "the worker to reach the condition", cond)
	stop()
}

func fastConfig() Config {
	return Config{Workers: 2, MaxAttempts: 5, BackoffInitial: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		PollInterval: 10 * time.Millisecond, CallTimeout: 5 * time.Second, ShutdownGrace: time.Second}
}

func forDialects(t *testing.T, fn func(t *testing.T, dsn func() string)) {
	t.Run("SQLite", func(t *testing.T) {
		fn(t, func() string { return filepath.Join(t.TempDir(), "eacgate.db") })
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		pgtest.AdminDSN(t)
		fn(t, func() string { return pgtest.DSN(t) })
	})
}

// A receiver that fails the first three times gets the callback after backoff: the item is
// done after four attempts and the certificate was issued once.
func TestRetryThenDelivered(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn func() string) {
		f := newFixture(t, dsn(), 3)
		f.enqueue(t, "m-1", false)
		runUntil(t, f.worker(fastConfig()), func() bool {
			items, _ := f.st.ListOutbox(context.Background(), store.OutboxDone)
			return len(items) == 1
		})
		items, _ := f.st.ListOutbox(context.Background(), "")
		if len(items) != 1 || items[0].Attempts != 3 || items[0].State != store.OutboxDone {
			t.Fatalf("outbox: %+v", items)
		}
		got := f.recv.got["m-1"]
		if len(got) != 1 || got[0].StatusInfo != "ok_cert_available" || len(got[0].Certificates) != 1 {
			t.Fatalf("received %+v", got)
		}
		cert, err := cvc.ParseCertificate(got[0].Certificates[0])
		if err != nil || cert.CHR != "UTDVA00001" {
			t.Fatalf("certificate %v %v", cert, err)
		}
		if _, err := cvc.Verify(cert, cvc.VerifyOptions{Anchors: f.cvca.Path}); err != nil {
			t.Fatalf("issued certificate: %v", err)
		}
		stored, _ := f.st.CertificatesByCHR(context.Background(), "UTDVA00001")
		if len(stored) != 1 {
			t.Fatalf("%d certificates stored", len(stored))
		}
	})
}

// A receiver that never succeeds ends in the dead-letter state after MaxAttempts, visible
// to operators; retry puts it back.
func TestDeadLetter(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn func() string) {
		f := newFixture(t, dsn(), -1)
		f.enqueue(t, "m-dead", false)
		cfg := fastConfig()
		runUntil(t, f.worker(cfg), func() bool {
			items, _ := f.st.ListOutbox(context.Background(), store.OutboxDead)
			return len(items) == 1
		})
		dead, _ := f.st.ListOutbox(context.Background(), store.OutboxDead)
		if dead[0].Attempts != cfg.MaxAttempts || dead[0].LastError == "" || f.recv.calls != cfg.MaxAttempts {
			t.Fatalf("dead item %+v after %d calls", dead[0], f.recv.calls)
		}
		// The certificate was issued once, on the first attempt; retries re-send it.
		stored, _ := f.st.CertificatesByCHR(context.Background(), "UTDVA00001")
		if len(stored) != 1 {
			t.Fatalf("%d certificates stored", len(stored))
		}
		// The operator retries once the receiver is back.
		f.recv.mu.Lock()
		f.recv.failFirst = 0
		f.recv.mu.Unlock()
		if err := f.st.RetryDead(context.Background(), dead[0].ID); err != nil {
			t.Fatal(err)
		}
		runUntil(t, f.worker(cfg), func() bool {
			items, _ := f.st.ListOutbox(context.Background(), store.OutboxDone)
			return len(items) == 1
		})
		if len(f.recv.got["m-dead"]) != 1 {
			t.Fatalf("after retry: %+v", f.recv.got)
		}
		events, _ := f.st.ListAudit(context.Background(), 10)
		found := false
		for _, e := range events {
			found = found || e.Action == "outbox.dead"
		}
		if !found {
			t.Fatal("no audit event for the dead letter")
		}
	})
}

// Held requests are not processed until approved; a rejection is delivered as
// failure_request_not_accepted and issues nothing.
func TestApproveReject(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn func() string) {
		f := newFixture(t, dsn(), 0)
		ctx := context.Background()
		f.enqueue(t, "m-approve", true)
		f.enqueue(t, "m-reject", true)
		pending, err := f.st.PendingApprovals(ctx)
		if err != nil || len(pending) != 2 {
			t.Fatalf("pending %d %v", len(pending), err)
		}
		// Nothing is due while held.
		if _, err := f.st.ClaimOutbox(ctx, "probe", time.Now(), time.Second); err == nil {
			t.Fatal("a held item was claimable")
		}
		if err := f.st.ApproveMessage(ctx, pending[0].ID, "officer"); err != nil {
			t.Fatal(err)
		}
		if err := f.st.RejectMessage(ctx, pending[1].ID, "officer", string(authority.FailureRequestNotAccepted)); err != nil {
			t.Fatal(err)
		}
		if err := f.st.ApproveMessage(ctx, pending[1].ID, "officer"); err == nil {
			t.Fatal("a decided request was decided again")
		}
		runUntil(t, f.worker(fastConfig()), func() bool {
			items, _ := f.st.ListOutbox(ctx, store.OutboxDone)
			return len(items) == 2
		})
		if got := f.recv.got["m-approve"]; len(got) != 1 || got[0].StatusInfo != "ok_cert_available" {
			t.Fatalf("approved: %+v", got)
		}
		if got := f.recv.got["m-reject"]; len(got) != 1 || got[0].StatusInfo != "failure_request_not_accepted" || len(got[0].Certificates) != 0 {
			t.Fatalf("rejected: %+v", got)
		}
		stored, _ := f.st.CertificatesByCHR(ctx, "UTDVA00001")
		if len(stored) != 1 {
			t.Fatalf("%d certificates stored", len(stored))
		}
	})
}

// Many items, several workers on one database (two Worker values, as two instances would
// run): every callback delivered exactly once, every certificate issued once.
func TestConcurrentWorkersDeliverOnce(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn func() string) {
		f := newFixture(t, dsn(), 0)
		const n = 30
		for i := range n {
			h := &store.Holder{Country: "UT", Mnemonic: fmt.Sprintf("DV%02d", i), Role: store.RoleDVDomestic, Status: store.HolderActive}
			if err := f.st.CreateHolder(context.Background(), h); err != nil {
				t.Fatal(err)
			}
			f.enqueueFor(t, h, fmt.Sprintf("c-%d", i), false)
		}
		f.runInstances(t, fastConfig(), 60*time.Second, fmt.Sprintf("all %d items delivered", n), func() bool { return f.done() == n })
		for i := range n {
			got := f.recv.got[fmt.Sprintf("c-%d", i)]
			if len(got) != 1 || got[0].StatusInfo != "ok_cert_available" {
				t.Fatalf("c-%d delivered %d times: %+v", i, len(got), got)
			}
			stored, _ := f.st.CertificatesByCHR(context.Background(), fmt.Sprintf("UTDV%02d00001", i))
			if len(stored) != 1 {
				t.Fatalf("%d certificates stored for c-%d", len(stored), i)
			}
		}
	})
}

// A delivery that takes longer than the lease keeps its item: the worker renews the lease while
// it waits, so a second instance polling all along does not take the item and deliver it again.
func TestSlowDeliveryKeepsItsLease(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn func() string) {
		f := newFixture(t, dsn(), 0)
		f.recv.delay = 4500 * time.Millisecond // 1.5 leases
		f.enqueue(t, "slow-1", false)
		cfg := fastConfig()
		cfg.Lease = minLease
		cfg.CallTimeout = 10 * time.Second
		f.runInstances(t, cfg, 30*time.Second, "the slow item delivered", func() bool { return f.done() == 1 })
		f.recv.mu.Lock()
		defer f.recv.mu.Unlock()
		if f.recv.calls != 1 || len(f.recv.got["slow-1"]) != 1 {
			t.Fatalf("%d deliveries, want 1", f.recv.calls)
		}
	})
}

// A stored message in the document/literal SPOC protocol (a CVCA certificate notification
// to a partner SPOC) is delivered as the operation its element names, and its answer read.
func TestDeliverDocumentLiteral(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "eacgate.db"), 0)
	var got []msg.Message
	var mu sync.Mutex
	partner := httptest.NewTLSServer(&server.Endpoint{Protocols: server.SPOCProtocols,
		Service: serviceFunc(func(_ context.Context, _ msg.Caller, m msg.Message) msg.Answer {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, m)
			return msg.Answer{ReturnCode: authority.OKReceivedCorrectly}
		})})
	defer partner.Close()
	payload, err := server.EncodeRequest(server.SPOCProtocols[0], msg.Message{Operation: "SendCertificates", CallerID: "UT",
		StatusInfo: string(authority.NewCertificateAvailableNotification), Certificates: [][]byte{f.cvca.Certificate().Raw}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.EnqueueOutbox(context.Background(), &store.OutboxItem{Kind: store.OutboxDeliver, TargetURL: partner.URL, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	w := f.worker(fastConfig())
	w.HTTP = partner.Client()
	runUntil(t, w, func() bool { return f.done() == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Operation != "SendCertificates" || got[0].StatusInfo != string(authority.NewCertificateAvailableNotification) ||
		len(got[0].Certificates) != 1 {
		t.Fatalf("partner got %+v", got)
	}
}

func TestBackoff(t *testing.T) {
	for n := 1; n <= 40; n++ {
		d := Backoff(time.Second, time.Minute, n)
		full := time.Duration(float64(time.Second) * float64(uint64(1)<<min(n-1, 30)))
		if full > time.Minute {
			full = time.Minute
		}
		if d < full/2 || d > full {
			t.Fatalf("attempt %d: %v outside [%v, %v]", n, d, full/2, full)
		}
	}
}

// failingTransport refuses every request: a client that must not be the one used.
type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("the default client was used")
}

// A delivery to a URL ClientFor knows (a partner SPOC) goes over the client it returns.
func TestClientForTarget(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "eacgate.db"), 0)
	f.enqueue(t, "m-partner", false)
	w := f.worker(fastConfig())
	w.HTTP = &http.Client{Transport: failingTransport{}}
	var asked atomic.Int32
	w.ClientFor = func(url string) *http.Client {
		asked.Add(1)
		if strings.HasPrefix(url, f.server.URL) {
			return f.server.Client()
		}
		return nil
	}
	runUntil(t, w, func() bool {
		items, _ := f.st.ListOutbox(context.Background(), store.OutboxDone)
		return len(items) == 1
	})
	if asked.Load() == 0 || len(f.recv.got["m-partner"]) != 1 {
		t.Fatalf("asked %d times, received %d", asked.Load(), len(f.recv.got["m-partner"]))
	}
}
