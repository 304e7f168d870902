package gateway

import (
	"context"
	"time"

	"eacgate/store"
)

// RetentionOptions say how long rows that grow with traffic are kept, in days; 0 (the
// default) keeps them. TR-03139 asks for request records to be archived, so set these only
// where records are archived elsewhere.
type RetentionOptions struct {
	// MessagesDays: finished requests and their finished callback deliveries.
	MessagesDays int `yaml:"messages_days"`
	// EMCANoncesDays: nonces of emCA API requests (replay protection: a request older
	// than this could be replayed).
	EMCANoncesDays int `yaml:"emca_nonces_days"`
}

// retention is the store's retention at time now.
func (o RetentionOptions) retention(now time.Time) store.Retention {
	var r store.Retention
	if o.MessagesDays > 0 {
		r.MessagesBefore = now.AddDate(0, 0, -o.MessagesDays)
	}
	if o.EMCANoncesDays > 0 {
		r.NoncesBefore = now.AddDate(0, 0, -o.EMCANoncesDays)
	}
	return r
}

const (
	retentionInterval = time.Hour
	retentionBatch    = 10000
	// retentionRounds bounds one run's batches (a first run on a large database goes on
	// at the next interval).
	retentionRounds = 100
)

// RunRetention deletes what the retention no longer keeps, at start and every hour, until
// ctx ends. Nothing runs when every retention is 0.
func (g *Gateway) RunRetention(ctx context.Context) {
	if g.Options.Retention == (RetentionOptions{}) {
		return
	}
	g.pruneOnce(ctx, time.Now())
	everyInterval(ctx, retentionInterval, func() { g.pruneOnce(ctx, time.Now()) })
}

// pruneOnce deletes in batches until a batch comes back short.
func (g *Gateway) pruneOnce(ctx context.Context, now time.Time) {
	r := g.Options.Retention.retention(now)
	for range retentionRounds {
		p, err := g.Store.Prune(ctx, r, retentionBatch)
		if err != nil {
			if ctx.Err() == nil {
				g.logger.Error("retention: delete old rows", "err", err)
			}
			return
		}
		if p != (store.Pruned{}) {
			g.logger.Info("retention: deleted old rows", "messages", p.Messages, "outbox", p.Outbox, "emca_nonces", p.Nonces)
		}
		if p.Messages < retentionBatch && p.Outbox < retentionBatch {
			return
		}
	}
}
