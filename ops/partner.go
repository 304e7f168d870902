package ops

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"eacgate/cvc"
	"eacgate/store"
	"eacgate/trust"
)

// The partner registry's actions (TR-03139 3.2.2, Appendix D).
const (
	ActionPartnerRegister  Action = "partner.register"
	ActionPartnerSuspend   Action = "partner.suspend"
	ActionPartnerReinstate Action = "partner.reinstate"
	ActionPartnerDVAdd     Action = "partner.dv_add"
)

// ErrFingerprintMismatch refuses a registration whose SPOC root or CVCA certificate is not
// the one whose SHA-256 the registration form (received out of band) gives.
var ErrFingerprintMismatch = errors.New("the SHA-256 does not match the registration form")

// ErrInvalidRegistration refuses a registration with a missing or malformed part.
var ErrInvalidRegistration = errors.New("invalid registration")

// PartnerRegistration is a partner country's registration form (Appendix D): part I the
// country, part II its SPOC (URL, root CA certificate and the root's SHA-256 from the
// form), part III its CVCA certificates with their SHA-256 from the form, and the data
// groups its DVs may be given. Part IV, the DVs, is added with AddPartnerDV.
type PartnerRegistration struct {
	Country        string
	URL            string
	SPOCRootPEM    []byte
	SPOCRootSHA256 string
	// CVCA are the partner's CVCA certificates, root first; each one's SHA-256 must be
	// among CVCASHA256.
	CVCA       []*cvc.Certificate
	CVCASHA256 []string
	// Rights: dg3, dg4, both (comma-separated) or empty (our CVCA's policy).
	Rights string
}

// fingerprintIn reports whether fp (lower-case hex) is among the form's values.
func fingerprintIn(fp string, form []string) bool {
	for _, f := range form {
		if strings.EqualFold(strings.ReplaceAll(strings.TrimSpace(f), ":", ""), fp) {
			return true
		}
	}
	return false
}

// check validates r and returns its row: the SPOC root must be one X.509 CA certificate
// whose SHA-256 (of the DER) is the form's, every CVCA certificate one of the partner's
// country whose SHA-256 the form lists.
func (r *PartnerRegistration) check() (*store.Partner, error) {
	if len(r.Country) != 2 || strings.ToUpper(r.Country) != r.Country {
		return nil, fmt.Errorf("%w: country %q: two capital letters", ErrInvalidRegistration, r.Country)
	}
	if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: url %q: need http(s)://host/path", ErrInvalidRegistration, r.URL)
	}
	rights, err := store.NormalizePartnerRights(r.Rights)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRegistration, err)
	}
	block, _ := pem.Decode(r.SPOCRootPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: the SPOC root is not a PEM certificate", ErrInvalidRegistration)
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !root.IsCA {
		return nil, fmt.Errorf("%w: the SPOC root is not an X.509 CA certificate", ErrInvalidRegistration)
	}
	sum := sha256.Sum256(block.Bytes)
	rootFP := hex.EncodeToString(sum[:])
	if !fingerprintIn(rootFP, []string{r.SPOCRootSHA256}) {
		return nil, fmt.Errorf("%w: SPOC root %s", ErrFingerprintMismatch, rootFP)
	}
	if len(r.CVCA) == 0 {
		return nil, fmt.Errorf("%w: no CVCA certificate", ErrInvalidRegistration)
	}
	for _, c := range r.CVCA {
		if c.Role() != cvc.RoleCVCA || !strings.HasPrefix(c.CHR, r.Country) {
			return nil, fmt.Errorf("%w: %s is not a CVCA certificate of %s", ErrInvalidRegistration, c.CHR, r.Country)
		}
		if fp := trust.CertificateSHA256(c); !fingerprintIn(fp, r.CVCASHA256) {
			return nil, fmt.Errorf("%w: CVCA certificate %s (%s)", ErrFingerprintMismatch, c.CHR, fp)
		}
	}
	pemRoot := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})
	return &store.Partner{Country: r.Country, URL: r.URL, SPOCRoot: pemRoot, SPOCRootSHA256: rootFP,
		Rights: rights, Status: store.PartnerActive}, nil
}

// RegisterPartner registers a partner country from its checked registration form: the
// partner row and its CVCA certificates (trust anchors: the first root as confirmed by the
// form's SHA-256, later ones as links verified against it) with the audit event, in one
// transaction. A wrong SHA-256 refuses the whole registration (ErrFingerprintMismatch).
// Newer CVCA certificates are then fetched by the adapter (GetCACertificates via SPOC).
func (s *Service) RegisterPartner(ctx context.Context, a Actor, r PartnerRegistration) (*store.Partner, error) {
	target := "partner:" + r.Country
	p, err := r.check()
	if err != nil {
		return nil, s.refused(ctx, a, ActionPartnerRegister, target, err, nil)
	}
	details := map[string]any{"url": p.URL, "spoc_root_sha256": p.SPOCRootSHA256, "rights": p.Rights}
	var cvcas []string
	for _, c := range r.CVCA {
		cvcas = append(cvcas, c.CHR+" "+trust.CertificateSHA256(c))
	}
	details["cvca"] = cvcas
	ev, err := s.ok(a, ActionPartnerRegister, target, details)
	if err != nil {
		return nil, err
	}
	err = s.Store.Audited(ctx, "register partner", ev, func(tx *store.Store) error {
		if err := tx.CreatePartner(ctx, p); err != nil {
			return err
		}
		ts := trust.New(tx)
		for _, c := range r.CVCA {
			if _, err := ts.AddCVCACertificate(ctx, c, true); errors.Is(err, trust.ErrUnverified) {
				return fmt.Errorf("%w: CVCA certificate %s does not chain to %s's stored ones: %v", ErrInvalidRegistration, c.CHR, r.Country, err)
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.refused(ctx, a, ActionPartnerRegister, target, err, details)
	}
	return p, nil
}

// SuspendPartner suspends a registered partner: its SPOC's requests are refused and
// nothing is forwarded to it until it is reinstated.
func (s *Service) SuspendPartner(ctx context.Context, a Actor, country, reason string) error {
	return s.setPartnerStatus(ctx, a, ActionPartnerSuspend, country, store.PartnerSuspended, reason)
}

// ReinstatePartner makes a suspended partner active again.
func (s *Service) ReinstatePartner(ctx context.Context, a Actor, country, reason string) error {
	return s.setPartnerStatus(ctx, a, ActionPartnerReinstate, country, store.PartnerActive, reason)
}

func (s *Service) setPartnerStatus(ctx context.Context, a Actor, action Action, country string, to store.PartnerStatus, reason string) error {
	target := "partner:" + country
	ev, err := s.ok(a, action, target, reasonDetails(a, reason))
	if err != nil {
		return err
	}
	err = s.Store.Audited(ctx, "set partner status", ev, func(tx *store.Store) error {
		return tx.SetPartnerStatus(ctx, country, to)
	})
	if err != nil {
		return s.refused(ctx, a, action, target, err, reasonDetails(a, reason))
	}
	return nil
}

// AddPartnerDV puts a DV on a registered partner's DV list (Appendix D part IV): a holder
// of role dv_foreign, maintained by the CVCA maintainingCVCA (a CHR of the partner's
// country). With foreign_dvs: registered the list is the SPOC's allow-list.
func (s *Service) AddPartnerDV(ctx context.Context, a Actor, country, mnemonic, maintainingCVCA string) (*store.Holder, error) {
	target := country + mnemonic
	details := map[string]string{"maintaining_cvca": maintainingCVCA}
	if mnemonic == "" || len(mnemonic) > 9 || (maintainingCVCA != "" && !strings.HasPrefix(maintainingCVCA, country)) {
		err := fmt.Errorf("%w: DV %q of %s maintained by %q", ErrInvalidRegistration, mnemonic, country, maintainingCVCA)
		return nil, s.refused(ctx, a, ActionPartnerDVAdd, target, err, details)
	}
	ev, err := s.ok(a, ActionPartnerDVAdd, target, details)
	if err != nil {
		return nil, err
	}
	h := &store.Holder{Country: country, Mnemonic: mnemonic, Role: store.RoleDVForeign, Status: store.HolderActive}
	err = s.Store.Audited(ctx, "add partner DV", ev, func(tx *store.Store) error {
		return tx.AddPartnerDV(ctx, h, maintainingCVCA)
	})
	if err != nil {
		return nil, s.refused(ctx, a, ActionPartnerDVAdd, target, err, details)
	}
	return h, nil
}

// PartnerDV returns a foreign DV of country by mnemonic, for the holder actions (suspend,
// reinstate) reached per partner; a holder of another role is ErrNotFound.
func (s *Service) PartnerDV(ctx context.Context, country, mnemonic string) (*store.Holder, error) {
	h, err := s.Store.HolderByName(ctx, country, mnemonic)
	if err != nil {
		return nil, err
	}
	if h.Role != store.RoleDVForeign {
		return nil, fmt.Errorf("ops: %s%s is a %s, not a foreign DV: %w", country, mnemonic, h.Role, store.ErrNotFound)
	}
	return h, nil
}

// partnerText words the refusals of a registration for operators: which part of the form
// is wrong (never a database error).
func partnerText(err error) (string, bool) {
	switch {
	case errors.Is(err, ErrFingerprintMismatch), errors.Is(err, ErrInvalidRegistration):
		return err.Error(), true
	}
	return "", false
}
