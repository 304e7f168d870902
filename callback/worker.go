// Package callback is the durable asynchronous side of the gateway: workers that take
// accepted requests from the store's outbox, process them through the authority and deliver
// the answers (SendCertificates) to the requesters' responseURLs with retries, and the
// receiving side for the SendCertificates that answer requests this gateway sent.
//
// Nothing acknowledged is lost: a request is acknowledged only after it and its outbox item
// are committed (server.Registry.Enqueue); workers lease items (FOR UPDATE SKIP LOCKED on
// PostgreSQL, so several instances share one queue), and an item whose worker died is taken
// again when its lease runs out. Issuance is at most once per message (store.AnswerMessage
// refuses a second answer, and the certificate goes with the answer in one transaction);
// delivery is at least once, the receiver being idempotent by messageID.
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
	"net/http"
	"os"
	"sync"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
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
	def(&c.BackoffInitial, 10*time.Second)
	def(&c.BackoffMax, time.Hour)
	def(&c.Lease, 30*time.Second)
	def(&c.PollInterval, time.Second)
	def(&c.CallTimeout, 30*time.Second)
	def(&c.ShutdownGrace, 10*time.Second)
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
	// HTTP delivers; its Transport carries the TLS configuration (client certificate, trust).
	HTTP *http.Client
	// ClientFor, when set, may return the client for a delivery's target URL instead of HTTP
	// (a partner SPOC's URL: its own trust and server-certificate checks), or nil.
	ClientFor func(targetURL string) *http.Client
	Config    Config
	Logger    *slog.Logger
	// ID names this instance in leases (default host:pid:random).
	ID string
	// Country is our country code, the callerID of callbacks to foreign SPOCs.
	Country string
	// Forwards resends requests the SPOC queued for a foreign SPOC (kind forward); nil
	// without the SPOC role.
	Forwards interface {
		Resend(ctx context.Context, item *store.OutboxItem) error
	}
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
			w.loop(ctx, work, cfg, fmt.Sprintf("%s/%d", id, i), log)
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

func (w *Worker) loop(ctx, work context.Context, cfg Config, name string, log *slog.Logger) {
	for ctx.Err() == nil {
		item, err := w.Store.ClaimOutbox(ctx, name, time.Now(), cfg.Lease)
		if err == nil {
			itemLog := log.With("outbox", item.ID, "kind", item.Kind, "worker", name)
			stop := w.keepLease(work, cfg, name, item.ID, itemLog)
			w.handle(work, cfg, name, item, itemLog)
			stop()
			continue
		}
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			log.Error("claim outbox item", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(jitter(cfg.PollInterval)):
		}
	}
}

// keepLease renews the lease on a claimed item every third of Config.Lease while it is worked
// on, so that the lease can be short (a crashed instance's items are taken again soon) and
// still not run out under a slow delivery. The returned function stops the renewals.
func (w *Worker) keepLease(ctx context.Context, cfg Config, name string, id int64, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := w.Store.ExtendOutboxLease(ctx, id, name, time.Now().Add(cfg.Lease))
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

// handle processes (if needed) and delivers one claimed item. ctx is the work context: when
// it is cancelled (shutdown grace over) the item is released, not counted as failed.
func (w *Worker) handle(ctx context.Context, cfg Config, name string, item *store.OutboxItem, log *slog.Logger) {
	if item.Kind == store.OutboxForward {
		w.forward(ctx, cfg, name, item, log)
		return
	}
	payload, op, proto, err := w.payload(ctx, item, log)
	if err != nil {
		w.failed(ctx, cfg, name, item, err, false, log)
		return
	}
	callCtx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	hc := w.HTTP
	if w.ClientFor != nil {
		if c := w.ClientFor(item.TargetURL); c != nil {
			hc = c
		}
	}
	a, err := server.Call(callCtx, hc, item.TargetURL, proto, op, payload)
	cancel()
	switch {
	case err != nil:
		w.failed(ctx, cfg, name, item, err, false, log)
	case a.ReturnCode == authority.OKReceivedCorrectly:
		if err := w.Store.MarkDelivered(ctx, item.ID); err != nil {
			log.Error("mark delivered", "err", err)
			return
		}
		log.Info("callback delivered", "target", item.TargetURL, "attempt", item.Attempts+1)
	case a.ReturnCode == authority.FailureInternalError:
		w.failed(ctx, cfg, name, item, fmt.Errorf("receiver answered %s", a.ReturnCode), false, log)
	default:
		// failure_messageID_unknown, failure_syntax: the same bytes will not fare better.
		w.failed(ctx, cfg, name, item, fmt.Errorf("receiver refused the callback: %s", a.ReturnCode), true, log)
	}
}

// forward resends a queued foreign request through the SPOC.
func (w *Worker) forward(ctx context.Context, cfg Config, name string, item *store.OutboxItem, log *slog.Logger) {
	if w.Forwards == nil {
		w.failed(ctx, cfg, name, item, errors.New("no SPOC in this instance"), false, log)
		return
	}
	callCtx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	err := w.Forwards.Resend(callCtx, item)
	cancel()
	if err != nil {
		w.failed(ctx, cfg, name, item, err, false, log)
		return
	}
	if err := w.Store.MarkDelivered(ctx, item.ID); err != nil {
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
			return nil, "", server.Protocol{}, fmt.Errorf("stored payload: %w", err)
		}
		p, ok := server.ProtocolByNamespace(env.Operation.Space)
		if !ok {
			return nil, "", server.Protocol{}, fmt.Errorf("stored payload: unknown namespace %s", env.Operation.Space)
		}
		// The operation, not the element: document/literal names it OperationRequest.
		_, op, ok := p.NewRequest(env.Operation.Local)
		if !ok {
			return nil, "", server.Protocol{}, fmt.Errorf("stored payload: unknown element %s", env.Operation.Local)
		}
		return item.Payload, op, p, nil
	}
	if item.MessageRowID == nil {
		return nil, "", server.Protocol{}, errors.New("process item without a message")
	}
	m, err := w.Store.MessageByID(ctx, *item.MessageRowID)
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
		return nil, "", proto, fmt.Errorf("stored answer of message %d: %w", m.ID, err)
	}
	if err := w.Store.SetOutboxPayload(ctx, item.ID, payload); err != nil {
		return nil, "", proto, err
	}
	return payload, "SendCertificates", proto, nil
}

// sendCertificates builds the SendCertificates message that delivers an answer (its
// certificates: result, the concatenated encodings).
func (w *Worker) sendCertificates(proto server.Protocol, messageID string, code authority.ReturnCode, result []byte) ([]byte, error) {
	send := server.Message{Operation: "SendCertificates", MessageID: messageID, CallerID: w.Country, StatusInfo: statusInfo(proto, code)}
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
	allowed := []authority.ReturnCode{authority.OKCertAvailable, authority.FailureInnerSignature,
		authority.FailureOuterSignature, authority.FailureSyntax, authority.FailureRequestNotAccepted}
	switch p.Namespace {
	case server.DVProtocols[0].Namespace:
		allowed = append(allowed, authority.FailureExpired, authority.FailureDomainParameters, authority.FailureInternalError,
			authority.FailureForeignCARUnknown, authority.FailureNotForwarded, authority.FailureRequestNotAcceptedForeign)
	case server.SPOCProtocols[0].Namespace:
		allowed = append(allowed, authority.FailureInternalError)
	}
	for _, c := range allowed {
		if c == code {
			return string(c)
		}
	}
	return string(authority.FailureRequestNotAccepted)
}

// failed records a failed attempt: retried after an exponential, jittered delay, or dead
// when permanent or out of attempts. An attempt cut short by shutdown is released instead.
func (w *Worker) failed(ctx context.Context, cfg Config, name string, item *store.OutboxItem, cause error, permanent bool, log *slog.Logger) {
	if ctx.Err() != nil {
		rel, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := w.Store.ReleaseOutbox(rel, item.ID, name); err != nil {
			log.Error("release outbox item at shutdown (its lease will run out)", "err", err)
		}
		return
	}
	max := cfg.MaxAttempts
	if permanent {
		max = item.Attempts + 1
	}
	next := time.Now().Add(Backoff(cfg.BackoffInitial, cfg.BackoffMax, item.Attempts+1))
	msg := cause.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	if err := w.Store.MarkFailed(ctx, item.ID, msg, next, max); err != nil {
		log.Error("record failed delivery", "err", err, "cause", cause)
		return
	}
	if item.Attempts+1 >= max {
		log.Error("callback undeliverable: dead-lettered (eacgate outbox retry)", "target", item.TargetURL, "attempts", item.Attempts+1, "err", cause)
		if _, err := w.Store.AppendAudit(ctx, store.AuditEvent{Actor: "callback", Action: "outbox.dead",
			Target: fmt.Sprintf("outbox:%d", item.ID), Source: item.TargetURL, Outcome: "dead"}); err != nil {
			log.Error("audit", "err", err)
		}
		return
	}
	log.Warn("callback delivery failed; will retry", "target", item.TargetURL, "attempt", item.Attempts+1, "next", next.UTC().Format(time.RFC3339), "err", cause)
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
