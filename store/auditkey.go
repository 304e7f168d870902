package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm/clause"
)

// AuditKey MACs audit events with a secret kept outside the database: whoever can write
// the database but not read the key cannot rewrite the chain without detection (a chain of
// plain SHA-256 hashes can be recomputed by anyone). Package auditlog derives it from the
// audit key file. It is safe for concurrent use.
type AuditKey struct {
	// macs pools HMAC states of the key: one event costs one HMAC, no key setup.
	macs sync.Pool
}

// NewAuditKey returns the AuditKey of a derived HMAC-SHA256 key (at least 32 bytes).
func NewAuditKey(macKey []byte) (*AuditKey, error) {
	if len(macKey) < 32 {
		return nil, fmt.Errorf("store: audit key: %d bytes, want at least 32", len(macKey))
	}
	key := append([]byte(nil), macKey...)
	k := &AuditKey{}
	k.macs.New = func() any { return hmac.New(sha256.New, key) }
	return k, nil
}

// MAC returns the hex HMAC-SHA256 of an event's Hash.
func (k *AuditKey) MAC(eventHash string) string {
	h := k.macs.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(eventHash))
	var sum [sha256.Size]byte
	out := hex.EncodeToString(h.Sum(sum[:0]))
	k.macs.Put(h)
	return out
}

// Valid reports whether e carries the MAC of its Hash (constant time).
func (k *AuditKey) Valid(e AuditEvent) bool {
	want := k.MAC(e.Hash)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(e.MAC))) == 1
}

// UseAuditKey makes the store MAC every event it appends from now on and check the MACs
// when it verifies the log. Call it once, before the store is used (nil: unkeyed).
func (s *Store) UseAuditKey(k *AuditKey) { s.auditKey.Store(k) }

// AuditKeyInUse reports whether UseAuditKey set a key.
func (s *Store) AuditKeyInUse() bool { return s.auditKey.Load() != nil }

// LastKeyedAuditEvent returns the newest event that carries a MAC (false: none does, the
// log was never keyed). The audit key's loader checks it against the key it found.
func (s *Store) LastKeyedAuditEvent(ctx context.Context) (AuditEvent, bool, error) {
	var evs []AuditEvent
	if err := s.db.WithContext(ctx).Where("mac <> ''").Order("seq DESC").Limit(1).Find(&evs).Error; err != nil {
		return AuditEvent{}, false, wrap("last keyed audit event", err)
	}
	if len(evs) == 0 {
		return AuditEvent{}, false, nil
	}
	return evs[0], true, nil
}

// AuditEventAt returns the event of this seq, or ErrNotFound.
func (s *Store) AuditEventAt(ctx context.Context, seq int64) (AuditEvent, error) {
	var e AuditEvent
	if err := s.db.WithContext(ctx).Where("seq = ?", seq).Take(&e).Error; err != nil {
		return AuditEvent{}, wrap("audit event", err)
	}
	return e, nil
}

// AuditEventsAfter returns up to limit events with seq > after, in seq order (an export
// pages through the log with it).
func (s *Store) AuditEventsAfter(ctx context.Context, after int64, limit int) ([]AuditEvent, error) {
	var evs []AuditEvent
	if err := s.db.WithContext(ctx).Where("seq > ?", after).Order("seq").Limit(limit).Find(&evs).Error; err != nil {
		return nil, wrap("audit events", err)
	}
	return evs, nil
}

// FirstAuditSeqSince returns the seq of the first event at or after t (0: none is).
func (s *Store) FirstAuditSeqSince(ctx context.Context, t time.Time) (int64, error) {
	var seq int64
	if err := s.db.WithContext(ctx).Raw("SELECT COALESCE(MIN(seq), 0) FROM audit_events WHERE at >= ?",
		t.UTC().Truncate(time.Microsecond)).Scan(&seq).Error; err != nil {
		return 0, wrap("audit events since", err)
	}
	return seq, nil
}

// AuditCheckpoint is a signed statement that the audit chain reached Hash at Seq: package
// auditlog signs it with a key outside the database and keeps the newest also in a file
// outside it, so that cutting the log's tail is detected.
type AuditCheckpoint struct {
	Seq  int64     `gorm:"column:seq;primaryKey;autoIncrement:false" json:"seq"`
	Hash string    `gorm:"column:hash" json:"hash"`
	At   time.Time `gorm:"column:at" json:"at"`
	// Signature is the base64 Ed25519 signature (see auditlog.CheckpointMessage).
	Signature string `gorm:"column:signature" json:"signature"`
	// KeyFingerprint is the hex SHA-256 of the signing key's public key (PKIX DER).
	KeyFingerprint string `gorm:"column:key_fingerprint" json:"key_fingerprint"`
}

// TableName implements gorm's tabler.
func (AuditCheckpoint) TableName() string { return "audit_checkpoints" }

// AddAuditCheckpoint stores a checkpoint; one of the same seq already stored (another
// instance's) is kept.
func (s *Store) AddAuditCheckpoint(ctx context.Context, c AuditCheckpoint) error {
	c.At = c.At.UTC().Truncate(time.Microsecond)
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&c).Error; err != nil {
		return wrap("add audit checkpoint", err)
	}
	return nil
}

// LastAuditCheckpoint returns the checkpoint of the highest seq (false: none yet).
func (s *Store) LastAuditCheckpoint(ctx context.Context) (AuditCheckpoint, bool, error) {
	var cs []AuditCheckpoint
	if err := s.db.WithContext(ctx).Order("seq DESC").Limit(1).Find(&cs).Error; err != nil {
		return AuditCheckpoint{}, false, wrap("last audit checkpoint", err)
	}
	if len(cs) == 0 {
		return AuditCheckpoint{}, false, nil
	}
	return cs[0], true, nil
}

// AuditCheckpointsAfter returns up to limit checkpoints with seq > after, in seq order.
func (s *Store) AuditCheckpointsAfter(ctx context.Context, after int64, limit int) ([]AuditCheckpoint, error) {
	var cs []AuditCheckpoint
	if err := s.db.WithContext(ctx).Where("seq > ?", after).Order("seq").Limit(limit).Find(&cs).Error; err != nil {
		return nil, wrap("audit checkpoints", err)
	}
	return cs, nil
}

// AuditVerification is what VerifyAuditFrom found.
type AuditVerification struct {
	// Events counts the events verified.
	Events int
	// Unkeyed counts events without a MAC, accepted only before the first keyed event
	// (written before the audit key existed).
	Unkeyed int
	// Last is the last event verified (the starting point when there was none).
	Last AuditEvent
}

// VerifyAuditFrom walks the events after from (AuditEvent{Hash: GenesisHash}: the whole
// log) in seq order and checks every link: seq runs on without gaps, each PrevHash is the
// previous Hash, each Hash matches the content and, with an audit key in use, each MAC
// matches the Hash. An event without a MAC is accepted only while no keyed event came
// before it (from included): once the log is keyed, an unkeyed event is a forgery. visit,
// when not nil, sees each event once it is verified; its error stops the walk. On the
// first bad event the error wraps ErrAuditBroken and names its seq.
func (s *Store) VerifyAuditFrom(ctx context.Context, from AuditEvent, visit func(AuditEvent) error) (AuditVerification, error) {
	const batch = 1000
	key := s.auditKey.Load()
	v := AuditVerification{Last: from}
	keyed := from.MAC != ""
	for {
		evs, err := s.AuditEventsAfter(ctx, v.Last.Seq, batch)
		if err != nil {
			return v, fmt.Errorf("store: verify audit: %w", err)
		}
		for _, e := range evs {
			prev := v.Last
			switch {
			case e.Seq != prev.Seq+1:
				return v, fmt.Errorf("store: verify audit: %w: seq %d follows seq %d (gap)", ErrAuditBroken, e.Seq, prev.Seq)
			case e.PrevHash != prev.Hash:
				return v, fmt.Errorf("store: verify audit: %w: seq %d: prev_hash does not match the hash of seq %d", ErrAuditBroken, e.Seq, prev.Seq)
			case !strings.EqualFold(e.Hash, e.ComputeHash()):
				return v, fmt.Errorf("store: verify audit: %w: seq %d: hash mismatch (row modified)", ErrAuditBroken, e.Seq)
			}
			if key != nil {
				switch {
				case e.MAC == "" && keyed:
					return v, fmt.Errorf("store: verify audit: %w: seq %d: no MAC after keyed events (row written without the audit key)", ErrAuditBroken, e.Seq)
				case e.MAC == "":
					v.Unkeyed++
				case !key.Valid(e):
					return v, fmt.Errorf("store: verify audit: %w: seq %d: MAC mismatch (row written without the audit key)", ErrAuditBroken, e.Seq)
				default:
					keyed = true
				}
			}
			if visit != nil {
				if err := visit(e); err != nil {
					return v, err
				}
			}
			v.Last = e
			v.Events++
		}
		if len(evs) < batch {
			return v, nil
		}
	}
}
