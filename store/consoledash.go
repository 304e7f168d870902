package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"gorm.io/gorm"
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
	var out RoleStatusCounts
	err := s.aggregate(ctx, func(db *gorm.DB) error {
		if err := db.Raw("SELECT role, status, COUNT(*) AS n FROM holders GROUP BY role, status ORDER BY role, status").
			Scan(&out.Holders).Error; err != nil {
			return fmt.Errorf("holders: %w", err)
		}
		return db.Raw("SELECT role, status, COUNT(*) AS n FROM certificates GROUP BY status, role ORDER BY status, role").
			Scan(&out.Certificates).Error
	})
	if err != nil {
		return nil, wrap("count by role and status", err)
	}
	return &out, nil
}

// ExpiringCount is the number of valid certificates of one role expiring within 7, 30
// and 90 days (each count includes the shorter windows).
type ExpiringCount struct {
	Role            Role
	In7, In30, In90 int64
}

// certificateRoles are every role a certificate has: naming them lets an index whose
// columns are (status, role, not_after) serve a range of expiry dates per role.
var certificateRoles = []Role{RoleCVCA, RoleDVDomestic, RoleDVForeign, RoleTerminal, RoleSPOC}

// CountExpiringWindows counts the valid, unexpired certificates by role whose expiration
// date is at most 7, 30 and 90 days after now's date: one range scan on not_after.
func (s *Store) CountExpiringWindows(ctx context.Context, now time.Time) ([]ExpiringCount, error) {
	today := midnight(now)
	d7, d30, d90 := today.AddDate(0, 0, 7), today.AddDate(0, 0, 30), today.AddDate(0, 0, 90)
	var out []ExpiringCount
	err := s.aggregate(ctx, func(db *gorm.DB) error {
		return db.Raw(`SELECT role,
	SUM(CASE WHEN not_after <= ? THEN 1 ELSE 0 END) AS in7,
	SUM(CASE WHEN not_after <= ? THEN 1 ELSE 0 END) AS in30,
	COUNT(*) AS in90
FROM certificates WHERE status = ? AND role IN ? AND not_after >= ? AND not_after <= ?
GROUP BY role ORDER BY role`, d7, d30, CertValid, certificateRoles, today, d90).Scan(&out).Error
	})
	return out, wrap("count expiring certificates", err)
}

// ExpiringSoonest returns up to limit valid, unexpired certificates whose expiration date
// is at most within days after now's date, soonest first (without their raw bytes). The
// order (expiry, id) is that of ix_certificates_not_after (SQLite keeps the row id in
// every index): the scan stops after limit rows.
func (s *Store) ExpiringSoonest(ctx context.Context, now time.Time, within, limit int) ([]Certificate, error) {
	today := midnight(now)
	var cs []Certificate
	status := "status = ?"
	if s.dialect == DialectSQLite {
		// Unary plus keeps SQLite off ix_certificates_status_expiry, whose order is by role
		// first: the walk along not_after stops after limit rows.
		status = "+status = ?"
	}
	err := s.db.WithContext(ctx).Select(certColumns).
		Where(status+" AND not_after >= ? AND not_after <= ?", CertValid, today, today.AddDate(0, 0, within)).
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
func (s *Store) CertificatesInUse(ctx context.Context, now time.Time, country, dvMnemonic string) (*IssuingCertificates, error) {
	db := s.db.WithContext(ctx)
	out := &IssuingCertificates{}
	// The country's valid CVCA certificates are few: on the partial index
	// ix_certificates_cvca (role = 'cvca' written as the index's condition), the newest
	// picked here.
	var cvcas []Certificate
	if err := db.Select(certColumns).Where("role = 'cvca' AND status = ? AND substr(chr, 1, 2) = ?", CertValid, country).
		Limit(maxPartnerCerts).Find(&cvcas).Error; err != nil {
		return nil, wrap("certificates in use: cvca", err)
	}
	var newest *Certificate
	for i, c := range cvcas {
		if newest == nil || c.NotAfter.After(newest.NotAfter) || (c.NotAfter.Equal(newest.NotAfter) && c.ID > newest.ID) {
			newest = &cvcas[i]
		}
	}
	for _, c := range cvcas {
		if newest != nil && c.CHR == newest.CHR {
			out.CVCA = append(out.CVCA, c)
		}
	}
	sort.Slice(out.CVCA, func(i, j int) bool { return out.CVCA[i].ID < out.CVCA[j].ID })
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
	// The newest valid certificate per foreign CVCA country (the countries of the stored
	// CVCA certificates), among those that expired at most inUseExpiredDays ago (older
	// ones sign nothing): per country a walk back along ix_certificates_holder_role that
	// stops at the first match.
	var countries []string
	if err := db.Model(&Certificate{}).Distinct("substr(chr, 1, 2)").Where("role = 'cvca' AND substr(chr, 1, 2) <> ?", country).
		Order("substr(chr, 1, 2)").Limit(maxPartnerCerts).Pluck("substr(chr, 1, 2)", &countries).Error; err != nil {
		return nil, wrap("certificates in use: partner countries", err)
	}
	since := midnight(now).AddDate(0, 0, -inUseExpiredDays)
	for _, pc := range countries {
		var c Certificate
		if err := db.Select(certColumns).Where("holder_id = ? AND role = ? AND not_after >= ? AND status = ? AND substr(car, 1, 2) = ?",
			dv.ID, RoleDVForeign, since, CertValid, pc).Order("not_after DESC, id DESC").Limit(1).Find(&c).Error; err != nil {
			return nil, wrap("certificates in use: foreign dv", err)
		}
		if c.ID != 0 {
			out.DVForeign = append(out.DVForeign, c)
		}
	}
	return out, nil
}

// inUseExpiredDays is how long after its expiry CertificatesInUse still shows a DV's
// foreign certificate (as expired) when no newer one of its country exists.
const inUseExpiredDays = 90

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
		if err := db.Raw("SELECT MAX(id) FROM messages WHERE peer = ? AND peer <> ''", "spoc:"+p.Country).Scan(&outID).Error; err != nil {
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

// DomesticDV is a domestic DV of the hierarchy: its holder, newest certificate and its
// terminals: those whose newest certificate one of the DV's certificates signed.
type DomesticDV struct {
	Holder
	Newest    *Certificate
	Terminals int64
	// First are the first terminals (by id).
	First []Holder
}

// newestTerminalCAR is the CAR of terminal holder h's newest certificate (a probe of
// ix_certificates_holder_role): it names the DV the terminal belongs to now.
const newestTerminalCAR = `(SELECT c.car FROM certificates c WHERE c.holder_id = h.id AND c.role = 'terminal'
	ORDER BY c.not_after DESC, c.id DESC LIMIT 1)`

// maxTerminalHolders bounds the terminal holders DomesticDVs counts.
const maxTerminalHolders = 1000000

// DomesticDVs returns up to limit domestic DVs (by id) with their newest certificate
// (whatever its status), their number of terminals and their first `first` terminals, and
// how many domestic DVs there are. The terminals are counted once for all DVs, by the CAR
// of each terminal's newest certificate: one index probe per terminal holder, however
// many certificates they have had; a window keeps the first terminals of each CAR.
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
	if len(hs) == 0 {
		return nil, total, nil
	}
	// The LIMIT of x keeps SQLite from flattening it (which would run the probe once per
	// use of x.car).
	var byCAR []struct {
		CAR *string
		ID  int64
		N   int64
	}
	err := db.Raw(`SELECT car, id, n FROM (
	SELECT x.car AS car, x.id AS id, ROW_NUMBER() OVER (PARTITION BY x.car ORDER BY x.id) AS rn, COUNT(*) OVER (PARTITION BY x.car) AS n
	FROM (SELECT h.id AS id, `+newestTerminalCAR+` AS car FROM holders h WHERE h.role = ? LIMIT ?) x
) y WHERE rn <= ?`, RoleTerminal, maxTerminalHolders, max(first, 1)).Scan(&byCAR).Error
	if err != nil {
		return nil, 0, wrap("domestic dvs: terminals", err)
	}
	// The DV of each CAR: its certificate of that CHR (ix_certificates_chr; the CARs in
	// use are few, a DV's every certificate need not be read).
	var cars []string
	seen := map[string]bool{}
	for _, r := range byCAR {
		if r.CAR != nil && !seen[*r.CAR] {
			seen[*r.CAR] = true
			cars = append(cars, *r.CAR)
		}
	}
	dvOf := map[string]int64{}
	for start := 0; start < len(cars); start += 500 {
		var rows []struct {
			CHR      string
			HolderID *int64
		}
		if err := db.Model(&Certificate{}).Select("chr, holder_id").Where("chr IN ? AND role = ?", cars[start:min(start+500, len(cars))], RoleDVDomestic).
			Scan(&rows).Error; err != nil {
			return nil, 0, wrap("domestic dvs: terminals' DVs", err)
		}
		for _, r := range rows {
			if r.HolderID != nil {
				dvOf[r.CHR] = *r.HolderID
			}
		}
	}
	index := map[int64]int{}
	out := make([]DomesticDV, len(hs))
	for i, h := range hs {
		out[i].Holder = h
		index[h.ID] = i
		var c Certificate
		if err := db.Select(certColumns).Where("holder_id = ? AND role = ?", h.ID, RoleDVDomestic).
			Order("not_after DESC, id DESC").Limit(1).Find(&c).Error; err != nil {
			return nil, 0, wrap("domestic dvs", err)
		}
		if c.ID != 0 {
			out[i].Newest = &c
		}
	}
	// Each row is one of a CAR's first terminals with the CAR's count (n): the count is
	// added once per CAR.
	firstOf := map[int][]int64{}
	counted := map[string]bool{}
	for _, r := range byCAR {
		if r.CAR == nil {
			continue
		}
		i, ok := index[dvOf[*r.CAR]]
		if !ok {
			continue // a DV beyond limit, or a CAR that is no domestic DV's
		}
		firstOf[i] = append(firstOf[i], r.ID)
		if !counted[*r.CAR] {
			counted[*r.CAR] = true
			out[i].Terminals += r.N
		}
	}
	want := map[int64][]int{} // terminal id -> the DVs (indexes of out) listing it
	var ids []int64
	for i, mine := range firstOf {
		slices.Sort(mine)
		for _, id := range mine[:min(len(mine), first)] {
			if want[id] == nil {
				ids = append(ids, id)
			}
			want[id] = append(want[id], i)
		}
	}
	if len(ids) == 0 {
		return out, total, nil
	}
	var terminals []Holder
	if err := db.Where("id IN ?", ids).Order("id").Find(&terminals).Error; err != nil {
		return nil, 0, wrap("domestic dvs: first terminals", err)
	}
	for _, t := range terminals {
		for _, i := range want[t.ID] {
			out[i].First = append(out[i].First, t)
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
// with the newest perCountry certificates of our DV (holder ID dvID; 0: none) under each
// country's CVCAs (a walk back along ix_certificates_holder_role that stops after them).
func (s *Store) PartnerCVCAs(ctx context.Context, country string, dvID int64, perCountry int) ([]PartnerCVCA, error) {
	db := s.db.WithContext(ctx)
	var cvcas []Certificate
	if err := db.Select(certColumns).Where("role = 'cvca' AND substr(chr, 1, 2) <> ?", country).
		Order("substr(chr, 1, 2), not_before, id").Limit(maxPartnerCerts).Find(&cvcas).Error; err != nil {
		return nil, wrap("partner cvcas", err)
	}
	var out []PartnerCVCA
	for _, c := range cvcas {
		if len(out) == 0 || out[len(out)-1].Country != c.CHR[:2] {
			out = append(out, PartnerCVCA{Country: c.CHR[:2]})
		}
		out[len(out)-1].CVCA = append(out[len(out)-1].CVCA, c)
	}
	if dvID == 0 {
		return out, nil
	}
	for i := range out {
		if err := db.Select(certColumns).Where("holder_id = ? AND role = ? AND substr(car, 1, 2) = ?", dvID, RoleDVForeign, out[i].Country).
			Order("not_after DESC, id DESC").Limit(perCountry).Find(&out[i].OurDV).Error; err != nil {
			return nil, wrap("partner cvcas: our dv", err)
		}
	}
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
