package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"eacgate/cvc"

	"gorm.io/gorm"
)

// PartnerStatus is a registered partner country's status: a suspended partner's requests
// are refused and nothing is forwarded to it.
type PartnerStatus string

// The partner statuses.
const (
	PartnerActive    PartnerStatus = "active"
	PartnerSuspended PartnerStatus = "suspended"
)

// Valid reports whether s is a known status.
func (s PartnerStatus) Valid() bool { return s == PartnerActive || s == PartnerSuspended }

// Partner is a registered partner country (TR-03139 3.2.2, Appendix D parts I and II): its
// SPOC, the access rights its DVs are given, and its status. Its CVCA certificates are in
// the certificates table (trust), its DVs are holders of role dv_foreign (PartnerDV).
type Partner struct {
	Country string `gorm:"column:country;primaryKey"`
	URL     string `gorm:"column:url"`
	// SPOCRoot is the PEM of the partner SPOC's root CA certificate (X.509); SPOCRootSHA256
	// the hex SHA-256 of its DER, as checked against the registration form.
	SPOCRoot       []byte `gorm:"column:spoc_root"`
	SPOCRootSHA256 string `gorm:"column:spoc_root_sha256"`
	// Rights are the data groups the partner's DVs may be given, comma-separated (dg3,
	// dg4); empty: those of our CVCA's policy.
	Rights    string        `gorm:"column:rights"`
	Status    PartnerStatus `gorm:"column:status"`
	CreatedAt time.Time     `gorm:"column:created_at"`
	UpdatedAt time.Time     `gorm:"column:updated_at"`
}

// TableName implements gorm's tabler.
func (Partner) TableName() string { return "partners" }

// partnerDV is the partner_dvs row of a registered foreign DV.
type partnerDV struct {
	HolderID        int64  `gorm:"column:holder_id;primaryKey"`
	MaintainingCVCA string `gorm:"column:maintaining_cvca"`
}

func (partnerDV) TableName() string { return "partner_dvs" }

// PartnerDV is a foreign DV of a partner's DV list (Appendix D part IV): the holder and the
// CHR of the CVCA that maintains it (empty when the DV was registered on its first request).
type PartnerDV struct {
	Holder
	MaintainingCVCA string
}

// CreatePartner registers p; a second registration of its country is a ConflictError.
func (s *Store) CreatePartner(ctx context.Context, p *Partner) error {
	if p.Status == "" {
		p.Status = PartnerActive
	}
	if len(p.Country) != 2 || p.URL == "" || !p.Status.Valid() {
		return fmt.Errorf("store: create partner: need a two-letter country, a url and a valid status (%q)", p.Status)
	}
	if _, err := s.PartnerByCountry(ctx, p.Country); err == nil {
		return &ConflictError{Msg: "partner " + p.Country + " already registered"}
	}
	t := now()
	p.CreatedAt, p.UpdatedAt = t, t
	return wrap("create partner", s.db.WithContext(ctx).Create(p).Error)
}

// PartnerByCountry returns the registered partner of country, or ErrNotFound.
func (s *Store) PartnerByCountry(ctx context.Context, country string) (*Partner, error) {
	var p Partner
	if err := s.db.WithContext(ctx).Where("country = ?", country).Take(&p).Error; err != nil {
		return nil, wrap("partner by country", err)
	}
	return &p, nil
}

// ListPartners returns the registered partners by country.
func (s *Store) ListPartners(ctx context.Context) ([]Partner, error) {
	var ps []Partner
	if err := s.db.WithContext(ctx).Order("country").Find(&ps).Error; err != nil {
		return nil, wrap("list partners", err)
	}
	return ps, nil
}

// SetPartnerStatus changes a registered partner's status (ErrNotFound when not registered).
func (s *Store) SetPartnerStatus(ctx context.Context, country string, status PartnerStatus) error {
	if !status.Valid() {
		return fmt.Errorf("store: set partner status: invalid status %q", status)
	}
	res := s.db.WithContext(ctx).Model(&Partner{}).Where("country = ?", country).
		Updates(map[string]any{"status": status, "updated_at": now()})
	if res.Error != nil {
		return wrap("set partner status", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: set partner status: partner %s: %w", country, ErrNotFound)
	}
	return nil
}

// AddPartnerDV registers h (role dv_foreign, of a registered partner's country) as a DV of
// its partner's list, maintained by the CVCA maintainingCVCA (a CHR). One transaction.
func (s *Store) AddPartnerDV(ctx context.Context, h *Holder, maintainingCVCA string) error {
	if h.Role != RoleDVForeign {
		return fmt.Errorf("store: add partner DV: role %q, want %q", h.Role, RoleDVForeign)
	}
	if _, err := s.PartnerByCountry(ctx, h.Country); err != nil {
		return fmt.Errorf("store: add partner DV: partner %s: %w", h.Country, err)
	}
	// Named before the insert: on PostgreSQL a failed insert aborts the caller's transaction.
	if _, err := s.HolderByName(ctx, h.Country, h.Mnemonic); err == nil {
		return &ConflictError{Msg: "holder " + h.Country + h.Mnemonic + " already exists"}
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		in := s.inTx(tx)
		if err := in.CreateHolder(ctx, h); err != nil {
			return err
		}
		return tx.Create(&partnerDV{HolderID: h.ID, MaintainingCVCA: strings.TrimSpace(maintainingCVCA)}).Error
	})
	var c *ConflictError
	if errors.As(err, &c) {
		return c
	}
	return wrap("add partner DV", err)
}

// PartnerDVs lists the foreign DVs of country (every holder of role dv_foreign, with the
// maintaining CVCA of those registered on the partner's list).
func (s *Store) PartnerDVs(ctx context.Context, country string) ([]PartnerDV, error) {
	hs, err := s.ListHolders(ctx, HolderFilter{Role: RoleDVForeign, Country: country})
	if err != nil {
		return nil, err
	}
	return s.withMaintainingCVCA(ctx, hs)
}

// withMaintainingCVCA pairs foreign DV holders with the maintaining CVCA of those
// registered on their partner's list (empty for the others).
func (s *Store) withMaintainingCVCA(ctx context.Context, hs []Holder) ([]PartnerDV, error) {
	ids := make([]int64, len(hs))
	for i, h := range hs {
		ids[i] = h.ID
	}
	var rows []partnerDV
	if len(ids) > 0 {
		if err := s.db.WithContext(ctx).Where("holder_id IN ?", ids).Find(&rows).Error; err != nil {
			return nil, wrap("partner DVs", err)
		}
	}
	cvca := make(map[int64]string, len(rows))
	for _, r := range rows {
		cvca[r.HolderID] = r.MaintainingCVCA
	}
	out := make([]PartnerDV, len(hs))
	for i, h := range hs {
		out[i] = PartnerDV{Holder: h, MaintainingCVCA: cvca[h.ID]}
	}
	return out, nil
}

// The data groups a partner's DVs may be given (TR-03110 Part 3, C.4.1: the inspection
// system's read rights).
var partnerRights = map[string]byte{"dg3": cvc.ISReadDG3, "dg4": cvc.ISReadDG4}

// NormalizePartnerRights checks a comma-separated list of data groups (dg3: fingerprint,
// dg4: iris) and returns it sorted, without repeats.
func NormalizePartnerRights(s string) (string, error) {
	var bits byte
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		b, ok := partnerRights[f]
		if !ok {
			return "", fmt.Errorf("store: partner rights: %q: dg3 or dg4", f)
		}
		bits |= b
	}
	var out []string
	for _, n := range []string{"dg3", "dg4"} {
		if bits&partnerRights[n] != 0 {
			out = append(out, n)
		}
	}
	return strings.Join(out, ","), nil
}

// RightsBits are p's rights as CHAT access-right bits for the applicant's Rights; nil when
// p names none (the issuer's policy applies unchanged).
func (p *Partner) RightsBits() []byte { return RightsBits(p.Rights) }

// RightsBits are the CHAT access-right bits of a normalized list of data groups
// (NormalizePartnerRights); nil when it names none.
func RightsBits(rights string) []byte {
	var bits byte
	for _, f := range strings.Split(rights, ",") {
		bits |= partnerRights[strings.TrimSpace(f)]
	}
	if bits == 0 {
		return nil
	}
	return []byte{bits}
}

// GrantedRights are the access rights h's certificates may carry, narrowed further by the
// issuer's policy: h's own setting, and for a partner country's DV also the rights of the
// partner's registration (TR-03139 Appendix D), both applying. Nil: the policy's.
func (s *Store) GrantedRights(ctx context.Context, h *Holder) ([]byte, error) {
	own := RightsBits(h.Rights)
	if h.Role != RoleDVForeign {
		return own, nil
	}
	p, err := s.PartnerByCountry(ctx, h.Country)
	switch {
	case errors.Is(err, ErrNotFound):
		return own, nil
	case err != nil:
		return nil, err
	}
	return IntersectRights(own, p.RightsBits()), nil
}

// IntersectRights is the rights both a and b grant; nil stands for "no limit".
func IntersectRights(a, b []byte) []byte {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return []byte{a[0] & b[0]}
}
