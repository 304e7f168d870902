package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ApproveMessage records an operator's approval of a held request and releases its outbox
// item to the workers, in one transaction. ErrNotFound if there is no such message,
// ErrConflict if it is not waiting for a decision.
func (s *Store) ApproveMessage(ctx context.Context, id int64, actor string) error {
	return wrap("approve message", s.decide(ctx, id, actor, map[string]any{"approval": ApprovalApproved}))
}

// RejectMessage records an operator's rejection of a held request: the message is answered
// with returnCode (failure_request_not_accepted) and its outbox item released, so that the
// refusal is delivered by callback.
func (s *Store) RejectMessage(ctx context.Context, id int64, actor, returnCode string) error {
	return wrap("reject message", s.decide(ctx, id, actor, map[string]any{
		"approval": ApprovalRejected, "state": MessageAnswered, "return_code": returnCode, "result": []byte{},
	}))
}

func (s *Store) decide(ctx context.Context, id int64, actor string, set map[string]any) error {
	set["decided_by"] = actor
	set["updated_at"] = now()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Message{}).Where("id = ? AND approval = ?", id, ApprovalPending).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var m Message
			if err := tx.Where("id = ?", id).Take(&m).Error; err != nil {
				return err
			}
			if m.Approval == ApprovalNone {
				return fmt.Errorf("%w: message %d does not need approval", ErrConflict, id)
			}
			return fmt.Errorf("%w: message %d was already %s by %s", ErrConflict, id, m.Approval, m.DecidedBy)
		}
		return tx.Model(&OutboxItem{}).Where("message_row_id = ? AND state = ?", id, OutboxHeld).Updates(map[string]any{
			"state": OutboxPending, "next_attempt_at": now(), "updated_at": now(),
		}).Error
	})
}

// PendingApprovals returns the requests waiting for an operator's decision, oldest first.
func (s *Store) PendingApprovals(ctx context.Context) ([]Message, error) {
	var ms []Message
	err := s.db.WithContext(ctx).Where("approval = 'pending'").Order("id").Limit(100000).Find(&ms).Error
	return ms, wrap("pending approvals", err)
}

// ReleaseOutbox gives an item leased by worker back to the queue at once, unchanged (a worker
// shutting down before it finished).
func (s *Store) ReleaseOutbox(ctx context.Context, id int64, worker string) error {
	return s.updateOutbox(ctx, "release outbox", id, "locked_by = ?", []any{worker}, map[string]any{
		"locked_by": "", "locked_until": nil, "updated_at": now(),
	})
}

// ExtendOutboxLease moves the lease worker holds on a pending item to until (a worker still
// busy with it). ErrConflict: the item is no longer pending or the lease is another's (it
// ran out and was taken).
func (s *Store) ExtendOutboxLease(ctx context.Context, id int64, worker string, until time.Time) error {
	return s.updateOutbox(ctx, "extend outbox lease", id, "locked_by = ? AND state = ?", []any{worker, OutboxPending}, map[string]any{
		"locked_until": until.UTC().Truncate(time.Microsecond), "updated_at": now(),
	})
}

// SetOutboxPayload stores the payload an item will deliver (a process item's answer, built
// once so that every retry sends the same bytes).
func (s *Store) SetOutboxPayload(ctx context.Context, id int64, payload []byte) error {
	return s.updateOutbox(ctx, "set outbox payload", id, "state = ?", []any{OutboxPending}, map[string]any{
		"payload": payload, "updated_at": now(),
	})
}

// OutgoingByMessageID returns the request we sent with this messageID, or ErrNotFound.
func (s *Store) OutgoingByMessageID(ctx context.Context, messageID string) (*Message, error) {
	if messageID == "" {
		return nil, wrap("outgoing message", ErrNotFound)
	}
	var m Message
	err := s.db.WithContext(ctx).Where("direction = 'out' AND message_id = ?", messageID).Order("id").Take(&m).Error
	if err != nil {
		return nil, wrap("outgoing message", err)
	}
	return &m, nil
}

// OutboxStats is the queue's depth for monitoring.
type OutboxStats struct {
	Held, Pending, Dead int64
	// OldestPending is the creation time of the oldest pending item (zero if none).
	OldestPending time.Time
}

// OutboxStatistics counts the outbox items by state and finds the oldest pending one.
func (s *Store) OutboxStatistics(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	var rows []struct {
		State OutboxState
		N     int64
	}
	db := s.db.WithContext(ctx)
	if err := db.Model(&OutboxItem{}).Select("state, COUNT(*) AS n").Where("state <> ?", OutboxDone).Group("state").Scan(&rows).Error; err != nil {
		return st, wrap("outbox statistics", err)
	}
	for _, r := range rows {
		switch r.State {
		case OutboxHeld:
			st.Held = r.N
		case OutboxPending:
			st.Pending = r.N
		case OutboxDead:
			st.Dead = r.N
		}
	}
	if st.Pending > 0 {
		var o OutboxItem
		if err := db.Where("state = ?", OutboxPending).Order("created_at, id").Limit(1).Find(&o).Error; err != nil {
			return st, wrap("outbox statistics", err)
		}
		st.OldestPending = o.CreatedAt
	}
	return st, nil
}

// RelayAnswer records the answer to a request we forwarded (outgoing message outID) and
// passes it on to the request it relays (parentID): both messages answered, the
// certificates stored, and, when deliver is not nil, the callback to the original requester
// queued, all in one transaction. A forwarded request answered before is left alone
// (ErrConflict): at-least-once deliveries of the same answer relay it once.
func (s *Store) RelayAnswer(ctx context.Context, outID int64, outCode string, parentID int64, parentCode string,
	result []byte, certs []*Certificate, deliver *OutboxItem) error {
	certs, err := prepareCertificates(certs)
	if err != nil {
		return fmt.Errorf("store: relay answer: %w", err)
	}
	if deliver != nil {
		if err := prepareOutbox(deliver); err != nil {
			return fmt.Errorf("store: relay answer: %w", err)
		}
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, u := range []struct {
			id   int64
			code string
		}{{outID, outCode}, {parentID, parentCode}} {
			res := tx.Model(&Message{}).Where("id = ? AND state <> ?", u.id, MessageAnswered).Updates(map[string]any{
				"state": MessageAnswered, "return_code": u.code, "result": result, "updated_at": now(),
			})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return fmt.Errorf("%w: message %d was answered before", ErrConflict, u.id)
			}
		}
		for _, c := range certs {
			if err := s.createCertificateTx(tx, c); err != nil {
				return err
			}
		}
		if deliver != nil {
			if deliver.MessageRowID == nil {
				id := parentID
				deliver.MessageRowID = &id
			}
			return tx.Create(deliver).Error
		}
		return nil
	})
	if err != nil {
		for _, c := range certs {
			c.ID = 0
		}
		if deliver != nil {
			deliver.ID = 0
		}
	}
	return wrap("relay answer", err)
}

// MessagesByOperation returns the newest messages of one operation (limit at most 1000),
// newest first: for instance the GeneralMessages partners sent.
func (s *Store) MessagesByOperation(ctx context.Context, operation string, limit int) ([]Message, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var ms []Message
	err := s.db.WithContext(ctx).Where("operation = ?", operation).Order("id DESC").Limit(limit).Find(&ms).Error
	return ms, wrap("messages by operation", err)
}

// PendingOutgoing counts the requests we sent for a holder to a peer that are still waiting
// for their answer.
func (s *Store) PendingOutgoing(ctx context.Context, holderID int64, peer string) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Message{}).
		Where("direction = ? AND holder_id = ? AND peer = ? AND state = ?", Outgoing, holderID, peer, MessageProcessing).Count(&n).Error
	return n, wrap("pending outgoing", err)
}

// PendingOutgoingRequests returns the requests of one operation and protocol we sent for a
// holder since the given time that are still waiting for their answer.
func (s *Store) PendingOutgoingRequests(ctx context.Context, holderID int64, protocol, operation string, since time.Time) ([]Message, error) {
	var ms []Message
	err := s.db.WithContext(ctx).
		Where("direction = ? AND holder_id = ? AND protocol = ? AND operation = ? AND state = ? AND created_at > ?",
			Outgoing, holderID, protocol, operation, MessageProcessing, since.UTC()).Order("id").Find(&ms).Error
	return ms, wrap("pending outgoing", err)
}

// OpenOutboxItems counts the outbox items of one holder's requests that are not finished
// (held for approval or pending): the holder's share of the queue, for the per-holder quota.
func (s *Store) OpenOutboxItems(ctx context.Context, holderID int64) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&OutboxItem{}).
		Joins("JOIN messages ON messages.id = outbox.message_row_id").
		Where("outbox.state IN ? AND messages.holder_id = ?", []OutboxState{OutboxHeld, OutboxPending}, holderID).
		Count(&n).Error
	return n, wrap("open outbox items", err)
}

// TakeBackOrphanedLeases releases, on SQLite, the leases a dead predecessor left, so that a
// restart need not wait them out. The workers of one process hold an advisory lock (flock) on
// DBFILE.outbox-lock while they run, and write their instance name into it; the operating
// system drops the lock when a process dies. The caller that gets the lock releases the
// leases of the instance named in the file (workers named "INSTANCE/n"): it held the lock,
// so it is gone. Leases of other processes on the file, which did not get the lock, are
// never touched. When the lock is held elsewhere, or on PostgreSQL (several instances share
// the queue), nothing is released and leases run out as usual. unlock is called when the
// workers stop.
func (s *Store) TakeBackOrphanedLeases(ctx context.Context, instance string) (released int64, unlock func(), err error) {
	unlock = func() {}
	if s.dialect != DialectSQLite {
		return 0, unlock, nil
	}
	var rows []struct {
		Name string
		File string
	}
	if err := s.db.WithContext(ctx).Raw("PRAGMA database_list").Scan(&rows).Error; err != nil {
		return 0, unlock, wrap("take back leases", err)
	}
	path := ""
	for _, r := range rows {
		if r.Name == "main" {
			path = r.File
		}
	}
	if path == "" { // an in-memory database: one connection pool, nothing to take back
		return 0, unlock, nil
	}
	lock, previous, ok, err := lockFile(path+".outbox-lock", instance)
	if err != nil {
		return 0, unlock, fmt.Errorf("store: take back leases: %w", err)
	}
	if !ok {
		return 0, unlock, nil
	}
	if previous == "" || previous == instance {
		return 0, lock, nil
	}
	prefix := previous + "/" // compared exactly: LIKE would take _ and % in host names as wildcards
	res := s.db.WithContext(ctx).Model(&OutboxItem{}).Where("state = ? AND substr(locked_by, 1, ?) = ?", OutboxPending, len(prefix), prefix).
		Updates(map[string]any{"locked_by": "", "locked_until": nil, "updated_at": now()})
	if res.Error != nil {
		lock()
		return 0, unlock, wrap("take back leases", res.Error)
	}
	return res.RowsAffected, lock, nil
}
