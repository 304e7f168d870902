package auditlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"eacgate/store"
)

// Log is the keyed audit log of one store: it checkpoints, verifies and exports it.
type Log struct {
	// Store must use Key's MAC (store.UseAuditKey(Key.MAC())).
	Store *store.Store
	Key   *Key
	// HeadFile holds the newest checkpoint outside the database.
	HeadFile string
	// Now is the clock of checkpoints (time.Now when nil).
	Now    func() time.Time
	Logger *slog.Logger
	// mu makes one checkpoint at a time.
	mu sync.Mutex
}

func (l *Log) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Log) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}

// broken wraps store.ErrAuditBroken: the log was tampered with.
func broken(format string, args ...any) error {
	return fmt.Errorf("auditlog: %w: %s", store.ErrAuditBroken, fmt.Sprintf(format, args...))
}

// checkHead checks the head file's checkpoint against the log that ends at last: its
// signature, and that the log still holds its event (a shorter log was cut).
func (l *Log) checkHead(ctx context.Context, head store.AuditCheckpoint, last int64) error {
	if err := l.Key.Public().Verify(head); err != nil {
		return broken("head file %s: %v", l.HeadFile, err)
	}
	if head.Seq > last {
		return broken("the log ends at seq %d but the head file's checkpoint is at seq %d (truncated)", last, head.Seq)
	}
	e, err := l.Store.AuditEventAt(ctx, head.Seq)
	if err != nil {
		return fmt.Errorf("auditlog: head: %w", err)
	}
	if !strings.EqualFold(e.Hash, head.Hash) {
		return broken("seq %d: hash differs from the head file's checkpoint (rewritten)", head.Seq)
	}
	return nil
}

// Checkpoint verifies the events since the last checkpoint (links, hashes, MACs) and the
// head file and only then signs the chain's head, stores the checkpoint and writes it to
// the head file. Without new events it signs nothing and returns the last checkpoint
// (the zero checkpoint for an empty log).
func (l *Log) Checkpoint(ctx context.Context) (store.AuditCheckpoint, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.Store.AuditKeyInUse() {
		return store.AuditCheckpoint{}, errors.New("auditlog: checkpoint: the store does not use the audit key")
	}
	from := store.AuditEvent{Hash: store.GenesisHash}
	last, ok, err := l.Store.LastAuditCheckpoint(ctx)
	if err != nil {
		return store.AuditCheckpoint{}, fmt.Errorf("auditlog: checkpoint: %w", err)
	}
	if ok {
		if err := l.Key.Public().Verify(last); err != nil {
			return store.AuditCheckpoint{}, broken("stored %v", err)
		}
		if from, err = l.Store.AuditEventAt(ctx, last.Seq); err != nil {
			return store.AuditCheckpoint{}, fmt.Errorf("auditlog: checkpoint: the event of the last checkpoint: %w", err)
		}
		if !strings.EqualFold(from.Hash, last.Hash) {
			return store.AuditCheckpoint{}, broken("seq %d: hash differs from its checkpoint (rewritten)", last.Seq)
		}
	}
	v, err := l.Store.VerifyAuditFrom(ctx, from, nil)
	if err != nil {
		return store.AuditCheckpoint{}, fmt.Errorf("auditlog: checkpoint: %w", err)
	}
	head, haveHead, err := ReadHead(l.HeadFile)
	if err != nil {
		return store.AuditCheckpoint{}, err
	}
	if haveHead {
		if err := l.checkHead(ctx, head, v.Last.Seq); err != nil {
			return store.AuditCheckpoint{}, err
		}
	}
	c := last
	if v.Events > 0 {
		c = l.Key.Sign(v.Last.Seq, v.Last.Hash, l.now())
		if err := l.Store.AddAuditCheckpoint(ctx, c); err != nil {
			return store.AuditCheckpoint{}, fmt.Errorf("auditlog: checkpoint: %w", err)
		}
	}
	if c.Seq > 0 && (!haveHead || head.Seq < c.Seq) {
		if err := WriteHead(l.HeadFile, c); err != nil {
			return store.AuditCheckpoint{}, err
		}
	}
	return c, nil
}

// Run checkpoints at start, every interval and once more when ctx ends (shutdown).
func (l *Log) Run(ctx context.Context, interval time.Duration) {
	l.checkpointLogged(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			l.checkpointLogged(final)
			cancel()
			return
		case <-t.C:
			l.checkpointLogged(ctx)
		}
	}
}

func (l *Log) checkpointLogged(ctx context.Context) {
	c, err := l.Checkpoint(ctx)
	switch {
	case errors.Is(err, store.ErrAuditBroken):
		l.logger().Error("audit: the audit log failed verification: no checkpoint signed", "err", err)
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		// Shutdown interrupted a periodic checkpoint; Run signs the final one.
		l.logger().Debug("audit: checkpoint interrupted", "err", err)
	case err != nil:
		l.logger().Error("audit: checkpoint", "err", err)
	default:
		l.logger().Debug("audit: checkpoint", "seq", c.Seq)
	}
}

// Report is what Verify found.
type Report struct {
	// Events counts the events verified, Unkeyed those of them written before the audit key.
	Events, Unkeyed int
	// Checkpoints counts the signed checkpoints verified.
	Checkpoints int
	// Head is the head file's checkpoint (zero when there is none yet).
	Head store.AuditCheckpoint
	// Uncovered counts the events after the last checkpoint (not yet signed).
	Uncovered int64
}

// Verify checks the whole log online: the chain and every MAC (the store's
// VerifyAuditFrom), every stored checkpoint's signature and that the log still has its
// (seq, hash), and the head file (its signature, and that the log reaches it: a cut tail).
// A tampered log is an error wrapping store.ErrAuditBroken.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	var r Report
	if !l.Store.AuditKeyInUse() {
		return r, errors.New("auditlog: verify: the store does not use the audit key")
	}
	pub := l.Key.Public()
	head, haveHead, err := ReadHead(l.HeadFile)
	if err != nil {
		return r, err
	}
	// The checkpoints are read a page at a time as the walk reaches them.
	cps := checkpointPages{st: l.Store, pub: pub}
	v, err := l.Store.VerifyAuditFrom(ctx, store.AuditEvent{Hash: store.GenesisHash}, func(e store.AuditEvent) error {
		for {
			c, ok, err := cps.peek(ctx)
			if err != nil || !ok || c.Seq > e.Seq {
				return err
			}
			if c.Seq == e.Seq && !strings.EqualFold(c.Hash, e.Hash) {
				return broken("seq %d: hash differs from its signed checkpoint (rewritten)", e.Seq)
			}
			cps.next()
		}
	})
	r.Events, r.Unkeyed = v.Events, v.Unkeyed
	if err != nil {
		return r, err
	}
	if c, ok, err := cps.peek(ctx); err != nil {
		return r, err
	} else if ok {
		return r, broken("the log ends at seq %d but a signed checkpoint is at seq %d (truncated)", v.Last.Seq, c.Seq)
	}
	r.Checkpoints = cps.seen
	switch {
	case haveHead:
		if err := l.checkHead(ctx, head, v.Last.Seq); err != nil {
			return r, err
		}
		r.Head = head
	case cps.seen > 0:
		return r, broken("the head file %s is missing but the log has %d checkpoints", l.HeadFile, cps.seen)
	}
	r.Uncovered = v.Last.Seq - max(r.Head.Seq, cps.last)
	return r, nil
}

// checkpointPages reads the stored checkpoints in seq order, a page at a time, and checks
// each one's signature as it is read.
type checkpointPages struct {
	st   *store.Store
	pub  PublicKey
	page []store.AuditCheckpoint
	// last is the seq of the last checkpoint read; seen counts them.
	last int64
	seen int
	done bool
}

// peek returns the next checkpoint (false: none is left).
func (p *checkpointPages) peek(ctx context.Context) (store.AuditCheckpoint, bool, error) {
	if len(p.page) == 0 && !p.done {
		page, err := p.st.AuditCheckpointsAfter(ctx, p.last, 1000)
		if err != nil {
			return store.AuditCheckpoint{}, false, fmt.Errorf("auditlog: verify: %w", err)
		}
		for _, c := range page {
			if err := p.pub.Verify(c); err != nil {
				return store.AuditCheckpoint{}, false, broken("stored %v", err)
			}
		}
		p.page, p.done = page, len(page) < 1000
		if len(page) > 0 {
			p.last = page[len(page)-1].Seq
		}
	}
	if len(p.page) == 0 {
		return store.AuditCheckpoint{}, false, nil
	}
	return p.page[0], true, nil
}

// next moves past the checkpoint peek returned.
func (p *checkpointPages) next() {
	p.page = p.page[1:]
	p.seen++
}
