package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// GenesisHash is the PrevHash of the first audit event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// ComputeHash returns the hex SHA-256 over e.PrevHash and a canonical encoding of the
// event's content: each of PrevHash, Seq (decimal), At (UTC, RFC 3339 with nanoseconds),
// Actor, Action, Target, Source, Outcome and Details is written as an 8-byte big-endian
// length followed by its bytes, so no two different events encode alike.
func (e AuditEvent) ComputeHash() string {
	h := sha256.New()
	var n [8]byte
	for _, f := range []string{
		e.PrevHash, strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano),
		e.Actor, e.Action, e.Target, e.Source, e.Outcome, e.Details,
	} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AppendAudit appends an event to the audit log and returns it as stored. Seq, PrevHash and
// Hash are filled in; At is the current time if zero, in UTC truncated to microseconds (what
// both databases store exactly). Details must be empty or valid JSON. Appends are
// serialised: on PostgreSQL by a transaction-scoped advisory lock taken before the chain's
// head is read, on SQLite by the single writer connection.
func (s *Store) AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	if e.Action == "" {
		return AuditEvent{}, fmt.Errorf("store: append audit: empty action")
	}
	if e.Details != "" && !json.Valid([]byte(e.Details)) {
		return AuditEvent{}, fmt.Errorf("store: append audit: details are not valid JSON")
	}
	var stored AuditEvent
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		stored, err = s.appendAuditTx(tx, e)
		return err
	})
	if err != nil {
		return AuditEvent{}, wrap("append audit", err)
	}
	return stored, nil
}

// appendAuditTx appends e within transaction tx (the change it records is in the same
// transaction).
func (s *Store) appendAuditTx(tx *gorm.DB, e AuditEvent) (AuditEvent, error) {
	if e.At.IsZero() {
		e.At = now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if s.dialect == DialectPostgres {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", int64(auditLockKey)).Error; err != nil {
			return e, err
		}
	}
	var head []AuditEvent
	if err := tx.Order("seq DESC").Limit(1).Find(&head).Error; err != nil {
		return e, err
	}
	var prev *AuditEvent
	if len(head) == 1 {
		prev = &head[0]
	}
	s.chainEvent(&e, prev)
	return e, tx.Create(&e).Error
}

// chainEvent fills in e's place in the chain after prev (nil: e is the first event): Seq,
// PrevHash, Hash and, with an audit key in use (UseAuditKey), MAC. It is the only code
// that computes them: every path that appends events (appendAuditTx, the per-request path)
// calls it with the head it read under the append lock.
func (s *Store) chainEvent(e *AuditEvent, prev *AuditEvent) {
	e.Seq, e.PrevHash = 1, GenesisHash
	if prev != nil {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	e.Hash = e.ComputeHash()
	e.MAC = ""
	if k := s.auditKey.Load(); k != nil {
		e.MAC = k.MAC(e.Hash)
	}
}

// VerifyAudit walks the whole audit log (see VerifyAuditFrom: links, hashes and, with an
// audit key in use, MACs). It returns the number of events verified and, on the first bad
// event, an error wrapping ErrAuditBroken that names its Seq. (Removing events from the end
// of the log leaves a valid shorter chain: package auditlog's signed checkpoints and head
// file catch that.)
func (s *Store) VerifyAudit(ctx context.Context) (int, error) {
	v, err := s.VerifyAuditFrom(ctx, AuditEvent{Hash: GenesisHash}, nil)
	return v.Events, err
}

// ListAudit returns the newest limit events (all if limit <= 0), oldest first.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]AuditEvent, error) {
	q := s.db.WithContext(ctx).Order("seq DESC")
	if limit > 0 {
		q = q.Limit(limit)
	}
	var evs []AuditEvent
	if err := q.Find(&evs).Error; err != nil {
		return nil, wrap("list audit", err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs, nil
}

// Stats are row counts by category.
type Stats struct {
	// Holders counts holders by role and status.
	Holders map[Role]map[HolderStatus]int64
	// Certificates counts certificates by role and status.
	Certificates map[Role]map[CertStatus]int64
	// Messages counts messages by state.
	Messages map[MessageState]int64
	// Outbox counts outbox items by state.
	Outbox map[OutboxState]int64
	// AuditEvents is the length of the audit log.
	AuditEvents int64
}

// Stats returns the row counts.
func (s *Store) Stats(ctx context.Context) (*Stats, error) {
	db := s.db.WithContext(ctx)
	st := &Stats{
		Holders:      map[Role]map[HolderStatus]int64{},
		Certificates: map[Role]map[CertStatus]int64{},
		Messages:     map[MessageState]int64{},
		Outbox:       map[OutboxState]int64{},
	}
	type row struct {
		Role   string
		Status string
		N      int64
	}
	var rows []row
	if err := db.Raw("SELECT role, status, COUNT(*) AS n FROM holders GROUP BY role, status").Scan(&rows).Error; err != nil {
		return nil, wrap("stats", err)
	}
	for _, r := range rows {
		if st.Holders[Role(r.Role)] == nil {
			st.Holders[Role(r.Role)] = map[HolderStatus]int64{}
		}
		st.Holders[Role(r.Role)][HolderStatus(r.Status)] = r.N
	}
	rows = nil
	if err := db.Raw("SELECT role, status, COUNT(*) AS n FROM certificates GROUP BY role, status").Scan(&rows).Error; err != nil {
		return nil, wrap("stats", err)
	}
	for _, r := range rows {
		if st.Certificates[Role(r.Role)] == nil {
			st.Certificates[Role(r.Role)] = map[CertStatus]int64{}
		}
		st.Certificates[Role(r.Role)][CertStatus(r.Status)] = r.N
	}
	rows = nil
	if err := db.Raw("SELECT state AS status, COUNT(*) AS n FROM messages GROUP BY state").Scan(&rows).Error; err != nil {
		return nil, wrap("stats", err)
	}
	for _, r := range rows {
		st.Messages[MessageState(r.Status)] = r.N
	}
	rows = nil
	if err := db.Raw("SELECT state AS status, COUNT(*) AS n FROM outbox GROUP BY state").Scan(&rows).Error; err != nil {
		return nil, wrap("stats", err)
	}
	for _, r := range rows {
		st.Outbox[OutboxState(r.Status)] = r.N
	}
	if err := db.Raw("SELECT COUNT(*) FROM audit_events").Scan(&st.AuditEvents).Error; err != nil {
		return nil, wrap("stats", err)
	}
	return st, nil
}
