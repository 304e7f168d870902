package store

import (
	"context"
	"errors"
)

// LatestAuditEvent returns the newest audit event about target with one of actions (the
// record of a certificate's ceremony: who proposed and who witnessed it). ErrNotFound if
// there is none.
func (s *Store) LatestAuditEvent(ctx context.Context, target string, actions ...string) (*AuditEvent, error) {
	if len(actions) == 0 {
		return nil, errors.New("store: latest audit event: no action")
	}
	var evs []AuditEvent
	if err := s.db.WithContext(ctx).Where("target = ? AND action IN ?", target, actions).Order("seq DESC").Limit(1).Find(&evs).Error; err != nil {
		return nil, wrap("latest audit event", err)
	}
	if len(evs) == 0 {
		return nil, ErrNotFound
	}
	return &evs[0], nil
}
