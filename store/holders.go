package store

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"gorm.io/gorm"
)

// NormalizeIPRanges parses a comma-separated list of CIDR prefixes (a bare address counts as
// a single-host prefix) and returns it in canonical form.
func NormalizeIPRanges(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(part, "/") {
			p, err = netip.ParsePrefix(part)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(part)
			if err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return "", fmt.Errorf("invalid IP range %q: %w", part, err)
		}
		out = append(out, p.Masked().String())
	}
	return strings.Join(out, ","), nil
}

// ParseIPRanges parses a holder's stored IP ranges (canonical, comma-separated; empty: nil).
func ParseIPRanges(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("invalid IP range %q: %w", part, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// AllowsIP reports whether addr lies in one of h's registered IP ranges; a holder without
// ranges allows any address, one with unparsable ranges none.
func (h *Holder) AllowsIP(addr netip.Addr) bool {
	ranges, err := ParseIPRanges(h.IPRanges)
	if err != nil {
		return false
	}
	if len(ranges) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range ranges {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// CreateHolder inserts h (ID and timestamps are filled in). Status defaults to active.
// A second holder with the same (country, mnemonic) or TLS fingerprint is ErrConflict.
func (s *Store) CreateHolder(ctx context.Context, h *Holder) error {
	if h.Status == "" {
		h.Status = HolderActive
	}
	if !h.Role.Valid() || !h.Status.Valid() {
		return fmt.Errorf("store: create holder: invalid role %q or status %q", h.Role, h.Status)
	}
	ranges, err := NormalizeIPRanges(h.IPRanges)
	if err != nil {
		return fmt.Errorf("store: create holder: %w", err)
	}
	h.IPRanges = ranges
	h.TLSFingerprint = strings.ToLower(strings.TrimSpace(h.TLSFingerprint))
	err = s.db.WithContext(ctx).Create(h).Error
	if err != nil && isConstraintViolation(err) {
		if c := s.holderConflict(ctx, h); c != nil {
			return c
		}
	}
	return wrap("create holder", err)
}

// holderConflict names the registered holder a new one collides with: the same country and
// mnemonic, or the same TLS certificate. Nil if neither is found (the caller then reports
// the constraint violation itself).
func (s *Store) holderConflict(ctx context.Context, h *Holder) error {
	name := h.Country + h.Mnemonic
	if _, err := s.HolderByName(ctx, h.Country, h.Mnemonic); err == nil {
		return &ConflictError{Msg: "holder " + name + " already exists"}
	}
	if other, err := s.HolderByFingerprint(ctx, h.TLSFingerprint); err == nil {
		return &ConflictError{Msg: fmt.Sprintf("a holder with this TLS certificate is already registered: %s%s (%s)", other.Country, other.Mnemonic, other.Status)}
	}
	return nil
}

// HolderByID returns the holder with the given row ID, or ErrNotFound.
func (s *Store) HolderByID(ctx context.Context, id int64) (*Holder, error) {
	var h Holder
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&h).Error; err != nil {
		return nil, wrap("holder by id", err)
	}
	return &h, nil
}

// HolderByName returns the holder with the given country code and mnemonic, or ErrNotFound.
func (s *Store) HolderByName(ctx context.Context, country, mnemonic string) (*Holder, error) {
	var h Holder
	if err := s.db.WithContext(ctx).Where("country = ? AND mnemonic = ?", country, mnemonic).Take(&h).Error; err != nil {
		return nil, wrap("holder by name", err)
	}
	return &h, nil
}

// HolderByFingerprint returns the holder whose TLS client certificate has the given hex
// SHA-256 fingerprint, or ErrNotFound.
func (s *Store) HolderByFingerprint(ctx context.Context, fingerprint string) (*Holder, error) {
	fp := strings.ToLower(strings.TrimSpace(fingerprint))
	if fp == "" {
		return nil, fmt.Errorf("store: holder by fingerprint: %w", ErrNotFound)
	}
	var h Holder
	if err := s.db.WithContext(ctx).Where("tls_fingerprint = ? AND tls_fingerprint <> ''", fp).Take(&h).Error; err != nil {
		return nil, wrap("holder by fingerprint", err)
	}
	return &h, nil
}

// HolderFilter selects holders; zero fields match everything.
type HolderFilter struct {
	Role    Role
	Status  HolderStatus
	Country string
}

// ListHolders returns the holders matching f, ordered by country, mnemonic.
func (s *Store) ListHolders(ctx context.Context, f HolderFilter) ([]Holder, error) {
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
	var hs []Holder
	if err := q.Order("country, mnemonic, id").Limit(100000).Find(&hs).Error; err != nil {
		return nil, wrap("list holders", err)
	}
	return hs, nil
}

// SetHolderStatus changes a holder's status. Revocation is final: changing the status of a
// revoked holder is ErrRevokedFinal (setting revoked again is a no-op).
func (s *Store) SetHolderStatus(ctx context.Context, id int64, status HolderStatus) error {
	if !status.Valid() {
		return fmt.Errorf("store: set holder status: invalid status %q", status)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var h Holder
		if err := tx.Where("id = ?", id).Take(&h).Error; err != nil {
			return err
		}
		if h.Status == HolderRevoked {
			if status == HolderRevoked {
				return nil
			}
			return ErrRevokedFinal
		}
		// The status condition makes a concurrent revocation win.
		res := tx.Model(&Holder{}).Where("id = ? AND status <> ?", id, HolderRevoked).
			Updates(map[string]any{"status": status, "updated_at": now()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrRevokedFinal
		}
		return nil
	})
	return wrap("set holder status", err)
}

// AddCertificate inserts c (one marked Issued with its ca.issue event, in one transaction).
// Status defaults to valid; NotBefore/NotAfter are stored in UTC.
func (s *Store) AddCertificate(ctx context.Context, c *Certificate) error {
	if err := prepareCertificate(c); err != nil {
		return fmt.Errorf("store: add certificate: %w", err)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return s.createCertificateTx(tx, c) })
	if err != nil {
		c.ID = 0
	}
	return wrap("add certificate", err)
}

// CertificateExists reports whether a certificate with chr under car, or one certifying the
// key keySHA256 (outside CVCA certificates), is stored: what the unique indexes of migration
// 7 would refuse.
func (s *Store) CertificateExists(ctx context.Context, car, chr, keySHA256 string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Certificate{}).
		Where("(car = ? AND chr = ?) OR (key_sha256 = ? AND key_sha256 <> '' AND role <> ?)", car, chr, keySHA256, RoleCVCA).
		Limit(1).Count(&n).Error
	if err != nil {
		return false, wrap("certificate exists", err)
	}
	return n > 0, nil
}

// prepareCertificate fills defaults and checks a certificate row before insertion.
func prepareCertificate(c *Certificate) error {
	if c.Status == "" {
		c.Status = CertValid
	}
	if !c.Role.Valid() || !c.Status.Valid() {
		return fmt.Errorf("invalid role %q or status %q", c.Role, c.Status)
	}
	if c.KeySHA256 == "" {
		c.KeySHA256 = certificateKeySHA256(c.Raw)
	}
	c.NotBefore = c.NotBefore.UTC().Truncate(time.Microsecond)
	c.NotAfter = c.NotAfter.UTC().Truncate(time.Microsecond)
	return nil
}

// CertificateByID returns the certificate with the given row ID, or ErrNotFound.
func (s *Store) CertificateByID(ctx context.Context, id int64) (*Certificate, error) {
	var c Certificate
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, wrap("certificate by id", err)
	}
	return &c, nil
}

// CurrentCertificate returns the holder's certificate that is valid at the given time (status
// valid, NotBefore <= at <= NotAfter), the one expiring last if several; ErrNotFound if none.
func (s *Store) CurrentCertificate(ctx context.Context, holderID int64, at time.Time) (*Certificate, error) {
	at = at.UTC()
	var c Certificate
	err := s.db.WithContext(ctx).
		Where("holder_id = ? AND status = ? AND not_before <= ? AND not_after >= ?", holderID, CertValid, at, at).
		Order("not_after DESC, id DESC").Take(&c).Error
	if err != nil {
		return nil, wrap("current certificate", err)
	}
	return &c, nil
}

// LatestCertificate returns the holder's newest certificate with status valid, whatever its
// dates: an expired one included, so that a renewal signed with it is answered
// failure_expired rather than as unknown.
func (s *Store) LatestCertificate(ctx context.Context, holderID int64) (*Certificate, error) {
	return s.latestValid(ctx, "latest certificate", "holder_id = ? AND status = ?", holderID, CertValid)
}

// LatestCertificateOfRole is LatestCertificate among the holder's certificates of one role:
// a domestic DV's own certificates, not the foreign ones it holds too.
func (s *Store) LatestCertificateOfRole(ctx context.Context, holderID int64, role Role) (*Certificate, error) {
	return s.latestValid(ctx, "latest certificate", "holder_id = ? AND status = ? AND role = ?", holderID, CertValid, role)
}

// LatestCertificateFrom is LatestCertificate among the holder's certificates issued under
// one of the given CARs: its current certificate in one chain, for a holder certified in
// several (a terminal under its DV's domestic and foreign certificates).
func (s *Store) LatestCertificateFrom(ctx context.Context, holderID int64, cars []string) (*Certificate, error) {
	if len(cars) == 0 {
		return nil, fmt.Errorf("store: latest certificate from: %w", ErrNotFound)
	}
	return s.latestValid(ctx, "latest certificate from", "holder_id = ? AND status = ? AND car IN ?", holderID, CertValid, cars)
}

// latestValid returns the certificate matching where with the latest expiry (the newest row
// among equal ones).
func (s *Store) latestValid(ctx context.Context, op, where string, args ...any) (*Certificate, error) {
	var c Certificate
	if err := s.db.WithContext(ctx).Where(where, args...).Order("not_after DESC, id DESC").Take(&c).Error; err != nil {
		return nil, wrap(op, err)
	}
	return &c, nil
}

// ListCertificatesOfHolder returns a holder's certificates, oldest first.
func (s *Store) ListCertificatesOfHolder(ctx context.Context, holderID int64) ([]Certificate, error) {
	return s.listCerts(ctx, "certificates of holder", "holder_id = ?", holderID)
}

// CertificatesByCHR returns the certificates with the given holder reference, oldest first.
func (s *Store) CertificatesByCHR(ctx context.Context, chr string) ([]Certificate, error) {
	return s.listCerts(ctx, "certificates by chr", "chr = ?", chr)
}

// CertificatesByCAR returns the certificates issued under the given authority reference,
// oldest first.
func (s *Store) CertificatesByCAR(ctx context.Context, car string) ([]Certificate, error) {
	return s.listCerts(ctx, "certificates by car", "car = ?", car)
}

// CVCAChain returns the CVCA certificates of a country (role cvca, CHR starting with the
// country code): the self-signed roots and the link certificates, oldest to newest by
// NotBefore then ID — the order a relying party imports them in.
func (s *Store) CVCAChain(ctx context.Context, country string) ([]Certificate, error) {
	// role = 'cvca' as written in the partial index ix_certificates_cvca, which serves it.
	return s.listCerts(ctx, "cvca chain", "role = 'cvca' AND substr(chr, 1, 2) = ?", country)
}

// ExpiringBefore returns the valid certificates whose NotAfter is before t, soonest first.
func (s *Store) ExpiringBefore(ctx context.Context, t time.Time) ([]Certificate, error) {
	var cs []Certificate
	err := s.db.WithContext(ctx).Where("status = ? AND not_after < ?", CertValid, t.UTC()).
		Order("not_after, id").Limit(100000).Find(&cs).Error
	if err != nil {
		return nil, wrap("expiring before", err)
	}
	return cs, nil
}

func (s *Store) listCerts(ctx context.Context, op, where string, args ...any) ([]Certificate, error) {
	var cs []Certificate
	if err := s.db.WithContext(ctx).Where(where, args...).Order("not_before, id").Limit(100000).Find(&cs).Error; err != nil {
		return nil, wrap(op, err)
	}
	return cs, nil
}

// SetCertificateStatus changes a certificate's status; a revoked certificate stays revoked
// (ErrRevokedFinal).
func (s *Store) SetCertificateStatus(ctx context.Context, id int64, status CertStatus) error {
	if !status.Valid() {
		return fmt.Errorf("store: set certificate status: invalid status %q", status)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var c Certificate
		if err := tx.Where("id = ?", id).Take(&c).Error; err != nil {
			return err
		}
		if c.Status == CertRevoked {
			if status == CertRevoked {
				return nil
			}
			return ErrRevokedFinal
		}
		res := tx.Model(&Certificate{}).Where("id = ? AND status <> ?", id, CertRevoked).Update("status", status)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrRevokedFinal
		}
		return nil
	})
	return wrap("set certificate status", err)
}

// SetHolderRights replaces the data groups holder id's certificates may grant (a list
// NormalizePartnerRights accepts; empty: the issuer's policy); ErrNotFound when no such
// holder exists.
func (s *Store) SetHolderRights(ctx context.Context, id int64, rights string) error {
	norm, err := NormalizePartnerRights(rights)
	if err != nil {
		return err
	}
	res := s.db.WithContext(ctx).Model(&Holder{}).Where("id = ?", id).
		Updates(map[string]any{"rights": norm, "updated_at": now()})
	if res.Error != nil {
		return wrap("set holder rights", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: set holder rights: %w", ErrNotFound)
	}
	return nil
}
