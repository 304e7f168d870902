package trust

import (
	"context"
	"fmt"
	"strings"
	"time"

	"eacgate/cvc"
)

// VerifyForeignRequest checks the outer signature of a certificate request that a partner
// SPOC relays for one of its country's DVs, before this gateway's CVCA may issue for it
// (TR-03139 Table 2 step 9), and returns the certificate it was verified with.
//
// issuedByUs are the DV's certificates issued by this gateway's CVCA (its current one, as
// the registry knows it). When one of them is valid at now the request is successive and
// must be signed with the key of one of them that is still valid. Otherwise it is initial
// and must be signed with the key of a still valid CVCA certificate of dvCountry stored here
// (a root pinned at registration or a link certificate verified against it): the DV's
// domestic CVCA vouches for its first request. Anything else, an unauthenticated request
// included, wraps cvc.ErrOuterSignature; a signature by an expired or not yet valid
// certificate wraps cvc.ErrExpired (authority.CodeFor maps both). Store failures are
// returned as they are.
func (s *Store) VerifyForeignRequest(ctx context.Context, req *cvc.Request, dvCountry string, issuedByUs []*cvc.Certificate, now time.Time) (*cvc.Certificate, error) {
	if !req.Authenticated() {
		return nil, fmt.Errorf("%w: the request %s of a foreign DV carries no outer signature", cvc.ErrOuterSignature, req.CHR)
	}
	successive := false
	var named *cvc.Certificate
	for _, c := range issuedByUs {
		successive = successive || c.ValidAt(now)
		if c.CHR == req.OuterCAR {
			named = c
		}
	}
	if named != nil || successive {
		return s.verifyByOwn(ctx, req, named, now)
	}
	if !strings.HasPrefix(req.OuterCAR, dvCountry) {
		return nil, fmt.Errorf("%w: initial request %s signed by %s, not by a CVCA of %s", cvc.ErrOuterSignature, req.CHR, req.OuterCAR, dvCountry)
	}
	chain, err := s.Chain(ctx, dvCountry)
	if err != nil {
		return nil, err
	}
	for i, c := range chain {
		if c.CHR != req.OuterCAR {
			continue
		}
		if err := req.VerifyOuterWith(c, cvc.Domain(chain[:i+1])); err != nil {
			continue // another stored certificate with this CHR may have the key
		}
		if !c.ValidAt(now) {
			return nil, fmt.Errorf("%w: CVCA certificate %s is valid from %s to %s", cvc.ErrExpired, c.CHR, c.EffectiveDate, c.ExpirationDate)
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: initial request %s: outer signature by %s does not verify with a registered CVCA certificate of %s",
		cvc.ErrOuterSignature, req.CHR, req.OuterCAR, dvCountry)
}

// verifyByOwn checks a successive request's outer signature by named, a DV certificate this
// gateway's CVCA issued (nil: the outer CAR names none of the DV's).
func (s *Store) verifyByOwn(ctx context.Context, req *cvc.Request, named *cvc.Certificate, now time.Time) (*cvc.Certificate, error) {
	if named == nil {
		return nil, fmt.Errorf("%w: successive request %s signed by %s, not by a certificate this CVCA issued to the DV", cvc.ErrOuterSignature, req.CHR, req.OuterCAR)
	}
	if len(named.CAR) < 2 {
		return nil, fmt.Errorf("%w: certificate %s names no issuer", cvc.ErrOuterSignature, named.CHR)
	}
	chain, err := s.Chain(ctx, named.CAR[:2])
	if err != nil {
		return nil, err
	}
	i := 0
	for i < len(chain) && chain[i].CHR != named.CAR {
		i++
	}
	if i == len(chain) {
		return nil, fmt.Errorf("trust: the CVCA certificate %s that issued %s is not stored", named.CAR, named.CHR)
	}
	if err := req.VerifyOuterWith(named, cvc.Domain(chain[:i+1])); err != nil {
		return nil, fmt.Errorf("%w: %w", cvc.ErrOuterSignature, err)
	}
	if !named.ValidAt(now) {
		return nil, fmt.Errorf("%w: %s is valid from %s to %s", cvc.ErrExpired, named.CHR, named.EffectiveDate, named.ExpirationDate)
	}
	return named, nil
}
