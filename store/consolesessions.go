package store

import (
	"context"
	"time"
)

// ConsoleSession is a signed-in web console session. The browser holds the random token
// in a cookie; the store keeps its SHA-256 only.
type ConsoleSession struct {
	ID         int64      `gorm:"column:id;primaryKey"`
	TokenHash  string     `gorm:"column:token_hash"`
	OperatorID int64      `gorm:"column:operator_id"`
	Remote     string     `gorm:"column:remote"`
	CreatedAt  time.Time  `gorm:"column:created_at"`
	LastSeenAt time.Time  `gorm:"column:last_seen_at"`
	ExpiresAt  time.Time  `gorm:"column:expires_at"` // the absolute timeout
	EndedAt    *time.Time `gorm:"column:ended_at"`   // signed out or timed out
}

// TableName implements gorm's tabler.
func (ConsoleSession) TableName() string { return "console_sessions" }

// CreateConsoleSession stores a new session.
func (s *Store) CreateConsoleSession(ctx context.Context, c *ConsoleSession) error {
	c.CreatedAt, c.LastSeenAt, c.ExpiresAt = c.CreatedAt.UTC(), c.LastSeenAt.UTC(), c.ExpiresAt.UTC()
	return wrap("create console session", s.db.WithContext(ctx).Create(c).Error)
}

// ConsoleSessionByToken returns the session whose token hashes to tokenHash, ended or not,
// or ErrNotFound.
func (s *Store) ConsoleSessionByToken(ctx context.Context, tokenHash string) (*ConsoleSession, error) {
	var c ConsoleSession
	if err := s.db.WithContext(ctx).Where("token_hash = ?", tokenHash).Take(&c).Error; err != nil {
		return nil, wrap("console session", err)
	}
	return &c, nil
}

// TouchConsoleSession records activity at at, at most once per every (the idle timeout
// is counted from last_seen_at, so the write is skipped while it is fresh enough).
func (s *Store) TouchConsoleSession(ctx context.Context, id int64, at time.Time, every time.Duration) error {
	err := s.db.WithContext(ctx).Model(&ConsoleSession{}).
		Where("id = ? AND ended_at IS NULL AND last_seen_at < ?", id, at.Add(-every).UTC()).
		Update("last_seen_at", at.UTC()).Error
	return wrap("touch console session", err)
}

// EndConsoleSession ends a session (sign-out or timeout); ending an ended one changes
// nothing.
func (s *Store) EndConsoleSession(ctx context.Context, id int64, at time.Time) error {
	err := s.db.WithContext(ctx).Model(&ConsoleSession{}).Where("id = ? AND ended_at IS NULL", id).
		Update("ended_at", at.UTC()).Error
	return wrap("end console session", err)
}

// EndConsoleSessionsOf ends every open session of an operator (the account was disabled,
// removed or its token rotated).
func (s *Store) EndConsoleSessionsOf(ctx context.Context, operatorID int64, at time.Time) error {
	err := s.db.WithContext(ctx).Model(&ConsoleSession{}).Where("operator_id = ? AND ended_at IS NULL", operatorID).
		Update("ended_at", at.UTC()).Error
	return wrap("end console sessions", err)
}
