package gateway

import (
	"context"
	"time"

	"eacgate/store"
)

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
	if !g.Options.Retention.Enabled() {
		return
	}
	g.pruneOnce(ctx, time.Now())
	everyInterval(ctx, retentionInterval, func() { g.pruneOnce(ctx, time.Now()) })
}

// pruneOnce deletes in batches until a batch comes back short.
func (g *Gateway) pruneOnce(ctx context.Context, now time.Time) {
	r := g.Options.Retention.At(now)
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
