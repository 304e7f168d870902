package store

import (
	"context"
	"sort"
	"time"
)

// The web console's dashboard and CA hierarchy: one aggregation per panel, in SQL and on
// indexes, so that each stays fast with 100,000 certificates (never all rows in memory).

// certColumns are the certificate columns the console's lists show (raw left out).
const certColumns = "id, holder_id, issuer_id, chr, car, role, not_before, not_after, status, key_sha256, created_at"

// midnight is the UTC midnight starting t's day: certificates expire at the end of their
// expiration date (NotAfter is that date's midnight), so one still valid today has
// not_after >= midnight(now).
func midnight(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// RoleStatusCount is a number of holders or certificates of one role and status.
type RoleStatusCount struct {
	Role   Role
	Status string
	N      int64
}

// RoleStatusCounts are the dashboard's counts of holders and certificates.
type RoleStatusCounts struct {
	Holders, Certificates []RoleStatusCount
}

// CountByRoleStatus counts holders and certificates by role and status (ordered by both).
func (s *Store) CountByRoleStatus(ctx context.Context) (*RoleStatusCounts, error) {
	db := s.db.WithContext(ctx)
	var out RoleStatusCounts
	if err := db.Raw("SELECT role, status, COUNT(*) AS n FROM holders GROUP BY role, status ORDER BY role, status").
		Scan(&out.Holders).Error; err != nil {
		return nil, wrap("count holders by role and status", err)
	}
	if err := db.Raw("SELECT role, status, COUNT(*) AS n FROM certificates GROUP BY role, status ORDER BY role, status").
		Scan(&out.Certificates).Error; err != nil {
		return nil, wrap("count certificates by role and status", err)
	}
	return &out, nil
}

// ExpiringCount is the number of valid certificates of one role expiring within 7, 30
// and 90 days (each count includes the shorter windows).
type ExpiringCount struct {
	Role            Role
	In7, In30, In90 int64
}

// CountExpiringWindows counts the valid, unexpired certificates by role whose expiration
// date is at most 7, 30 and 90 days after now's date: one range scan on not_after.
func (s *Store) CountExpiringWindows(ctx context.Context, now time.Time) ([]ExpiringCount, error) {
	today := midnight(now)
	d7, d30, d90 := today.AddDate(0, 0, 7), today.AddDate(0, 0, 30), today.AddDate(0, 0, 90)
	var out []ExpiringCount
	err := s.db.WithContext(ctx).Raw(`SELECT role,
	SUM(CASE WHEN not_after <= ? THEN 1 ELSE 0 END) AS in7,
	SUM(CASE WHEN not_after <= ? THEN 1 ELSE 0 END) AS in30,
	COUNT(*) AS in90
FROM certificates WHERE status = ? AND not_after >= ? AND not_after <= ?
GROUP BY role ORDER BY role`, d7, d30, CertValid, today, d90).Scan(&out).Error
	return out, wrap("count expiring certificates", err)
}

// ExpiringSoonest returns up to limit valid, unexpired certificates whose expiration date
// is at most within days after now's date, soonest first (without their raw bytes).
func (s *Store) ExpiringSoonest(ctx context.Context, now time.Time, within, limit int) ([]Certificate, error) {
	today := midnight(now)
	var cs []Certificate
	err := s.db.WithContext(ctx).Select(certColumns).
		Where("status = ? AND not_after >= ? AND not_after <= ?", CertValid, today, today.AddDate(0, 0, within)).
		Order("not_after, id").Limit(limit).Find(&cs).Error
	return cs, wrap("expiring soonest", err)
}

// IssuingCertificates are the certificates the gateway signs with now: its CVCA's newest
// valid certificate (the self-signed one and its link twin share the CHR), and its own DV's
// newest valid domestic certificate and newest valid certificate from each foreign CVCA.
// Expired ones are included when no newer exists: the dashboard shows them as expired.
type IssuingCertificates struct {
	CVCA []Certificate
	// DV is the gateway's own DV (nil when it has none registered).
	DV         *Holder
	DVDomestic *Certificate
	// DVForeign is one certificate per foreign CVCA country, by country.
	DVForeign []Certificate
}

// CertificatesInUse finds the IssuingCertificates of the CVCA of country and of the DV
// holder (country, dvMnemonic); an empty dvMnemonic skips the DV.
func (s *Store) CertificatesInUse(ctx context.Context, country, dvMnemonic string) (*IssuingCertificates, error) {
	db := s.db.WithContext(ctx)
	out := &IssuingCertificates{}
	var newest Certificate
	err := db.Select(certColumns).Where("role = ? AND status = ? AND substr(chr, 1, 2) = ?", RoleCVCA, CertValid, country).
		Order("not_after DESC, id DESC").Limit(1).Find(&newest).Error
	if err != nil {
		return nil, wrap("certificates in use: cvca", err)
	}
	if newest.ID != 0 {
		if err := db.Select(certColumns).Where("role = ? AND status = ? AND chr = ?", RoleCVCA, CertValid, newest.CHR).
			Order("id").Limit(10).Find(&out.CVCA).Error; err != nil {
			return nil, wrap("certificates in use: cvca", err)
		}
	}
	if dvMnemonic == "" {
		return out, nil
	}
	var dv Holder
	if err := db.Where("country = ? AND mnemonic = ?", country, dvMnemonic).Limit(1).Find(&dv).Error; err != nil {
		return nil, wrap("certificates in use: dv", err)
	}
	if dv.ID == 0 {
		return out, nil
	}
	out.DV = &dv
	var dom Certificate
	if err := db.Select(certColumns).Where("holder_id = ? AND role = ? AND status = ?", dv.ID, RoleDVDomestic, CertValid).
		Order("not_after DESC, id DESC").Limit(1).Find(&dom).Error; err != nil {
		return nil, wrap("certificates in use: dv", err)
	}
	if dom.ID != 0 {
		out.DVDomestic = &dom
	}
	// The newest valid certificate per foreign CVCA country: none of the same country is
	// newer. The DV's certificates are few (renewals every few weeks per country).
	err = db.Raw(`SELECT `+certColumns+` FROM certificates c
WHERE c.holder_id = ? AND c.role = ? AND c.status = ? AND NOT EXISTS (
	SELECT 1 FROM certificates c2 WHERE c2.holder_id = c.holder_id AND c2.role = c.role AND c2.status = c.status
	AND substr(c2.car, 1, 2) = substr(c.car, 1, 2) AND (c2.not_after > c.not_after OR (c2.not_after = c.not_after AND c2.id > c.id)))
ORDER BY substr(c.car, 1, 2) LIMIT 500`, dv.ID, RoleDVForeign, CertValid).Scan(&out.DVForeign).Error
	return out, wrap("certificates in use: foreign dv", err)
}

// CountPendingApprovals counts the requests held for an operator's decision (the partial
// index on approval = 'pending').
func (s *Store) CountPendingApprovals(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM messages WHERE approval = 'pending'").Scan(&n).Error
	return n, wrap("count pending approvals", err)
}

// PartnerContact is a partner's status and the newest message to or from it.
type PartnerContact struct {
	Partner
	// Last is the newest message's time (zero: none); LastDirection says whether we sent
	// it (Outgoing) or the partner did.
	Last          time.Time
	LastDirection Direction
	LastOperation string
}

// PartnerContacts returns every partner with its last contact: the newest message we sent
// to its SPOC (peer "spoc:<country>", index ix_messages_peer) or received from one of its
// holders (its SPOC, CVCA or DVs: ix_messages_holder, one index probe per holder).
func (s *Store) PartnerContacts(ctx context.Context) ([]PartnerContact, error) {
	ps, err := s.ListPartners(ctx)
	if err != nil {
		return nil, err
	}
	db := s.db.WithContext(ctx)
	var in []struct {
		Country string
		LastID  *int64
	}
	err = db.Raw(`SELECT x.country AS country, MAX(x.last_id) AS last_id FROM (
	SELECT h.country AS country, (SELECT MAX(m.id) FROM messages m WHERE m.holder_id = h.id) AS last_id
	FROM holders h WHERE h.role IN ('spoc', 'cvca', 'dv_foreign') AND h.country IN (SELECT country FROM partners)
) x GROUP BY x.country`).Scan(&in).Error
	if err != nil {
		return nil, wrap("partner contacts", err)
	}
	lastIn := map[string]int64{}
	for _, r := range in {
		if r.LastID != nil {
			lastIn[r.Country] = *r.LastID
		}
	}
	out := make([]PartnerContact, len(ps))
	for i, p := range ps {
		out[i].Partner = p
		var outID *int64
		if err := db.Raw("SELECT MAX(id) FROM messages WHERE peer = ?", "spoc:"+p.Country).Scan(&outID).Error; err != nil {
			return nil, wrap("partner contacts", err)
		}
		id := lastIn[p.Country]
		if outID != nil && *outID > id {
			id = *outID
		}
		if id == 0 {
			continue
		}
		var m Message
		if err := db.Select("id, direction, operation, created_at").Where("id = ?", id).Take(&m).Error; err != nil {
			return nil, wrap("partner contacts", err)
		}
		out[i].Last, out[i].LastDirection, out[i].LastOperation = m.CreatedAt, m.Direction, m.Operation
	}
	return out, nil
}

// CodeCount is a number of messages with one return code.
type CodeCount struct {
	ReturnCode string
	N          int64
}

// maxRefusalScan bounds the messages RecentRefusals looks at (the newest ones).
const maxRefusalScan = 100000

// RecentRefusals counts the messages created since since whose return code is set and not
// an ok_* code (nor a GeneralMessage's "ok"), by code, most frequent first. It looks at
// the newest maxRefusalScan such messages at most; capped says it stopped there.
func (s *Store) RecentRefusals(ctx context.Context, since time.Time) (counts []CodeCount, capped bool, err error) {
	err = s.db.WithContext(ctx).Raw(`SELECT return_code, COUNT(*) AS n FROM (
	SELECT return_code FROM messages
	WHERE created_at >= ? AND return_code <> '' AND substr(return_code, 1, 2) <> 'ok'
	ORDER BY created_at DESC LIMIT ?
) r GROUP BY return_code ORDER BY n DESC, return_code LIMIT 50`, since.UTC(), maxRefusalScan).Scan(&counts).Error
	if err != nil {
		return nil, false, wrap("recent refusals", err)
	}
	var total int64
	for _, c := range counts {
		total += c.N
	}
	return counts, total >= maxRefusalScan, nil
}

// DomesticDV is a domestic DV of the hierarchy: its holder, newest certificate and how
// many terminals hold certificates it issued.
type DomesticDV struct {
	Holder
	Newest *Certificate
	// Terminals counts the terminal holders with a certificate under one of the DV's CHRs,
	// up to MaxTerminalCount (TerminalsCapped: more).
	Terminals       int64
	TerminalsCapped bool
	// First are the first terminals (by id).
	First []Holder
}

// MaxTerminalCount bounds the terminals counted per DV in the hierarchy.
const MaxTerminalCount = 10000

// DomesticDVs returns up to limit domestic DVs (by id) with their newest certificate
// (whatever its status), their terminal count and their first `first` terminals, and how
// many domestic DVs there are. Terminals are found through their certificates' CAR (the
// DV's CHRs) on ix_certificates_car_holder, a covering index.
func (s *Store) DomesticDVs(ctx context.Context, limit, first int) ([]DomesticDV, int64, error) {
	db := s.db.WithContext(ctx)
	var total int64
	if err := db.Model(&Holder{}).Where("role = ?", RoleDVDomestic).Count(&total).Error; err != nil {
		return nil, 0, wrap("domestic dvs", err)
	}
	var hs []Holder
	if err := db.Where("role = ?", RoleDVDomestic).Order("id").Limit(limit).Find(&hs).Error; err != nil {
		return nil, 0, wrap("domestic dvs", err)
	}
	out := make([]DomesticDV, len(hs))
	for i, h := range hs {
		out[i].Holder = h
		var c Certificate
		if err := db.Select(certColumns).Where("holder_id = ? AND role = ?", h.ID, RoleDVDomestic).
			Order("not_after DESC, id DESC").Limit(1).Find(&c).Error; err != nil {
			return nil, 0, wrap("domestic dvs", err)
		}
		if c.ID != 0 {
			out[i].Newest = &c
		}
		const issued = `SELECT DISTINCT holder_id FROM certificates
	WHERE car IN (SELECT chr FROM certificates WHERE holder_id = ? AND role = ?) AND holder_id IS NOT NULL`
		if err := db.Raw("SELECT COUNT(*) FROM ("+issued+" LIMIT ?) t", h.ID, RoleDVDomestic, MaxTerminalCount+1).
			Scan(&out[i].Terminals).Error; err != nil {
			return nil, 0, wrap("domestic dvs: terminals", err)
		}
		if out[i].Terminals > MaxTerminalCount {
			out[i].Terminals, out[i].TerminalsCapped = MaxTerminalCount, true
		}
		if out[i].Terminals == 0 || first <= 0 {
			continue
		}
		if err := db.Raw("SELECT * FROM holders WHERE id IN ("+issued+") AND role = ? ORDER BY id LIMIT ?",
			h.ID, RoleDVDomestic, RoleTerminal, first).Scan(&out[i].First).Error; err != nil {
			return nil, 0, wrap("domestic dvs: first terminals", err)
		}
	}
	return out, total, nil
}

// PartnerCVCA is a foreign country's CVCA certificates and our DV's certificates from it.
type PartnerCVCA struct {
	Country string
	CVCA    []Certificate
	OurDV   []Certificate
}

// maxPartnerCerts bounds the certificates PartnerCVCAs reads of each kind.
const maxPartnerCerts = 1000

// PartnerCVCAs returns the CVCA certificates of other countries than country, by country,
// with the certificates of our DV (holder ID dvID; 0: none) under each country's CVCAs,
// newest first (at most perCountry of the DV's per country).
func (s *Store) PartnerCVCAs(ctx context.Context, country string, dvID int64, perCountry int) ([]PartnerCVCA, error) {
	db := s.db.WithContext(ctx)
	var cvcas []Certificate
	if err := db.Select(certColumns).Where("role = ? AND substr(chr, 1, 2) <> ?", RoleCVCA, country).
		Order("substr(chr, 1, 2), not_before, id").Limit(maxPartnerCerts).Find(&cvcas).Error; err != nil {
		return nil, wrap("partner cvcas", err)
	}
	var ours []Certificate
	if dvID != 0 {
		if err := db.Select(certColumns).Where("holder_id = ? AND role = ?", dvID, RoleDVForeign).
			Order("not_after DESC, id DESC").Limit(maxPartnerCerts).Find(&ours).Error; err != nil {
			return nil, wrap("partner cvcas: our dv", err)
		}
	}
	by := map[string]*PartnerCVCA{}
	get := func(c string) *PartnerCVCA {
		if by[c] == nil {
			by[c] = &PartnerCVCA{Country: c}
		}
		return by[c]
	}
	for _, c := range cvcas {
		p := get(c.CHR[:2])
		p.CVCA = append(p.CVCA, c)
	}
	for _, c := range ours {
		if len(c.CAR) < 2 {
			continue
		}
		p := get(c.CAR[:2])
		if len(p.OurDV) < perCountry {
			p.OurDV = append(p.OurDV, c)
		}
	}
	out := make([]PartnerCVCA, 0, len(by))
	for _, p := range by {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Country < out[j].Country })
	return out, nil
}

// ForeignDVsCertified returns up to limit certificates of role dv_foreign issued by the
// CVCA of country (CAR one of its CVCA CHRs), newest first, and how many there are.
func (s *Store) ForeignDVsCertified(ctx context.Context, country string, limit int) ([]Certificate, int64, error) {
	db := s.db.WithContext(ctx)
	const where = `role = ? AND car IN (SELECT chr FROM certificates WHERE role = ? AND substr(chr, 1, 2) = ?)`
	var n int64
	if err := db.Model(&Certificate{}).Where(where, RoleDVForeign, RoleCVCA, country).Count(&n).Error; err != nil {
		return nil, 0, wrap("foreign dvs certified", err)
	}
	var cs []Certificate
	if err := db.Select(certColumns).Where(where, RoleDVForeign, RoleCVCA, country).
		Order("id DESC").Limit(limit).Find(&cs).Error; err != nil {
		return nil, 0, wrap("foreign dvs certified", err)
	}
	return cs, n, nil
}
