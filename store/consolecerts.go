package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// The web console's lists of holders, certificates, a holder's messages and proposals:
// filtered, one page at a time (Limit, Offset), every filter on an index so that a page
// stays fast with 100,000 certificates.

// maxPageRows bounds a console page's Limit.
const maxPageRows = 1000

// pageBounds returns limit and offset within their bounds (limit 1..maxPageRows, default
// 50), for every console list.
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

// denseDV is the number of certificates under a DV from which the search of its terminals
// walks the holders instead of collecting them.
const denseDV = 2000

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
	var hs []Holder
	err := s.customPlans(ctx, func(db *gorm.DB) error {
		q := db.Model(&Holder{})
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
			var err error
			if q, err = certifiedBy(db, q, f.DV); err != nil {
				return err
			}
		}
		return q.Order("country, mnemonic, id").Limit(limit).Offset(offset).Find(&hs).Error
	})
	return hs, wrap("search holders", err)
}

// certifiedBy narrows q to the holders with a certificate whose CAR is the CHR of one of
// DV dv's certificates, each step on an index: the DV's CHRs (ix_certificates_holder_role),
// the holders of the certificates under them (ix_certificates_car_role). A DV of few terminals:
// those holders by id; of many: each holder in the list's order checked until the page is
// full (collecting 100,000 would take long).
func certifiedBy(db, q *gorm.DB, dv int64) (*gorm.DB, error) {
	var chrs []string
	if err := db.Model(&Certificate{}).Where("holder_id = ?", dv).Distinct("chr").Limit(maxDVCertificates).Pluck("chr", &chrs).Error; err != nil {
		return nil, err
	}
	if len(chrs) == 0 {
		return q.Where("1 = 0"), nil
	}
	var ids []int64
	err := db.Model(&Certificate{}).Where("car IN ? AND holder_id IS NOT NULL", chrs).Limit(denseDV+1).Pluck("holder_id", &ids).Error
	if err != nil {
		return nil, err
	}
	if len(ids) > denseDV {
		// Each holder's few certificates on ix_certificates_holder_role: the CAR compared so
		// that no index serves it (SQLite would otherwise walk all certificates under the CAR
		// for each holder).
		return q.Where("EXISTS (SELECT 1 FROM certificates t WHERE t.holder_id = holders.id AND t.car || '' IN ?)", chrs), nil
	}
	slices.Sort(ids)
	return q.Where("id IN ?", slices.Compact(ids)), nil
}

// maxDVCertificates bounds the certificates of one DV whose CHRs a search follows (a DV
// renews a few times a year).
const maxDVCertificates = 500

// customPlans runs fn, on PostgreSQL in a transaction planning each statement for its
// values: a list's filters (a prefix, a role) are selective or not depending on them, and
// the generic plan of a prepared statement, made for no values, would sort every row that
// a broad filter matches.
func (s *Store) customPlans(ctx context.Context, fn func(db *gorm.DB) error) error {
	if s.dialect != DialectPostgres {
		return fn(s.db.WithContext(ctx))
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET LOCAL plan_cache_mode = force_custom_plan").Error; err != nil {
			return err
		}
		return fn(tx)
	})
}

// aggregate runs fn, on PostgreSQL in a transaction without parallel workers: a console
// count reads at most a few hundred thousand rows, which one backend scans faster than
// the time it takes to start workers (seen: 25 ms against 70 ms for 100,000
// certificates), and an operator's page should not take the workers other queries need.
func (s *Store) aggregate(ctx context.Context, fn func(db *gorm.DB) error) error {
	if s.dialect != DialectPostgres {
		return fn(s.db.WithContext(ctx))
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET LOCAL max_parallel_workers_per_gather = 0").Error; err != nil {
			return err
		}
		return fn(tx)
	})
}

// CertificateSearch selects certificates for the console; zero fields match everything.
type CertificateSearch struct {
	Role    Role
	Status  CertStatus
	Country string // the holder's country: the CHR's first two characters
	// CHRPrefix and CARPrefix select certificates whose CHR (CAR) starts with them.
	CHRPrefix, CARPrefix string
	// ExpiringBefore selects certificates not expired at Now that expire before it. The
	// order is Order's.
	ExpiringBefore, Now time.Time
	HolderID            int64
	Limit, Offset       int
}

// CertificateOrder is the order of a certificate search's results.
type CertificateOrder string

// The orders: each one an index's, so that a page is read without sorting what matches.
const (
	OrderNewest CertificateOrder = "newest" // id, descending
	OrderExpiry CertificateOrder = "expiry" // not_after, soonest first
	OrderCHR    CertificateOrder = "chr"    // CHR, descending (a holder's newest sequence number first)
	OrderCAR    CertificateOrder = "car"    // CAR, descending, then newest
)

// Order is the order of f's results: by expiry when it selects expiring certificates, else
// by the prefix it searches (country and CHR, or CAR), else newest first.
func (f CertificateSearch) Order() CertificateOrder {
	switch {
	case !f.ExpiringBefore.IsZero():
		return OrderExpiry
	case f.Country != "" || f.CHRPrefix != "":
		return OrderCHR
	case f.CARPrefix != "":
		return OrderCAR
	}
	return OrderNewest
}

// SearchCertificates returns one page of the certificates matching f, without their raw
// bytes (a list does not need them).
func (s *Store) SearchCertificates(ctx context.Context, f CertificateSearch) ([]Certificate, error) {
	limit, offset := pageBounds(f.Limit, f.Offset)
	var cs []Certificate
	err := s.customPlans(ctx, func(db *gorm.DB) error {
		// Role and status are compared on their indexes, unless the list is in the order of
		// another index (expiry, CHR, CAR) and they match many rows: then sorting all of those
		// would take long, and the comparison is written so that no index serves it (the other
		// index is walked in order until the page is full).
		eq := func(column string) string { return column + " = ?" }
		if (f.Role != "" || f.Status != "") && f.HolderID == 0 && f.Order() != OrderNewest {
			broad, err := broadCertificates(db, f.Role, f.Status)
			if err != nil {
				return err
			}
			if broad {
				eq = func(column string) string { return column + " || '' = ?" }
			}
		}
		q := db.Model(&Certificate{}).
			Select("id, holder_id, issuer_id, chr, car, role, not_before, not_after, status, key_sha256, created_at")
		if f.Role != "" {
			q = q.Where(eq("role"), f.Role)
		}
		if f.Status != "" {
			q = q.Where(eq("status"), f.Status)
		}
		if f.HolderID != 0 {
			q = q.Where("holder_id = ?", f.HolderID)
		}
		if f.Country != "" {
			q = prefixWhere(q, "chr", f.Country) // on ix_certificates_chr, unlike substr(chr, 1, 2)
		}
		q = prefixWhere(q, "chr", f.CHRPrefix)
		q = prefixWhere(q, "car", f.CARPrefix)
		if !f.ExpiringBefore.IsZero() {
			n := f.Now
			if n.IsZero() {
				n = now()
			}
			q = q.Where("not_after >= ? AND not_after < ?", n.UTC().Truncate(24*time.Hour), f.ExpiringBefore.UTC())
		}
		order := map[CertificateOrder]string{OrderExpiry: "not_after, id", OrderCHR: "chr DESC, id DESC", OrderCAR: "car DESC, id DESC",
			OrderNewest: "id DESC"}[f.Order()]
		return q.Order(order).Limit(limit).Offset(offset).Find(&cs).Error
	})
	return cs, wrap("search certificates", err)
}

// broadRows is the number of certificates of one role and status from which a search in
// another index's order walks that index rather than sorting them.
const broadRows = 2000

// broadCertificates reports whether at least broadRows certificates have role and status
// (empty: any), counted on their index up to that number.
func broadCertificates(db *gorm.DB, role Role, status CertStatus) (bool, error) {
	q := db.Model(&Certificate{}).Select("1")
	if role != "" {
		q = q.Where("role = ?", role)
	}
	if status != "" {
		q = q.Where("status = ?", status)
	}
	var n int64
	err := db.Table("(?) AS x", q.Limit(broadRows)).Count(&n).Error
	return n >= broadRows, err
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
