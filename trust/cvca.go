package trust

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

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

// AddFromPeer stores the CVCA certificates of country among certs, the answer to
// GetCACertificates from a configured peer over mutual TLS (a partner SPOC, or the remote
// CVCA of our DV): the country's first root only when FirstRootTrust(pins) trusts it, later
// ones only when they chain to the stored ones. Anything else in certs is skipped;
// certificates that do not verify are logged with their SHA-256 (for operators to compare
// with the one exchanged out of band) and skipped. It returns how many were added.
func (s *Store) AddFromPeer(ctx context.Context, country string, certs [][]byte, pins []string, log *slog.Logger) (int, error) {
	added := 0
	for _, raw := range certs {
		c, err := cvc.ParseCertificate(raw)
		if err != nil || c.Role() != cvc.RoleCVCA || len(c.CHR) < 2 || c.CHR[:2] != country {
			continue // not the peer's to vouch for
		}
		trusted, pinned := FirstRootTrust(c, pins)
		ok, err := s.AddCVCACertificate(ctx, c, trusted)
		if errors.Is(err, ErrUnverified) {
			log.Warn("CVCA certificate from a peer ignored", "country", country, "chr", c.CHR, "sha256", CertificateSHA256(c), "err", err)
			continue
		}
		if err != nil {
			return added, err
		}
		if ok {
			added++
			log.Info("CVCA certificate of a peer stored", "country", country, "chr", c.CHR, "sha256", CertificateSHA256(c), "pinned", pinned)
		}
	}
	return added, nil
}
