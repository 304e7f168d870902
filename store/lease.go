package store

import (
	"context"
	"fmt"
	"time"
)

// AcquireLease takes the named lease for owner until now+ttl when it is free, expired, or
// already owner's (which extends it), and reports whether owner holds it. Several gateway
// instances on one database use leases for work that must run in one place at a time.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error) {
	if name == "" || owner == "" || ttl <= 0 {
		return false, fmt.Errorf("store: acquire lease: name, owner and a positive ttl are required")
	}
	now = now.UTC().Truncate(time.Microsecond)
	res := s.db.WithContext(ctx).Exec(`INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE leases.expires_at < ? OR leases.owner = excluded.owner`, name, owner, now.Add(ttl), now)
	if res.Error != nil {
		return false, wrap("acquire lease", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ReleaseLease gives up owner's lease (a lease held by another owner is left alone).
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return wrap("release lease", s.db.WithContext(ctx).Exec(`DELETE FROM leases WHERE name = ? AND owner = ?`, name, owner).Error)
}

// CheckWritable commits a write and its removal (a lease row named for owner): a full disk,
// a read-only database or a lost primary fail here, where a ping would pass.
func (s *Store) CheckWritable(ctx context.Context, owner string, now time.Time) error {
	name := "readyz/" + owner
	if _, err := s.AcquireLease(ctx, name, owner, now, time.Minute); err != nil {
		return err
	}
	return s.ReleaseLease(ctx, name, owner)
}
