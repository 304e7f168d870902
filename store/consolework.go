package store

import (
	"context"
	"time"
)

// The web console's lists of work (admin/console: held requests, the outbox, general
// messages, partners): one page at a time, on indexes (ix_messages_approval,
// ix_outbox_state, ix_messages_operation, ix_messages_peer, ix_messages_holder), so that
// no page reads a whole table.

// HeldRequestsPage returns limit requests waiting for an operator's decision after offset,
// oldest first (PendingApprovals, one page of it).
func (s *Store) HeldRequestsPage(ctx context.Context, limit, offset int) ([]Message, error) {
	limit, offset = pageBounds(limit, offset)
	var ms []Message
	err := s.db.WithContext(ctx).Where("approval = 'pending'").Order("id").Limit(limit).Offset(offset).Find(&ms).Error
	return ms, wrap("held requests", err)
}

// OutboxPage returns limit outbox items in state (every state when empty) after offset,
// newest first.
func (s *Store) OutboxPage(ctx context.Context, state OutboxState, limit, offset int) ([]OutboxItem, error) {
	limit, offset = pageBounds(limit, offset)
	q := s.db.WithContext(ctx).Model(&OutboxItem{})
	if state != "" {
		q = q.Where("state = ?", state)
	}
	var os []OutboxItem
	err := q.Order("id DESC").Limit(limit).Offset(offset).Find(&os).Error
	return os, wrap("outbox page", err)
}

// GeneralMessagesPage returns the GeneralMessages sent to and received from partner
// SPOCs, newest first, one page at a time. The condition is written as the partial index
// ix_messages_general's, so that the index, which holds these messages only and costs the
// request path nothing, serves it.
func (s *Store) GeneralMessagesPage(ctx context.Context, limit, offset int) ([]Message, error) {
	limit, offset = pageBounds(limit, offset)
	var ms []Message
	err := s.db.WithContext(ctx).Where("operation = 'GeneralMessage'").Order("id DESC").Limit(limit).Offset(offset).Find(&ms).Error
	return ms, wrap("general messages", err)
}

// partnerSPOCs are the IDs of the holders of role spoc of country (the partner SPOC whose
// requests and messages we received; one, or a few after a change of its certificate).
func (s *Store) partnerSPOCs(ctx context.Context, country string) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Holder{}).Where("role = ? AND country = ?", RoleSPOC, country).
		Order("id").Limit(10).Pluck("id", &ids).Error
	return ids, wrap("partner SPOC holders", err)
}

// PartnerMessages returns the newest limit messages exchanged with country's SPOC: those
// we sent to it (peer spoc:<country>) and those its SPOC holders sent us, newest first.
func (s *Store) PartnerMessages(ctx context.Context, country string, limit int) ([]Message, error) {
	limit, _ = pageBounds(limit, 0)
	db := s.db.WithContext(ctx)
	var out []Message
	// "peer <> ''" is the partial index ix_messages_peer's condition (outgoing messages only).
	if err := db.Where("peer = ? AND peer <> ''", "spoc:"+country).Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, wrap("partner messages", err)
	}
	ids, err := s.partnerSPOCs(ctx, country)
	if err != nil {
		return nil, err
	}
	for _, id := range ids { // one index range each (holder_id, id): no sort of a SPOC's whole history
		var in []Message
		if err := db.Where("holder_id = ?", id).Order("id DESC").Limit(limit).Find(&in).Error; err != nil {
			return nil, wrap("partner messages", err)
		}
		out = mergeNewest(out, in, limit)
	}
	return out, nil
}

// mergeNewest merges two lists sorted by ID descending into one of at most limit,
// without repeating a message.
func mergeNewest(a, b []Message, limit int) []Message {
	out := make([]Message, 0, min(len(a)+len(b), limit))
	for len(out) < limit && (len(a) > 0 || len(b) > 0) {
		var m Message
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0].ID >= b[0].ID):
			m, a = a[0], a[1:]
		default:
			m, b = b[0], b[1:]
		}
		if len(out) > 0 && out[len(out)-1].ID == m.ID {
			continue
		}
		out = append(out, m)
	}
	return out
}

// PartnerLastContact is the time of the newest message exchanged with country's SPOC (zero
// when none): two index lookups.
func (s *Store) PartnerLastContact(ctx context.Context, country string) (time.Time, error) {
	ms, err := s.PartnerMessages(ctx, country, 1)
	if err != nil || len(ms) == 0 {
		return time.Time{}, err
	}
	return ms[0].CreatedAt, nil
}

// PartnerDVsPage is PartnerDVs one page at a time (by mnemonic).
func (s *Store) PartnerDVsPage(ctx context.Context, country string, limit, offset int) ([]PartnerDV, error) {
	limit, offset = pageBounds(limit, offset)
	var hs []Holder
	err := s.db.WithContext(ctx).Where("role = ? AND country = ?", RoleDVForeign, country).
		Order("mnemonic, id").Limit(limit).Offset(offset).Find(&hs).Error
	if err != nil {
		return nil, wrap("partner DVs", err)
	}
	return s.withMaintainingCVCA(ctx, hs)
}
