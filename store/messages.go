package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"eacgate/cvc"
)

// isDuplicateMessage reports whether err is the violation of messages' (originator,
// message_id) unique index.
func isDuplicateMessage(err error) bool {
	ok, what := isUniqueViolation(err)
	return ok && (what == "uq_messages_originator_message_id" || strings.Contains(what, "messages.originator"))
}

// ErrDuplicateCertificate is returned when a certificate would repeat a CHR under the same
// CAR, or certify a public key certified before (uq_certificates_car_chr, uq_certificates_key).
var ErrDuplicateCertificate = errors.New("duplicate certificate")

// isDuplicateCertificate reports whether err violates one of the certificates' unique indexes.
func isDuplicateCertificate(err error) bool {
	ok, what := isUniqueViolation(err)
	return ok && (strings.HasPrefix(what, "uq_certificates_") || strings.Contains(what, "certificates.car") ||
		strings.Contains(what, "certificates.key_sha256"))
}

// duplicateCertificateOr reports a violation of the certificates' unique indexes as
// ErrDuplicateCertificate (without the driver's text), and returns other errors as they are.
func duplicateCertificateOr(err error, c *Certificate) error {
	if err != nil && isDuplicateCertificate(err) {
		return fmt.Errorf("%w: %s under %s (the CHR or the public key was certified before)", ErrDuplicateCertificate, c.CHR, c.CAR)
	}
	return err
}

// PublicKeySHA256 is the hex SHA-256 identifying a certified public key: of the EC point, or
// of the RSA modulus and exponent, without the algorithm and domain parameters (a key is the
// same whether its certificate or request carries them or not).
func PublicKeySHA256(k *cvc.PublicKey) string {
	h := sha256.New()
	if len(k.Point) > 0 {
		h.Write([]byte("ec\x00"))
		h.Write(k.Point)
	} else {
		h.Write([]byte("rsa\x00"))
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(k.Modulus))))
		h.Write(k.Modulus)
		h.Write(k.Exponent)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// certificateKeySHA256 is PublicKeySHA256 of an encoded CV certificate's key ("" when it does
// not parse: such rows are not subject to the key's uniqueness).
func certificateKeySHA256(raw []byte) string {
	c, err := cvc.ParseCertificate(raw)
	if err != nil || (len(c.PublicKey.Point) == 0 && len(c.PublicKey.Modulus) == 0) {
		return ""
	}
	return PublicKeySHA256(&c.PublicKey)
}

// AcceptMessage stores an accepted request and, if out is not nil, its outbox item, in one
// transaction: either both rows exist afterwards or neither. A message whose (Originator,
// MessageID) was seen before is rejected by the database's unique index and reported as
// ErrDuplicateMessage. out.MessageRowID defaults to the new message's ID.
func (s *Store) AcceptMessage(ctx context.Context, m *Message, out *OutboxItem) error {
	if m.State == "" {
		m.State = MessageReceived
	}
	if m.Direction == "" {
		m.Direction = Incoming
	}
	if !m.State.Valid() {
		return fmt.Errorf("store: accept message: invalid state %q", m.State)
	}
	if out != nil {
		if err := prepareOutbox(out); err != nil {
			return fmt.Errorf("store: accept message: %w", err)
		}
	}
	// Written like an answered request (hand-written statements; on SQLite in the group
	// commit), which is several times faster than through gorm.
	job := &acceptJob{m: m, out: out, done: make(chan error, 1)}
	var err error
	if s.commits != nil {
		err = s.commits.submit(ctx, job)
	} else {
		err = s.commitBatch([]*acceptJob{job})[0]
	}
	return wrap("accept message", err)
}

// MessageByID returns the message with the given row ID, or ErrNotFound.
func (s *Store) MessageByID(ctx context.Context, id int64) (*Message, error) {
	var m Message
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&m).Error; err != nil {
		return nil, wrap("message by id", err)
	}
	return &m, nil
}

// MessageByOriginator returns the message an originator sent with the given messageID, or
// ErrNotFound.
func (s *Store) MessageByOriginator(ctx context.Context, originator, messageID string) (*Message, error) {
	var m Message
	err := s.db.WithContext(ctx).Where("originator = ? AND message_id = ? AND message_id <> ''", originator, messageID).
		Order("id").Take(&m).Error
	if err != nil {
		return nil, wrap("message by originator", err)
	}
	return &m, nil
}

// UpdateMessage records a message's processing state, return code and result.
func (s *Store) UpdateMessage(ctx context.Context, id int64, state MessageState, returnCode string, result []byte) error {
	if !state.Valid() {
		return fmt.Errorf("store: update message: invalid state %q", state)
	}
	res := s.db.WithContext(ctx).Model(&Message{}).Where("id = ?", id).Updates(map[string]any{
		"state": state, "return_code": returnCode, "result": result, "updated_at": now(),
	})
	if res.Error != nil {
		return wrap("update message", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: update message %d: %w", id, ErrNotFound)
	}
	return nil
}

// AnswerMessage stores a message's answer and the certificates issued or received for it (nil
// entries are skipped; those marked Issued with their ca.issue events), in one transaction: a certificate is never recorded without the
// answer that hands it out, nor the answer without the certificate. A message that was
// answered before is left as it is and ErrConflict returned, with nothing stored: of two
// workers racing on the same message (a lease that ran out), only the first one's
// certificate exists.
func (s *Store) AnswerMessage(ctx context.Context, id int64, returnCode string, result []byte, certs ...*Certificate) error {
	return s.answerMessage(ctx, id, returnCode, result, 0, nil, certs)
}

// AnswerMessageToDeliver is AnswerMessage for a message decided by the outbox worker: in the
// same transaction, the pending outbox item outboxID gets the payload that delivers the
// answer (one commit instead of two).
func (s *Store) AnswerMessageToDeliver(ctx context.Context, id int64, returnCode string, result []byte, outboxID int64, payload []byte, certs ...*Certificate) error {
	return s.answerMessage(ctx, id, returnCode, result, outboxID, payload, certs)
}

func (s *Store) answerMessage(ctx context.Context, id int64, returnCode string, result []byte, outboxID int64, payload []byte, certs []*Certificate) error {
	rows, err := prepareCertificates(certs)
	if err != nil {
		return fmt.Errorf("store: answer message: %w", err)
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Message{}).Where("id = ? AND state <> ?", id, MessageAnswered).Updates(map[string]any{
			"state": MessageAnswered, "return_code": returnCode, "result": result, "updated_at": now(),
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var n int64
			if err := tx.Model(&Message{}).Where("id = ?", id).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("message %d: %w", id, ErrNotFound)
			}
			return fmt.Errorf("%w: message %d was answered before", ErrConflict, id)
		}
		for _, c := range rows {
			if err := s.createCertificateTx(tx, c); err != nil {
				return err
			}
		}
		if outboxID == 0 {
			return nil
		}
		res = tx.Model(&OutboxItem{}).Where("id = ? AND state = ?", outboxID, OutboxPending).Updates(map[string]any{
			"payload": payload, "updated_at": now(),
		})
		if res.Error == nil && res.RowsAffected == 0 {
			return fmt.Errorf("%w: outbox item %d is not pending", ErrConflict, outboxID)
		}
		return res.Error
	})
	if err != nil {
		for _, c := range rows {
			c.ID = 0
		}
	}
	return wrap("answer message", err)
}

// prepareCertificates fills the defaults of the certificates to insert with an answer and
// drops nil entries.
func prepareCertificates(certs []*Certificate) ([]*Certificate, error) {
	rows := make([]*Certificate, 0, len(certs))
	for _, c := range certs {
		if c == nil {
			continue
		}
		if err := prepareCertificate(c); err != nil {
			return nil, err
		}
		rows = append(rows, c)
	}
	return rows, nil
}

// prepareOutbox fills an outbox item's defaults before insertion.
func prepareOutbox(o *OutboxItem) error {
	if o.State == "" {
		o.State = OutboxPending
	}
	if o.Kind == "" {
		o.Kind = OutboxDeliver
	}
	if !o.State.Valid() {
		return fmt.Errorf("invalid outbox state %q", o.State)
	}
	if o.NextAttemptAt.IsZero() {
		o.NextAttemptAt = now()
	}
	o.NextAttemptAt = o.NextAttemptAt.UTC().Truncate(time.Microsecond)
	if o.Payload == nil {
		o.Payload = []byte{}
	}
	return nil
}

// EnqueueOutbox inserts an outbox item on its own (AcceptMessage does it together with the
// message).
func (s *Store) EnqueueOutbox(ctx context.Context, o *OutboxItem) error {
	if err := prepareOutbox(o); err != nil {
		return fmt.Errorf("store: enqueue outbox: %w", err)
	}
	return wrap("enqueue outbox", s.db.WithContext(ctx).Create(o).Error)
}

// ClaimOutbox leases the oldest due outbox item to worker until now+lease: a pending item
// whose NextAttemptAt <= now and whose previous lease (if any) has expired. It returns
// ErrNotFound when nothing is due. Two workers never claim the same item: the claim is one
// UPDATE ... RETURNING statement whose subquery picks the item; on PostgreSQL the candidate
// row is locked FOR UPDATE SKIP LOCKED (concurrent claims skip it), on SQLite the statement
// holds the database's write lock, which serialises claims within and across processes.
func (s *Store) ClaimOutbox(ctx context.Context, worker string, now time.Time, lease time.Duration) (*OutboxItem, error) {
	now = now.UTC()
	until := now.Add(lease).Truncate(time.Microsecond)
	updated := time.Now().UTC().Truncate(time.Microsecond)
	var o OutboxItem
	err := s.hot.claimOutbox.QueryRowContext(ctx, worker, until, updated, now, now).Scan(outboxScanTargets(&o)...)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, wrap("claim outbox", err)
	}
	return &o, nil
}

// OutboxByID returns the outbox item with the given ID, or ErrNotFound.
func (s *Store) OutboxByID(ctx context.Context, id int64) (*OutboxItem, error) {
	var o OutboxItem
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&o).Error; err != nil {
		return nil, wrap("outbox by id", err)
	}
	return &o, nil
}

// MarkDelivered marks an outbox item done and releases its lease. worker must still hold
// the lease: a worker whose lease ran out and was taken over gets ErrConflict and leaves
// the new holder's result alone.
func (s *Store) MarkDelivered(ctx context.Context, id int64, worker string) error {
	return s.updateOutbox(ctx, "mark delivered", id, "state = ? AND locked_by = ?", []any{OutboxPending, worker}, map[string]any{
		"state": OutboxDone, "locked_by": "", "locked_until": nil, "last_error": "", "updated_at": now(),
	})
}

// MarkFailed records a failed delivery attempt by worker, which must still hold the lease
// (ErrConflict otherwise): attempts is incremented, the lease released and the next attempt
// scheduled at next; when attempts reaches maxAttempts the item is dead.
func (s *Store) MarkFailed(ctx context.Context, id int64, worker, errText string, next time.Time, maxAttempts int) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var o OutboxItem
		if err := tx.Where("id = ?", id).Take(&o).Error; err != nil {
			return err
		}
		if o.State != OutboxPending {
			return fmt.Errorf("%w: outbox item %d is %s", ErrConflict, id, o.State)
		}
		if o.LockedBy != worker {
			return fmt.Errorf("%w: outbox item %d is leased by another worker", ErrConflict, id)
		}
		attempts := o.Attempts + 1
		state := OutboxPending
		if attempts >= maxAttempts {
			state = OutboxDead
		}
		res := tx.Model(&OutboxItem{}).Where("id = ? AND locked_by = ? AND state = ?", id, worker, OutboxPending).Updates(map[string]any{
			"attempts": attempts, "state": state, "last_error": errText,
			"next_attempt_at": next.UTC().Truncate(time.Microsecond),
			"locked_by":       "", "locked_until": nil, "updated_at": now(),
		})
		if res.Error == nil && res.RowsAffected == 0 {
			return fmt.Errorf("%w: outbox item %d changed meanwhile", ErrConflict, id)
		}
		return res.Error
	})
	return wrap("mark failed", err)
}

// DeferOutbox gives an item leased by worker back to the queue due at next without counting
// a delivery attempt: a failure of our own (processing: keystore, database) or a target that
// is busy with other deliveries. errText, when not empty, replaces the last error.
// ErrConflict if worker no longer holds the lease.
func (s *Store) DeferOutbox(ctx context.Context, id int64, worker, errText string, next time.Time) error {
	set := map[string]any{"next_attempt_at": next.UTC().Truncate(time.Microsecond), "locked_by": "", "locked_until": nil, "updated_at": now()}
	if errText != "" {
		set["last_error"] = errText
	}
	return s.updateOutbox(ctx, "defer outbox", id, "state = ? AND locked_by = ?", []any{OutboxPending, worker}, set)
}

// ResumeDeferred makes the pending, unleased items whose last error starts with prefix due
// at now (items deferred by a failure that has ended). It returns how many.
func (s *Store) ResumeDeferred(ctx context.Context, now time.Time, prefix string) (int64, error) {
	now = now.UTC().Truncate(time.Microsecond)
	res := s.db.WithContext(ctx).Model(&OutboxItem{}).
		Where("state = ? AND locked_by = '' AND next_attempt_at > ? AND substr(last_error, 1, ?) = ?", OutboxPending, now, len(prefix), prefix).
		Updates(map[string]any{"next_attempt_at": now, "updated_at": now})
	return res.RowsAffected, wrap("resume deferred outbox items", res.Error)
}

// RetryDead puts a dead outbox item back in the queue with its attempts reset, due now.
func (s *Store) RetryDead(ctx context.Context, id int64) error {
	return s.updateOutbox(ctx, "retry dead", id, "state = ?", []any{OutboxDead}, map[string]any{
		"state": OutboxPending, "attempts": 0, "next_attempt_at": now(),
		"locked_by": "", "locked_until": nil, "updated_at": now(),
	})
}

// updateOutbox applies set to item id if cond holds; ErrNotFound if the item does not exist,
// ErrConflict if cond does not hold.
func (s *Store) updateOutbox(ctx context.Context, op string, id int64, cond string, args []any, set map[string]any) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&OutboxItem{}).Where("id = ?", id).Where(cond, args...).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected > 0 {
			return nil
		}
		var o OutboxItem
		if err := tx.Where("id = ?", id).Take(&o).Error; err != nil {
			return err
		}
		return fmt.Errorf("%w: outbox item %d is %s", ErrConflict, id, o.State)
	})
	return wrap(op, err)
}

// ListOutbox returns the outbox items in the given state (all if empty), oldest first.
func (s *Store) ListOutbox(ctx context.Context, state OutboxState) ([]OutboxItem, error) {
	q := s.db.WithContext(ctx).Model(&OutboxItem{})
	if state != "" {
		q = q.Where("state = ?", state)
	}
	var os []OutboxItem
	if err := q.Order("id").Limit(100000).Find(&os).Error; err != nil {
		return nil, wrap("list outbox", err)
	}
	return os, nil
}

// AcceptAnswered stores a request that was answered at once together with its answer and
// the certificates issued for it (those marked Issued with their ca.issue events), in one transaction, and returns once that is committed
// (on SQLite, concurrent requests share the commit: see committer). A message whose (Originator, MessageID) was seen before is refused with
// ErrDuplicateMessage and nothing is stored.
func (s *Store) AcceptAnswered(ctx context.Context, m *Message, certs ...*Certificate) error {
	m.State = MessageAnswered
	if m.Direction == "" {
		m.Direction = Incoming
	}
	rows, err := prepareCertificates(certs)
	if err != nil {
		return fmt.Errorf("store: accept answered: %w", err)
	}
	job := &acceptJob{m: m, certs: rows, done: make(chan error, 1)}
	switch {
	case s.commits != nil:
		err = s.commits.submit(ctx, job)
	case len(rows) == 0 || (len(rows) == 1 && rows[0].Issued == nil):
		err = s.hot.insertAnsweredAtOnce(ctx, m, rows)
	case slices.ContainsFunc(rows, func(c *Certificate) bool { return c.Issued != nil }):
		err = s.issues.submit(ctx, job)
	default:
		err = s.commitBatch([]*acceptJob{job})[0]
	}
	return wrap("accept answered", err)
}
