package gateway

import (
	"context"

	"eacgate/auditlog"
)

// useAuditKey loads the audit key (created at first start while the log has no keyed
// event), makes the store MAC every event with it, and sets up the audit log's
// checkpoints.
func (g *Gateway) useAuditKey(ctx context.Context) error {
	o := g.Options.Audit
	key, err := auditlog.LoadKey(ctx, g.Store, o.KeyFile, true, g.logger)
	if err != nil {
		return err
	}
	g.Store.UseAuditKey(key.MAC())
	g.Audit = &auditlog.Log{Store: g.Store, Key: key, HeadFile: o.HeadFile, Logger: g.logger.With("component", "audit")}
	return nil
}

// RunAuditCheckpoints signs a checkpoint of the audit log at start, every
// audit.checkpoint_interval and when ctx ends, each after verifying the events since the
// last one.
func (g *Gateway) RunAuditCheckpoints(ctx context.Context) {
	g.Audit.Run(ctx, g.Options.Audit.CheckpointInterval)
}
