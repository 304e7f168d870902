package trust

import (
	"context"
	"fmt"
	"time"

	"eacgate/cvc"
)

// VerifyAnswer checks the certificates received in answer to request (a certificate request
// this gateway sent, for itself or relayed for a DV) and returns those issued for it and all
// of them concatenated (the result to store and pass on).
//
// Every certificate is either a CVCA certificate (passed on with the answer, used to build
// the path, not the requester's) or answers the request: the request's CHR and public key,
// signed through a path to the stored CVCA certificates of its issuer's country, not expired
// at now. At least one must answer the request. Failures wrap ErrAnswerUnverified (and
// ErrNoCVCAChain when the issuing country's CVCA certificates are not known here yet); store
// failures are returned as they are.
func (s *Store) VerifyAnswer(ctx context.Context, request []byte, certs [][]byte, now time.Time) (issued []*cvc.Certificate, result []byte, err error) {
	req, err := cvc.ParseRequest(request)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the request sent: %v", ErrAnswerUnverified, err)
	}
	var cvcas []*cvc.Certificate
	for _, raw := range certs {
		c, err := cvc.ParseCertificate(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrAnswerUnverified, err)
		}
		result = append(result, c.Raw...)
		switch {
		case c.Role() == cvc.RoleCVCA:
			cvcas = append(cvcas, c)
		case c.CHR != req.CHR || !c.PublicKey.Equal(&req.PublicKey):
			return nil, nil, fmt.Errorf("%w: certificate %s is not for the request %s (holder or key differs)", ErrAnswerUnverified, c.CHR, req.CHR)
		default:
			issued = append(issued, c)
		}
	}
	if len(issued) == 0 {
		return nil, nil, fmt.Errorf("%w: no certificate for the request %s", ErrAnswerUnverified, req.CHR)
	}
	today := cvc.DateOf(now)
	for _, c := range issued {
		if err := s.verifyReceived(ctx, c, cvcas); err != nil {
			return nil, nil, err
		}
		if c.ExpirationDate.Before(today) {
			return nil, nil, fmt.Errorf("%w: certificate %s expired on %s", ErrAnswerUnverified, c.CHR, c.ExpirationDate)
		}
	}
	return issued, result, nil
}

// verifyReceived checks c's signatures, linkage and roles up to the stored CVCA certificates
// of its issuer's country, through the CVCA certificates received with it. Dates are left to
// the caller: a CVCA in another time zone may issue a certificate effective on its today.
func (s *Store) verifyReceived(ctx context.Context, c *cvc.Certificate, received []*cvc.Certificate) error {
	if len(c.CAR) < 2 {
		return fmt.Errorf("%w: certificate %s names no issuer country", ErrAnswerUnverified, c.CHR)
	}
	chain, err := s.Chain(ctx, c.CAR[:2])
	if err != nil {
		return err
	}
	if len(chain) == 0 {
		return fmt.Errorf("%w: %w %s", ErrAnswerUnverified, ErrNoCVCAChain, c.CAR[:2])
	}
	opts := cvc.VerifyOptions{Anchors: chain[:1], Intermediates: append(chain[1:len(chain):len(chain)], received...), IgnoreDates: true}
	if _, err := cvc.Verify(c, opts); err != nil {
		return fmt.Errorf("%w: certificate %s: %v", ErrAnswerUnverified, c.CHR, err)
	}
	return nil
}
