package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// The audited changes: each operator action's change and the audit event recording it are
// committed in ONE transaction, so the log never lacks a change that happened nor names one
// that did not. The event is appended as given (its Outcome is the caller's, normally "ok");
// a refused change rolls back and appends nothing (the caller records the refusal).

// inTx is s bound to transaction tx: its methods that use s.db run inside tx (their own
// transactions become savepoints). The per-request pools are left out, so that a method
// bypassing s.db fails at once instead of waiting for the connection tx holds.
func (s *Store) inTx(tx *gorm.DB) *Store {
	t := &Store{db: tx, dialect: s.dialect, log: s.log}
	// Events appended through the transaction's store are keyed like the store's own.
	t.auditKey.Store(s.auditKey.Load())
	return t
}

// Audited runs change on a transaction-bound store and appends ev in the same transaction:
// the one way an operator's change is written with its audit event (see package ops).
func (s *Store) Audited(ctx context.Context, op string, ev AuditEvent, change func(tx *Store) error) error {
	if ev.Action == "" {
		return fmt.Errorf("store: %s: audit event without an action", op)
	}
	return s.AuditedWith(ctx, op, func(tx *Store) (AuditEvent, error) { return ev, change(tx) })
}

// CreateHolderAudited is CreateHolder with its audit event in the same transaction.
func (s *Store) CreateHolderAudited(ctx context.Context, h *Holder, ev AuditEvent) error {
	err := s.Audited(ctx, "create holder", ev, func(tx *Store) error { return tx.CreateHolder(ctx, h) })
	if err != nil && !isNamedConflict(err) && IsConstraintViolation(err) {
		// On PostgreSQL the failed insert aborted the transaction before the conflict
		// could be named; name it now that the transaction is over.
		if c := s.holderConflict(ctx, h); c != nil {
			return c // as CreateHolder words it
		}
	}
	return err
}

// SetHolderStatusAudited is SetHolderStatus with its audit event in the same transaction.
func (s *Store) SetHolderStatusAudited(ctx context.Context, id int64, status HolderStatus, ev AuditEvent) error {
	return s.Audited(ctx, "set holder status", ev, func(tx *Store) error { return tx.SetHolderStatus(ctx, id, status) })
}

// SetCertificateStatusAudited is SetCertificateStatus with its audit event in the same
// transaction. check (if not nil) sees the certificate as the transaction reads it and may
// refuse the change: its error is returned and nothing is written.
func (s *Store) SetCertificateStatusAudited(ctx context.Context, id int64, status CertStatus, check func(*Certificate) error, ev AuditEvent) error {
	return s.Audited(ctx, "set certificate status", ev, func(tx *Store) error {
		if check != nil {
			c, err := tx.CertificateByID(ctx, id)
			if err != nil {
				return err
			}
			if err := check(c); err != nil {
				return err
			}
		}
		return tx.SetCertificateStatus(ctx, id, status)
	})
}

// ApproveMessageAudited is ApproveMessage with its audit event in the same transaction.
func (s *Store) ApproveMessageAudited(ctx context.Context, id int64, actor string, ev AuditEvent) error {
	return s.Audited(ctx, "approve message", ev, func(tx *Store) error { return tx.ApproveMessage(ctx, id, actor) })
}

// RejectMessageAudited is RejectMessage with its audit event in the same transaction.
func (s *Store) RejectMessageAudited(ctx context.Context, id int64, actor, returnCode string, ev AuditEvent) error {
	return s.Audited(ctx, "reject message", ev, func(tx *Store) error { return tx.RejectMessage(ctx, id, actor, returnCode) })
}

// RetryDeadAudited is RetryDead with its audit event in the same transaction.
func (s *Store) RetryDeadAudited(ctx context.Context, id int64, ev AuditEvent) error {
	return s.Audited(ctx, "retry dead", ev, func(tx *Store) error { return tx.RetryDead(ctx, id) })
}

// CreateOperatorAudited is CreateOperator with its audit event in the same transaction.
func (s *Store) CreateOperatorAudited(ctx context.Context, o *Operator, ev AuditEvent) error {
	err := s.Audited(ctx, "create operator", ev, func(tx *Store) error { return tx.CreateOperator(ctx, o) })
	if err != nil && !isNamedConflict(err) && IsConstraintViolation(err) {
		if _, ok := s.firstValue(ctx, &Operator{}, "name", "name = ?", o.Name); ok {
			return &ConflictError{Msg: "operator " + o.Name + " already exists"}
		}
		if other, ok := s.firstValue(ctx, &Operator{}, "name", "tls_fingerprint = ? AND tls_fingerprint <> ''", o.TLSFingerprint); ok {
			return &ConflictError{Msg: "an operator with this TLS certificate is already registered: " + other}
		}
	}
	return err
}

// CreateAPIClientAudited is CreateAPIClient with its audit event in the same transaction.
func (s *Store) CreateAPIClientAudited(ctx context.Context, c *APIClient, ev AuditEvent) error {
	err := s.Audited(ctx, "create API client", ev, func(tx *Store) error { return tx.CreateAPIClient(ctx, c) })
	if err != nil && !isNamedConflict(err) && IsConstraintViolation(err) {
		if _, ok := s.firstValue(ctx, &APIClient{}, "user_name", "user_name = ?", c.UserName); ok {
			return &ConflictError{Msg: "API client " + c.UserName + " already exists"}
		}
	}
	return err
}

// isNamedConflict reports whether err carries a ConflictError (a conflict already worded).
func isNamedConflict(err error) bool {
	var c *ConflictError
	return errors.As(err, &c)
}
