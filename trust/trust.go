// Package trust is where the gateway's TR-03139 trust decisions live: which foreign material
// (CV certificates and requests that come from partners, remote CVCAs and operators) is
// taken as trusted. It owns the stored CVCA roots of every country (the first one pinned by
// its SHA-256, or taken on first use over an authenticated connection), adds later CVCA
// certificates only as link certificates that verify against them, checks the certificates
// received in answer to a request this gateway sent, checks the outer signature of a
// request before it goes abroad, and that of a foreign DV's request a partner SPOC relays
// (VerifyForeignRequest). Nothing else decides these; callers only act on the result.
// The EU trust model of issue #18 (partner registration, foreign requests checked against
// the registered certificates of their country) extends this package.
package trust

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"eacgate/cvc"
	"eacgate/store"
)

// ErrUnverified is returned by AddCVCACertificate and AddLink for a CVCA certificate that
// does not chain to the stored certificates of its country.
var ErrUnverified = errors.New("trust: CVCA certificate does not chain to the stored ones")

// ErrAnswerUnverified is returned by VerifyAnswer for certificates that do not answer the
// request they came for: another holder or key, a signature that does not chain to the
// stored CVCA certificates of the issuing country, an expired certificate.
var ErrAnswerUnverified = errors.New("trust: received certificates do not answer the request")

// ErrNoCVCAChain is returned (wrapped in ErrAnswerUnverified) when no CVCA certificate of the
// issuing country is stored, so that received certificates cannot be checked yet.
var ErrNoCVCAChain = errors.New("trust: no stored CVCA certificate of the issuing country")

// Store is the trust store: the CVCA certificates of every country kept in the store, and
// the checks made against them. It holds no state of its own (safe for concurrent use).
type Store struct {
	st *store.Store
}

// New returns the trust store kept in st.
func New(st *store.Store) *Store { return &Store{st: st} }

// CertificateSHA256 is the hex SHA-256 of a CV certificate's encoding: the fingerprint
// operators compare out of band and pin (cvca_sha256).
func CertificateSHA256(c *cvc.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// FirstRootTrust decides whether a CVCA root received without a stored chain may be taken:
// when pins are configured, only a pinned one; otherwise on first use (pinned reports false).
func FirstRootTrust(c *cvc.Certificate, pins []string) (trusted, pinned bool) {
	if len(pins) == 0 {
		return true, false
	}
	fp := CertificateSHA256(c)
	for _, p := range pins {
		if strings.EqualFold(strings.TrimSpace(p), fp) {
			return true, true
		}
	}
	return false, false
}

// Chain returns a country's stored CVCA certificates (self-signed roots and link
// certificates), oldest first: the anchor and intermediates every path of that country is
// checked against. An empty chain means nothing of the country is trusted yet.
func (s *Store) Chain(ctx context.Context, country string) ([]*cvc.Certificate, error) {
	rows, err := s.st.CVCAChain(ctx, country)
	if err != nil {
		return nil, err
	}
	chain := make([]*cvc.Certificate, 0, len(rows))
	for _, row := range rows {
		c, err := cvc.ParseCertificate(row.Raw)
		if err != nil {
			return nil, fmt.Errorf("trust: stored CVCA certificate %s: %w", row.CHR, err)
		}
		chain = append(chain, c)
	}
	return chain, nil
}
