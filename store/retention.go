package store

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"
)

// Retention says how far back rows that grow with traffic are kept. A zero time keeps them
// all (the default: TR-03139 wants records kept, and a deleted messageID can be used again).
type Retention struct {
	// MessagesBefore: finished requests (answered or failed) last changed before this time,
	// with their finished outbox items (delivered or dead). A message that an unfinished
	// outbox item or a kept message still refers to stays.
	MessagesBefore time.Time
	// NoncesBefore: emCA request nonces recorded before this time. A request whose nonce
	// was deleted could be replayed, so this must be longer than any captured request is
	// worth keeping (emCA requests carry no time of their own).
	NoncesBefore time.Time
}

// Pruned counts what Prune deleted.
type Pruned struct {
	Messages, Outbox, Nonces int64
}

// Prune deletes what the retention no longer keeps, at most batch rows of each table per
// call (so a first run on a large database does not hold the writer for long), and records
// what it deleted as an audit event in the same transaction.
func (s *Store) Prune(ctx context.Context, r Retention, batch int) (Pruned, error) {
	var p Pruned
	if batch <= 0 {
		batch = 10000
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if !r.MessagesBefore.IsZero() {
			before := r.MessagesBefore.UTC()
			res := tx.Exec(`DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state IN ('done','dead') AND updated_at < ? ORDER BY id LIMIT ?)`, before, batch)
			if res.Error != nil {
				return res.Error
			}
			p.Outbox = res.RowsAffected
			res = tx.Exec(`DELETE FROM messages WHERE id IN (SELECT m.id FROM messages m
WHERE m.state IN ('answered','failed') AND m.updated_at < ?
  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_row_id = m.id)
  AND NOT EXISTS (SELECT 1 FROM messages c WHERE c.parent_id = m.id)
ORDER BY m.id LIMIT ?)`, before, batch)
			if res.Error != nil {
				return res.Error
			}
			p.Messages = res.RowsAffected
		}
		if !r.NoncesBefore.IsZero() {
			res := tx.Exec(`DELETE FROM emca_nonces WHERE created_at < ?`, r.NoncesBefore.UTC())
			if res.Error != nil {
				return res.Error
			}
			p.Nonces = res.RowsAffected
		}
		if p == (Pruned{}) {
			return nil
		}
		details, err := json.Marshal(map[string]any{"messages": p.Messages, "outbox": p.Outbox, "emca_nonces": p.Nonces,
			"messages_before": r.MessagesBefore.UTC(), "nonces_before": r.NoncesBefore.UTC()})
		if err != nil {
			return err
		}
		_, err = s.appendAuditTx(tx, AuditEvent{Actor: "system", Action: "retention.prune", Target: "messages",
			Source: "retention", Outcome: "ok", Details: string(details)})
		return err
	})
	if err != nil {
		return Pruned{}, wrap("prune", err)
	}
	return p, nil
}
