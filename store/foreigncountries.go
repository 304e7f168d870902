package store

import (
	"context"
	"slices"
	"time"

	"gorm.io/gorm"
)

// The foreign countries each domestic DV may request certificates from (migration 9): the
// RA operator's per-DV allow-list of TR-03139 4.4.2.1, read by the SPOC's forwarder.

// HolderForeignCountries returns the countries holderID may ask foreign certificates of,
// sorted (none when no list was set).
func (s *Store) HolderForeignCountries(ctx context.Context, holderID int64) ([]string, error) {
	var out []string
	err := s.db.WithContext(ctx).Table("holder_foreign_countries").Where("holder_id = ?", holderID).
		Order("country").Pluck("country", &out).Error
	if err != nil {
		return nil, wrap("holder foreign countries", err)
	}
	return out, nil
}

// SetHolderForeignCountries replaces holderID's list with countries (two-letter codes, checked
// by the caller; repeated ones are stored once); an empty list removes every country. The
// holder must exist (ErrNotFound).
func (s *Store) SetHolderForeignCountries(ctx context.Context, holderID int64, countries []string) error {
	countries = slices.Compact(slices.Sorted(slices.Values(countries)))
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Holder{}).Where("id = ?", holderID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if err := tx.Exec("DELETE FROM holder_foreign_countries WHERE holder_id = ?", holderID).Error; err != nil {
			return err
		}
		now := time.Now().UTC()
		for _, c := range countries {
			if err := tx.Exec("INSERT INTO holder_foreign_countries (holder_id, country, created_at) VALUES (?, ?, ?)",
				holderID, c, now).Error; err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("set holder foreign countries", err)
}

// AcceptMessageAudited stores m (an outgoing request) and appends ev in one transaction:
// a message whose making used a CA key (the CVCA's countersignature of a DV's initial
// foreign request) is never stored without the audit event of that key use, nor the other
// way round.
func (s *Store) AcceptMessageAudited(ctx context.Context, m *Message, ev AuditEvent) error {
	if m.State == "" {
		m.State = MessageReceived
	}
	if m.Direction == "" {
		m.Direction = Incoming
	}
	return s.Audited(ctx, "accept message", ev, func(tx *Store) error {
		return wrap("accept message", tx.db.WithContext(ctx).Create(m).Error)
	})
}
