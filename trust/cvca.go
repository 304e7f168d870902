package trust

import (
	"bytes"
	"context"
	"fmt"

	"eacgate/cvc"
	"eacgate/store"
)

// AddCVCACertificate stores a CVCA certificate (root or link) received from a partner, a
// remote CVCA or an operator: one already stored is left alone (added false); a new one must
// verify against the stored chain of its country. Without a stored chain it is taken only
// when firstRoot is set (see FirstRootTrust: pinned, or trust on first use over an
// authenticated connection), else ErrUnverified.
func (s *Store) AddCVCACertificate(ctx context.Context, c *cvc.Certificate, firstRoot bool) (added bool, err error) {
	if c.Role() != cvc.RoleCVCA || len(c.CHR) < 2 {
		return false, fmt.Errorf("%w: %s is not a CVCA certificate", ErrUnverified, c.CHR)
	}
	chain, err := s.Chain(ctx, c.CHR[:2])
	if err != nil {
		return false, err
	}
	for _, sc := range chain {
		if bytes.Equal(sc.Raw, c.Raw) {
			return false, nil
		}
	}
	switch {
	case len(chain) > 0:
		if _, err := cvc.Verify(c, cvc.VerifyOptions{Anchors: chain[:1], Intermediates: chain[1:]}); err != nil {
			return false, fmt.Errorf("%w: %v", ErrUnverified, err)
		}
	case !firstRoot:
		return false, fmt.Errorf("%w: no stored CVCA certificate of %s", ErrUnverified, c.CHR[:2])
	}
	err = s.st.AddCertificate(ctx, &store.Certificate{CHR: c.CHR, CAR: c.CAR, Role: store.RoleCVCA,
		NotBefore: c.EffectiveDate.Time(), NotAfter: c.ExpirationDate.Time(), Status: store.CertValid, Raw: c.Raw})
	if err != nil {
		return false, fmt.Errorf("trust: store CVCA certificate %s: %w", c.CHR, err)
	}
	return true, nil
}

// AddLink stores c, announced by a CVCA of country (SendCertificates without a messageID),
// if it is a CVCA certificate of that country that chains to the stored ones: a link
// certificate. One already stored is fine. An announcement is never a first root: anything
// else is ErrUnverified, for an operator to look at.
func (s *Store) AddLink(ctx context.Context, country string, c *cvc.Certificate) error {
	if len(c.CHR) < 2 || c.CHR[:2] != country {
		return fmt.Errorf("%w: not a CVCA certificate of %s", ErrUnverified, country)
	}
	_, err := s.AddCVCACertificate(ctx, c, false)
	return err
}
