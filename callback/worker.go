// Package callback is the durable asynchronous side of the gateway: workers that take
// accepted requests from the store's outbox, process them through the authority and deliver
// the answers (SendCertificates) to the requesters' responseURLs with retries, and the
// receiving side for the SendCertificates that answer requests this gateway sent.
//
// Nothing acknowledged is lost: a request is acknowledged only after it and its outbox item
// are committed (ra.Registry.Enqueue); workers lease items (FOR UPDATE SKIP LOCKED on
// PostgreSQL, so several instances share one queue), and an item whose worker died is taken
// again when its lease runs out (on SQLite, where one process works the queue, at once when
// the gateway restarts). Errors of our own (keystore, database) are retried without
// counting as delivery attempts; a target may have only Config.TargetConcurrency deliveries
// in flight, so that silent receivers cannot hold every worker. Issuance is at most once
// per message (store.AnswerMessage refuses a second answer, and the certificate goes with
// the answer in one transaction); delivery is at least once, the receiver being idempotent
// by messageID.
package callback

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/msg"
	"eacgate/server"
	"eacgate/store"
)

// Config tunes the workers. Zero values take the defaults in parentheses.
type Config struct {
	Workers        int           `yaml:"workers"`         // concurrent deliveries per instance (4)
	MaxAttempts    int           `yaml:"max_attempts"`    // delivery attempts before the dead-letter state (12)
	BackoffInitial time.Duration `yaml:"backoff_initial"` // delay after the first failure (10s)
	BackoffMax     time.Duration `yaml:"backoff_max"`     // cap of the exponential delay (1h)
	Lease          time.Duration `yaml:"lease"`           // a claimed item is reserved this long, renewed every third of it while worked on (30s)
	PollInterval   time.Duration `yaml:"poll_interval"`   // idle wait between queue polls (1s)
	CallTimeout    time.Duration `yaml:"call_timeout"`    // one delivery's HTTP timeout (30s)
	ShutdownGrace  time.Duration `yaml:"shutdown_grace"`  // in-flight work may finish this long after shutdown (10s)
	// TargetConcurrency bounds the deliveries in flight per target (scheme, host and port)
	// in this instance, so that slow or silent receivers hold at most that many workers (2).
	TargetConcurrency int `yaml:"target_concurrency"`
	// TargetBusyDelay: an item whose target is at its bound goes back to the queue for this
	// long, not counted as an attempt (5s).
	TargetBusyDelay time.Duration `yaml:"target_busy_delay"`
	// ProcessingBackoffMax caps the retry delay after failures of our own (keystore,
	// database), which are retried without end and never count as delivery attempts (5m).
	ProcessingBackoffMax time.Duration `yaml:"processing_backoff_max"`
	// ClaimBackoffMax caps the wait between queue polls while the database fails (30s).
	ClaimBackoffMax time.Duration `yaml:"claim_backoff_max"`
}

func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 12
	}
	if c.TargetConcurrency <= 0 {
		c.TargetConcurrency = 2
	}
	def(&c.BackoffInitial, 10*time.Second)
	def(&c.BackoffMax, time.Hour)
	def(&c.Lease, 30*time.Second)
	def(&c.PollInterval, time.Second)
	def(&c.CallTimeout, 30*time.Second)
	def(&c.ShutdownGrace, 10*time.Second)
	def(&c.TargetBusyDelay, 5*time.Second)
	def(&c.ProcessingBackoffMax, 5*time.Minute)
	def(&c.ClaimBackoffMax, 30*time.Second)
	if c.Lease < minLease {
		c.Lease = minLease
	}
	return c
}

// minLease keeps the lease renewals (every third of it) well apart from database latency.
const minLease = 3 * time.Second

// Processor decides a request that was accepted for asynchronous processing.
type Processor interface {
	// Process returns the answer's return code and, for ok_cert_available, the certificate
	// issued (not yet stored: the worker stores it with the answer). An error means the
	// request could not be decided now (a database or HSM failure) and is tried again.
	Process(ctx context.Context, m *store.Message) (authority.ReturnCode, *store.Certificate, error)
}

// Worker runs the outbox: Config.Workers goroutines claiming due items.
type Worker struct {
	Store     *store.Store
	Processor Processor
	// HTTP delivers; its Transport carries the TLS configuration (client certificate, trust)
	// and the dial guard (server.NetworkPolicy) of requester-supplied targets.
	HTTP *http.Client
	// ClientFor, when set, may return the client for a delivery's target URL instead of HTTP
	// (a partner SPOC's URL: its own trust and server-certificate checks), or nil. Such a
	// target is operator configuration and not subject to CheckTarget.
	ClientFor func(targetURL string) *http.Client
	// CheckTarget, when set, is the responseURL policy, applied again before each delivery
	// to a requester-supplied URL: a URL that no longer passes is dead-lettered.
	CheckTarget func(targetURL string) error
	Config      Config
	Logger      *slog.Logger
	// ID names this instance in leases (default host:pid:random).
	ID string
	// Country is our country code, the callerID of callbacks to foreign SPOCs.
	Country string
	// Forwards resends requests the SPOC queued for a foreign SPOC (kind forward); nil
	// without the SPOC role.
	Forwards interface {
		Resend(ctx context.Context, item *store.OutboxItem) error
	}
	// Now and After are the clock (nil: the system's).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time

	stats struct {
		processingErrors, deliveryFailures, claimErrors, busy atomic.Int64
	}
}

// Stats are the worker's counters since it was created, for monitoring.
type Stats struct {
	// ProcessingErrors are failures of our own (keystore, database) while deciding or
	// preparing an item: retried without counting as delivery attempts. A rising count
	// means an item cannot be processed: alert on it.
	ProcessingErrors int64
	// DeliveryFailures are failed delivery attempts (counted towards max_attempts).
	DeliveryFailures int64
	// ClaimErrors are failed queue polls (the database did not answer).
	ClaimErrors int64
	// TargetBusy counts items put back because their target had too many deliveries in flight.
	TargetBusy int64
}

// Stats returns the worker's counters.
func (w *Worker) Stats() Stats {
	return Stats{ProcessingErrors: w.stats.processingErrors.Load(), DeliveryFailures: w.stats.deliveryFailures.Load(),
		ClaimErrors: w.stats.claimErrors.Load(), TargetBusy: w.stats.busy.Load()}
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Worker) after(d time.Duration) <-chan time.Time {
	if w.After != nil {
		return w.After(d)
	}
	return time.After(d)
}

// run is the state of one Run shared by its goroutines.
type run struct {
	*Worker
	cfg     Config
	log     *slog.Logger
	targets targetSlots
	// processing counts consecutive processing failures (reset by a success): the retry
	// delay of our own faults grows while they last, whatever the item.
	processing atomic.Int64
	claims     claimHealth
}

// Run processes the outbox until ctx is cancelled. Work in progress then gets
// Config.ShutdownGrace to finish; what does not finish is returned to the queue unchanged.
func (w *Worker) Run(ctx context.Context) {
	cfg := w.Config.withDefaults()
	log := w.logger()
	id := w.ID
	if id == "" {
		id = instanceID()
	}
	// On SQLite, the leases of the previous process that ran workers on this file (it died)
	// are taken back now rather than after they run out.
	n, unlock, err := w.Store.TakeBackOrphanedLeases(ctx, id)
	switch {
	case err != nil:
		log.Warn("leases of a previous run not taken back (they run out)", "err", err)
	case n > 0:
		log.Info("outbox items leased by a previous run taken back", "items", n)
	}
	defer unlock()
	r := &run{Worker: w, cfg: cfg, log: log, targets: targetSlots{max: cfg.TargetConcurrency, n: map[string]int{}}}
	// work is cancelled ShutdownGrace after ctx: deliveries in flight may finish.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	go func() {
		<-ctx.Done()
		t := time.NewTimer(cfg.ShutdownGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancelWork()
		case <-work.Done():
		}
	}()
	var wg sync.WaitGroup
	for i := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, work, fmt.Sprintf("%s/%d", id, i))
		}()
	}
	wg.Wait()
	log.Info("callback workers stopped", "instance", id)
}

func (w *Worker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

// claimHealth logs the queue polls' failures once per change of state (failing, working
// again) instead of once per poll.
type claimHealth struct {
	mu      sync.Mutex
	failing bool
	errors  int
}

func (h *claimHealth) failed(log *slog.Logger, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errors++
	if !h.failing {
		h.failing = true
		log.Error("claim outbox item failed; workers back off until the database answers", "err", err)
	}
}

func (h *claimHealth) ok(log *slog.Logger) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failing {
		log.Info("claim outbox item works again", "failedPolls", h.errors)
		h.failing, h.errors = false, 0
	}
}

func (r *run) loop(ctx, work context.Context, name string) {
	failures := 0 // consecutive claim errors of this goroutine
	for ctx.Err() == nil {
		item, err := r.Store.ClaimOutbox(ctx, name, r.now(), r.cfg.Lease)
		wait := jitter(r.cfg.PollInterval)
		switch {
		case err == nil:
			failures = 0
			r.claims.ok(r.log)
			itemLog := r.log.With("outbox", item.ID, "kind", item.Kind, "worker", name)
			stop := r.keepLease(work, name, item.ID, itemLog)
			r.handle(work, name, item, itemLog)
			stop()
			continue
		case errors.Is(err, store.ErrNotFound):
			failures = 0
			r.claims.ok(r.log)
		case ctx.Err() == nil:
			failures++
			r.stats.claimErrors.Add(1)
			r.claims.failed(r.log, err)
			r.log.Debug("claim outbox item", "err", err, "worker", name, "consecutive", failures)
			wait = Backoff(r.cfg.PollInterval, r.cfg.ClaimBackoffMax, failures)
		}
		select {
		case <-ctx.Done():
		case <-r.after(wait):
		}
	}
}

// keepLease renews the lease on a claimed item every third of Config.Lease while it is worked
// on, so that the lease can be short (a crashed instance's items are taken again soon) and
// still not run out under a slow delivery. The returned function stops the renewals.
func (r *run) keepLease(ctx context.Context, name string, id int64, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := r.Store.ExtendOutboxLease(ctx, id, name, r.now().Add(r.cfg.Lease))
			switch {
			case errors.Is(err, store.ErrConflict):
				// Finished in the meantime, or the lease ran out and another worker has it.
				log.Debug("lease not renewed", "err", err)
				return
			case err != nil && ctx.Err() == nil:
				log.Warn("renew lease (retried at the next tick)", "err", err)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// processingFailedPrefix starts the last_error of an item deferred by a failure of our own.
const processingFailedPrefix = "processing failed: "

// errPermanent marks a failure that a retry cannot mend (the item is dead at once).
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

// handle processes (if needed) and delivers one claimed item. ctx is the work context: when
// it is cancelled (shutdown grace over) the item is released, not counted as failed.
func (r *run) handle(ctx context.Context, name string, item *store.OutboxItem, log *slog.Logger) {
	key := targetKey(item.TargetURL)
	if !r.targets.acquire(key) {
		// Other deliveries to this target are in flight (a slow or silent receiver): the
		// item waits behind the other targets' items instead of holding a worker.
		r.stats.busy.Add(1)
		if err := r.Store.DeferOutbox(ctx, item.ID, name, "", r.now().Add(jitter(r.cfg.TargetBusyDelay))); err != nil {
			log.Warn("put back an item of a busy target (its lease runs out)", "err", err)
		}
		log.Debug("target busy: item put back", "target", key)
		return
	}
	defer r.targets.release(key)
	if item.Kind == store.OutboxForward {
		r.forward(ctx, name, item, log)
		return
	}
	hc, configured := r.HTTP, false
	if r.ClientFor != nil {
		if c := r.ClientFor(item.TargetURL); c != nil {
			hc, configured = c, true
		}
	}
	if !configured && r.CheckTarget != nil {
		// The policy may have changed since the request was accepted.
		if err := r.CheckTarget(item.TargetURL); err != nil {
			r.failed(ctx, name, item, errPermanent{fmt.Errorf("%w: %v", server.ErrForbiddenAddress, err)}, log)
			return
		}
	}
	payload, op, proto, err := r.payload(ctx, item, log)
	if err != nil {
		var perm errPermanent
		if errors.As(err, &perm) {
			r.failed(ctx, name, item, err, log)
		} else {
			r.processingFailed(ctx, name, item, err, log)
		}
		return
	}
	if r.processing.Swap(0) > 0 {
		// Processing works again (the HSM or the database is back): the items deferred by
		// our own faults are due now, not at the end of their backoff.
		if n, err := r.Store.ResumeDeferred(ctx, r.now(), processingFailedPrefix); err != nil {
			log.Warn("bring forward items deferred by processing failures", "err", err)
		} else if n > 0 {
			log.Info("processing works again: deferred items are due now", "items", n)
		}
	}
	callCtx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	a, err := server.Call(callCtx, hc, item.TargetURL, proto, op, payload)
	cancel()
	switch {
	case errors.Is(err, server.ErrForbiddenAddress):
		r.failed(ctx, name, item, errPermanent{err}, log)
	case err != nil:
		r.failed(ctx, name, item, err, log)
	case a.ReturnCode == authority.OKReceivedCorrectly:
		if err := r.Store.MarkDelivered(ctx, item.ID, name); err != nil {
			log.Error("mark delivered", "err", err)
			return
		}
		log.Info("callback delivered", "target", item.TargetURL, "attempt", item.Attempts+1)
	case a.ReturnCode == authority.FailureInternalError:
		r.failed(ctx, name, item, fmt.Errorf("receiver answered %s", a.ReturnCode), log)
	default:
		// failure_messageID_unknown, failure_syntax: the same bytes will not fare better.
		r.failed(ctx, name, item, errPermanent{fmt.Errorf("receiver refused the callback: %s", a.ReturnCode)}, log)
	}
}

// forward resends a queued foreign request through the SPOC.
func (r *run) forward(ctx context.Context, name string, item *store.OutboxItem, log *slog.Logger) {
	if r.Forwards == nil {
		r.failed(ctx, name, item, errors.New("no SPOC in this instance"), log)
		return
	}
	callCtx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	err := r.Forwards.Resend(callCtx, item)
	cancel()
	if err != nil {
		r.failed(ctx, name, item, err, log)
		return
	}
	if err := r.Store.MarkDelivered(ctx, item.ID, name); err != nil {
		log.Error("mark forwarded", "err", err)
		return
	}
	log.Info("queued foreign request forwarded", "target", item.TargetURL, "attempt", item.Attempts+1)
}

// payload returns the bytes to deliver, the operation and its protocol. A process item's
// message is decided first if it was not yet, and its SendCertificates built and stored once.
func (w *Worker) payload(ctx context.Context, item *store.OutboxItem, log *slog.Logger) ([]byte, string, server.Protocol, error) {
	if item.Kind != store.OutboxProcess {
		env, err := server.ParseEnvelope(item.Payload)
		if err != nil {
			return nil, "", server.Protocol{}, errPermanent{fmt.Errorf("stored payload: %w", err)}
		}
		p, ok := server.ProtocolByNamespace(env.Operation.Space)
		if !ok {
			return nil, "", server.Protocol{}, errPermanent{fmt.Errorf("stored payload: unknown namespace %s", env.Operation.Space)}
		}
		// The operation, not the element: document/literal names it OperationRequest.
		_, op, ok := p.NewRequest(env.Operation.Local)
		if !ok {
			return nil, "", server.Protocol{}, errPermanent{fmt.Errorf("stored payload: unknown element %s", env.Operation.Local)}
		}
		return item.Payload, op, p, nil
	}
	if item.MessageRowID == nil {
		return nil, "", server.Protocol{}, errPermanent{errors.New("process item without a message")}
	}
	m, err := w.Store.MessageByID(ctx, *item.MessageRowID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", server.Protocol{}, errPermanent{err}
	}
	if err != nil {
		return nil, "", server.Protocol{}, err
	}
	proto := server.CallbackProtocol(m.Protocol)
	if len(item.Payload) > 0 {
		return item.Payload, "SendCertificates", proto, nil
	}
	if m.State != store.MessageAnswered {
		if m.Approval == store.ApprovalPending {
			return nil, "", proto, errors.New("message still waits for approval")
		}
		code, cert, err := w.Processor.Process(ctx, m)
		if err != nil {
			return nil, "", proto, fmt.Errorf("process message %d: %w", m.ID, err)
		}
		var result []byte
		if cert != nil {
			result = cert.Raw
		}
		// The answer and the bytes that deliver it are stored in one transaction.
		payload, err := w.sendCertificates(proto, m.MessageID, code, result)
		if err != nil {
			return nil, "", proto, err
		}
		err = w.Store.AnswerMessageToDeliver(ctx, m.ID, string(code), result, item.ID, payload, cert)
		switch {
		case errors.Is(err, store.ErrConflict):
			cerr := err
			if m, err = w.Store.MessageByID(ctx, m.ID); err != nil {
				return nil, "", proto, err
			}
			if m.State != store.MessageAnswered { // the item, not the message, moved on
				return nil, "", proto, cerr
			}
			log.Warn("message was answered by another worker; delivering that answer", "message", m.ID)
		case err != nil:
			return nil, "", proto, err
		default:
			log.Info("asynchronous request decided", "message", m.ID, "messageID", m.MessageID, "code", code)
			return payload, "SendCertificates", proto, nil
		}
	}
	payload, err := w.sendCertificates(proto, m.MessageID, authority.ReturnCode(m.ReturnCode), m.Result)
	if err != nil {
		return nil, "", proto, errPermanent{fmt.Errorf("stored answer of message %d: %w", m.ID, err)}
	}
	if err := w.Store.SetOutboxPayload(ctx, item.ID, payload); err != nil {
		return nil, "", proto, err
	}
	return payload, "SendCertificates", proto, nil
}

// sendCertificates builds the SendCertificates message that delivers an answer (its
// certificates: result, the concatenated encodings).
func (w *Worker) sendCertificates(proto server.Protocol, messageID string, code authority.ReturnCode, result []byte) ([]byte, error) {
	send := msg.Message{Operation: "SendCertificates", MessageID: messageID, CallerID: w.Country, StatusInfo: statusInfo(proto, code)}
	if len(result) > 0 {
		tlvs, err := cvc.ParseSequence(result)
		if err != nil {
			return nil, err
		}
		for _, t := range tlvs {
			send.Certificates = append(send.Certificates, t.Raw)
		}
	}
	return server.EncodeRequest(proto, send)
}

// statusInfo maps a return code to SendCertificates' statusInfo enumeration of the
// protocol (TR-03129 v1.0 and CSN 36 9791 know fewer failure codes than v1.1).
func statusInfo(p server.Protocol, code authority.ReturnCode) string {
	return string(server.StatusInfoFor(p, code))
}

// release gives an item back unchanged when the work context ended (shutdown grace over):
// the attempt was cut short, not failed. It reports whether it did so.
func (r *run) release(ctx context.Context, name string, item *store.OutboxItem, log *slog.Logger) bool {
	if ctx.Err() == nil {
		return false
	}
	rel, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.Store.ReleaseOutbox(rel, item.ID, name); err != nil {
		log.Error("release outbox item at shutdown (its lease will run out)", "err", err)
	}
	return true
}

// processingFailed records a failure of our own (keystore, database) while deciding or
// preparing an item: retried after a growing delay, not counted as a delivery attempt, so
// that our faults never dead-letter a request the receiver could take.
func (r *run) processingFailed(ctx context.Context, name string, item *store.OutboxItem, cause error, log *slog.Logger) {
	if r.release(ctx, name, item, log) {
		return
	}
	r.stats.processingErrors.Add(1)
	n := r.processing.Add(1)
	next := r.now().Add(Backoff(r.cfg.BackoffInitial, r.cfg.ProcessingBackoffMax, int(min(n, 64))))
	if err := r.Store.DeferOutbox(ctx, item.ID, name, truncate(processingFailedPrefix+cause.Error()), next); err != nil {
		log.Error("record processing failure (the item's lease runs out)", "err", err, "cause", cause)
		return
	}
	log.Error("processing failed (our fault, not a delivery attempt); will retry", "err", cause,
		"consecutive", n, "next", next.UTC().Format(time.RFC3339))
}

// failed records a failed delivery attempt: retried after an exponential, jittered delay, or
// dead when permanent (errPermanent) or out of attempts. An attempt cut short by shutdown
// is released instead.
func (r *run) failed(ctx context.Context, name string, item *store.OutboxItem, cause error, log *slog.Logger) {
	if r.release(ctx, name, item, log) {
		return
	}
	r.stats.deliveryFailures.Add(1)
	max := r.cfg.MaxAttempts
	var perm errPermanent
	if errors.As(cause, &perm) {
		max = item.Attempts + 1
	}
	next := r.now().Add(Backoff(r.cfg.BackoffInitial, r.cfg.BackoffMax, item.Attempts+1))
	if err := r.Store.MarkFailed(ctx, item.ID, name, truncate("delivery failed: "+cause.Error()), next, max); err != nil {
		log.Error("record failed delivery", "err", err, "cause", cause)
		return
	}
	if item.Attempts+1 >= max {
		log.Error("callback undeliverable: dead-lettered (eacgate outbox retry)", "target", item.TargetURL, "attempts", item.Attempts+1, "err", cause)
		if _, err := r.Store.AppendAudit(ctx, store.AuditEvent{Actor: "callback", Action: "outbox.dead",
			Target: fmt.Sprintf("outbox:%d", item.ID), Source: item.TargetURL, Outcome: "dead"}); err != nil {
			log.Error("audit", "err", err)
		}
		return
	}
	log.Warn("delivery failed; will retry", "target", item.TargetURL, "attempt", item.Attempts+1, "next", next.UTC().Format(time.RFC3339), "err", cause)
}

// truncate bounds an error text stored with an item.
func truncate(msg string) string {
	if len(msg) > 500 {
		return msg[:500]
	}
	return msg
}

// targetSlots counts the deliveries in flight per target.
type targetSlots struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

func (t *targetSlots) acquire(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n[key] >= t.max {
		return false
	}
	t.n[key]++
	return true
}

func (t *targetSlots) release(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n[key]--; t.n[key] <= 0 {
		delete(t.n, key)
	}
}

// targetKey names a delivery's target for the concurrency bound: scheme://host:port.
func targetKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// Backoff is the delay before attempt n+1 after n failures: initial·2^(n-1), capped at max,
// with "equal jitter" (a uniformly random value between half and all of it), so that
// receivers recovering from an outage are not hit by every sender at once.
func Backoff(initial, max time.Duration, n int) time.Duration {
	d := float64(initial) * math.Pow(2, float64(n-1))
	if d > float64(max) || math.IsInf(d, 0) {
		d = float64(max)
	}
	half := time.Duration(d / 2)
	return half + time.Duration(randFloat()*float64(half))
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(randFloat()*float64(d/2))
}

func randFloat() float64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53)
}

func instanceID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}
