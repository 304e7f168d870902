package store

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"
)

// The web console's lists of holders, certificates, a holder's messages and proposals:
// filtered, one page at a time (Limit, Offset), every filter on an index so that a page
// stays fast with 100,000 certificates.

// maxPageRows bounds a console page's Limit.
const maxPageRows = 1000

// pageBounds returns limit and offset within their bounds (limit 1..maxPageRows, default 50).
func pageBounds(limit, offset int) (int, int) {
	if limit <= 0 || limit > maxPageRows {
		limit = 50
	}
	return limit, max(offset, 0)
}

// prefixWhere adds "column starts with prefix" as a range on the column's index (chr >= P
// AND chr < P') that both databases use, plus a LIKE that keeps the match exact whatever
// the collation's order of the range.
func prefixWhere(q *gorm.DB, column, prefix string) *gorm.DB {
	if prefix == "" {
		return q
	}
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix)
	for i := 0; i < len(prefix); i++ {
		if prefix[i] < 0x20 || prefix[i] >= 0x7F { // not a reference's character: no range (and no invalid UTF-8)
			return q.Where(column+` LIKE ? ESCAPE '\'`, esc+"%")
		}
	}
	return q.Where(column+" >= ? AND "+column+" < ? AND "+column+` LIKE ? ESCAPE '\'`, prefix, prefixEnd(prefix), esc+"%")
}

// prefixEnd is the least string above every string starting with p, printable ASCII:
// p with its last byte plus one.
func prefixEnd(p string) string {
	b := []byte(p)
	b[len(b)-1]++
	return string(b)
}

// HolderSearch selects holders for the console; zero fields match everything.
type HolderSearch struct {
	Role    Role
	Status  HolderStatus
	Country string
	// NamePrefix selects the holders whose mnemonic starts with it.
	NamePrefix string
	// DV selects the holders certified by DV holder DV: those with a certificate whose CAR
	// is the CHR of one of the DV's certificates (its terminals).
	DV            int64
	Limit, Offset int
}

// SearchHolders returns one page of the holders matching f, by country and mnemonic (the
// order of their unique index).
func (s *Store) SearchHolders(ctx context.Context, f HolderSearch) ([]Holder, error) {
	limit, offset := pageBounds(f.Limit, f.Offset)
	q := s.db.WithContext(ctx).Model(&Holder{})
	if f.Role != "" {
		q = q.Where("role = ?", f.Role)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Country != "" {
		q = q.Where("country = ?", f.Country)
	}
	q = prefixWhere(q, "mnemonic", f.NamePrefix)
	if f.DV != 0 {
		// Each step on an index: the DV's certificates by holder (ix_certificates_holder_role),
		// the certificates under their CHRs by CAR (ix_certificates_car), holders by id.
		q = q.Where(`id IN (SELECT t.holder_id FROM certificates t WHERE t.holder_id IS NOT NULL AND t.car IN
			(SELECT d.chr FROM certificates d WHERE d.holder_id = ?))`, f.DV)
	}
	var hs []Holder
	err := q.Order("country, mnemonic, id").Limit(limit).Offset(offset).Find(&hs).Error
	return hs, wrap("search holders", err)
}

// CertificateSearch selects certificates for the console; zero fields match everything.
type CertificateSearch struct {
	Role    Role
	Status  CertStatus
	Country string // the holder's country: the CHR's first two characters
	// CHRPrefix and CARPrefix select certificates whose CHR (CAR) starts with them.
	CHRPrefix, CARPrefix string
	// ExpiringBefore selects certificates not expired at Now that expire before it, soonest
	// first (otherwise the list is newest first).
	ExpiringBefore, Now time.Time
	HolderID            int64
	Limit, Offset       int
}

// SearchCertificates returns one page of the certificates matching f, without their raw
// bytes (a list does not need them).
func (s *Store) SearchCertificates(ctx context.Context, f CertificateSearch) ([]Certificate, error) {
	limit, offset := pageBounds(f.Limit, f.Offset)
	q := s.db.WithContext(ctx).Model(&Certificate{}).
		Select("id, holder_id, issuer_id, chr, car, role, not_before, not_after, status, key_sha256, created_at")
	if f.Role != "" {
		q = q.Where("role = ?", f.Role)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.HolderID != 0 {
		q = q.Where("holder_id = ?", f.HolderID)
	}
	if f.Country != "" {
		q = prefixWhere(q, "chr", f.Country) // on ix_certificates_chr, unlike substr(chr, 1, 2)
	}
	q = prefixWhere(q, "chr", f.CHRPrefix)
	q = prefixWhere(q, "car", f.CARPrefix)
	order := "id DESC"
	if !f.ExpiringBefore.IsZero() {
		n := f.Now
		if n.IsZero() {
			n = now()
		}
		q = q.Where("not_after >= ? AND not_after < ?", n.UTC().Truncate(24*time.Hour), f.ExpiringBefore.UTC())
		order = "not_after, id"
	}
	var cs []Certificate
	err := q.Order(order).Limit(limit).Offset(offset).Find(&cs).Error
	return cs, wrap("search certificates", err)
}

// HolderMessage is one entry of a holder's message history (without the request and
// answer bodies).
type HolderMessage struct {
	ID         int64
	MessageID  string
	Operation  string
	Direction  Direction
	State      MessageState
	ReturnCode string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// MessagesOfHolder returns one page of the messages of holder holderID (sent by it, or
// sent for it), newest first, on ix_messages_holder.
func (s *Store) MessagesOfHolder(ctx context.Context, holderID int64, limit, offset int) ([]HolderMessage, error) {
	limit, offset = pageBounds(limit, offset)
	var out []HolderMessage
	err := s.db.WithContext(ctx).Model(&Message{}).
		Select("id, message_id, operation, direction, state, return_code, created_at, updated_at").
		Where("holder_id = ?", holderID).Order("id DESC").Limit(limit).Offset(offset).Scan(&out).Error
	return out, wrap("messages of holder", err)
}

// ProposalsPage returns one page of the proposals in state (empty: all), newest first,
// with their approvals, on ix_proposals_state.
func (s *Store) ProposalsPage(ctx context.Context, state ProposalState, limit, offset int) ([]Proposal, error) {
	limit, offset = pageBounds(limit, offset)
	q := s.db.WithContext(ctx).Model(&Proposal{})
	if state != "" {
		q = q.Where("state = ?", state)
	}
	var ps []Proposal
	if err := q.Order("id DESC").Limit(limit).Offset(offset).Find(&ps).Error; err != nil {
		return nil, wrap("proposals page", err)
	}
	if len(ps) == 0 {
		return ps, nil
	}
	ids := make([]int64, len(ps))
	for i := range ps {
		ids[i] = ps[i].ID
	}
	var as []ProposalApproval
	if err := s.db.WithContext(ctx).Where("proposal_id IN ?", ids).Order("at, person").Find(&as).Error; err != nil {
		return nil, wrap("proposals page approvals", err)
	}
	byID := map[int64][]ProposalApproval{}
	for _, a := range as {
		byID[a.ProposalID] = append(byID[a.ProposalID], a)
	}
	for i := range ps {
		ps[i].Approvals = byID[ps[i].ID]
	}
	return ps, nil
}
