package cvc

import (
	"errors"
	"fmt"
	"time"

	"eacgate/ecc"
)

// maxChainLength bounds path building: CVCA, a few link certificates, DV, terminal.
const maxChainLength = 12

// VerifyOptions says what to trust and when.
type VerifyOptions struct {
	// Anchors are the trusted CVCA certificates (trust points).
	Anchors []*Certificate
	// Intermediates are further certificates that may complete the path: CVCA link
	// certificates and DV certificates, in any order.
	Intermediates []*Certificate
	// At is the time the certificates must be valid at; the zero value means now.
	At time.Time
	// IgnoreDates skips the validity period checks (signatures and roles are still checked).
	IgnoreDates bool
}

// Verify builds a path from leaf up to one of the anchors and checks it: each certificate's
// CAR names its issuer's CHR and its signature verifies with the issuer's key (EC keys
// without domain parameters use those of the CVCA above them); roles descend CVCA (link
// certificates: CVCA signed by the previous CVCA key) -> DV -> terminal; every CHAT is for the
// issuer's terminal type and grants no right the issuer lacks (a CVCA defines its own rights,
// so link certificates may change them); and every certificate is valid at opts.At. A CVCA
// certificate that a later link certificate in the path supersedes is not date-checked: the
// link certificate is the trust point from then on (TR-03110 Part 3, 2.5).
//
// It returns the path from anchor to leaf. Errors wrap ErrChain, ErrSignature, ErrExpired or
// ErrDomainParameters.
func Verify(leaf *Certificate, opts VerifyOptions) ([]*Certificate, error) {
	if len(opts.Anchors) == 0 {
		return nil, fmt.Errorf("%w: no trust anchor configured", ErrChain)
	}
	at := opts.At
	if at.IsZero() {
		at = time.Now()
	}
	b := pathBuilder{opts: opts}
	path, err := b.build(leaf, 0)
	if err != nil {
		return nil, err
	}
	if !opts.IgnoreDates {
		if err := checkDates(path, at); err != nil {
			return nil, err
		}
	}
	return path, nil
}

type pathBuilder struct {
	opts VerifyOptions
}

func (b *pathBuilder) isAnchor(c *Certificate) bool {
	for _, a := range b.opts.Anchors {
		if a.Equal(c) {
			return true
		}
	}
	return false
}

// build returns the checked path from an anchor to c.
func (b *pathBuilder) build(c *Certificate, depth int) ([]*Certificate, error) {
	if depth > maxChainLength {
		return nil, fmt.Errorf("%w: path longer than %d certificates", ErrChain, maxChainLength)
	}
	if b.isAnchor(c) {
		if err := checkAnchor(c); err != nil {
			return nil, err
		}
		return []*Certificate{c}, nil
	}
	var candidates []*Certificate
	for _, a := range b.opts.Anchors {
		if a.CHR == c.CAR {
			candidates = append(candidates, a)
		}
	}
	for _, i := range b.opts.Intermediates {
		if i.CHR == c.CAR && !i.Equal(c) && !i.IsSelfSigned() {
			candidates = append(candidates, i)
		}
	}
	if len(candidates) == 0 {
		return nil, fmt.Errorf("%w: issuer %s of %s is neither a trust anchor nor among the given certificates", ErrChain, c.CAR, c.CHR)
	}
	var firstErr error
	for _, issuer := range candidates {
		path, err := b.build(issuer, depth+1)
		if err == nil {
			err = checkIssued(path, c)
		}
		if err == nil {
			return append(path, c), nil
		}
		if firstErr == nil || errors.Is(firstErr, ErrChain) && !errors.Is(err, ErrChain) {
			firstErr = err
		}
	}
	return nil, firstErr
}

// checkAnchor checks a trust anchor: a CVCA; if self-signed, its signature must verify.
func checkAnchor(c *Certificate) error {
	if c.Role() != RoleCVCA {
		return fmt.Errorf("%w: trust anchor %s is a %s certificate, not a CVCA", ErrChain, c.CHR, c.Role())
	}
	if c.PublicKey.Algorithm.IsECDSA() && !c.PublicKey.HasDomainParameters() {
		return fmt.Errorf("%w: trust anchor %s has no domain parameters", ErrDomainParameters, c.CHR)
	}
	if !c.IsSelfSigned() {
		return nil // a trusted link certificate: trusted by configuration
	}
	key, err := c.PublicKey.Key(nil)
	if err != nil {
		return fmt.Errorf("trust anchor %s: %w", c.CHR, err)
	}
	return c.CheckSignature(key, c.PublicKey.Algorithm)
}

// checkIssued checks that the last certificate of path issued c.
func checkIssued(path []*Certificate, c *Certificate) error {
	issuer := path[len(path)-1]
	switch ir, cr := issuer.Role(), c.Role(); {
	case ir == RoleCVCA && (cr == RoleCVCA || cr.IsDV()):
	case ir.IsDV() && cr == RoleTerminal:
	default:
		return fmt.Errorf("%w: a %s certificate (%s) cannot issue a %s certificate (%s)", ErrChain, ir, issuer.CHR, cr, c.CHR)
	}
	if !c.CHAT.Type.Equal(issuer.CHAT.Type) {
		return fmt.Errorf("%w: %s is for %s but its issuer %s for %s", ErrChain, c.CHR, c.CHAT.TypeName(), issuer.CHR, issuer.CHAT.TypeName())
	}
	if c.Role() != RoleCVCA && !c.CHAT.Within(issuer.CHAT) {
		return fmt.Errorf("%w: CHAT of %s (% X) exceeds its issuer's (% X)", ErrChain, c.CHR, c.CHAT.Bits, issuer.CHAT.Bits)
	}
	key, err := issuer.PublicKey.Key(Domain(path))
	if err != nil {
		return fmt.Errorf("issuer %s: %w", issuer.CHR, err)
	}
	return c.CheckSignature(key, issuer.PublicKey.Algorithm)
}

// Domain returns the EC domain parameters in force at the end of path: those of the last
// certificate in it that carries them (the CVCA or its latest link certificate). It returns
// nil for RSA paths.
func Domain(path []*Certificate) *ecc.Curve {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i].PublicKey.HasDomainParameters() {
			c, err := path[i].PublicKey.Curve()
			if err != nil {
				return nil
			}
			return c
		}
	}
	return nil
}

func checkDates(path []*Certificate, at time.Time) error {
	for i, c := range path {
		superseded := c.Role() == RoleCVCA && i+1 < len(path) && path[i+1].Role() == RoleCVCA
		if superseded {
			continue
		}
		if !c.ValidAt(at) {
			return fmt.Errorf("%w: %s is valid from %s to %s, not on %s", ErrExpired, c.CHR, c.EffectiveDate, c.ExpirationDate, DateOf(at))
		}
	}
	return nil
}
