package spoc

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"eacgate/store"
)

// ErrPartnerSuspended: the partner is suspended in the registry; its requests are refused
// and nothing is sent to it.
var ErrPartnerSuspended = errors.New("spoc: partner suspended")

// registered returns the registry entry of country (TR-03139 3.2.2), or nil for a partner
// known only from the YAML routing table: such a partner is active, and its DVs get our
// CVCA's policy unchanged, as before the registry.
func registered(ctx context.Context, st *store.Store, country string) (*store.Partner, error) {
	p, err := st.PartnerByCountry(ctx, country)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spoc: partner %s: %w", country, err)
	}
	return p, nil
}

// partnerActive is nil when country's partner may be talked to now: not registered, or
// registered and active; ErrPartnerSuspended when suspended.
func partnerActive(ctx context.Context, st *store.Store, country string) error {
	p, err := registered(ctx, st, country)
	if err != nil {
		return err
	}
	if p != nil && p.Status != store.PartnerActive {
		return fmt.Errorf("%w: %s", ErrPartnerSuspended, country)
	}
	return nil
}

// ErrNotUnderSPOCRoot: a partner SPOC's TLS certificate does not chain to the SPOC root CA
// registered for its country.
var ErrNotUnderSPOCRoot = errors.New("spoc: TLS certificate not issued under the partner's registered SPOC root")

// registeredPartnerAdmits is nil when the SPOC of country may call now with TLS client
// certificate cert: the partner is not suspended (partnerActive) and, when its registration
// holds a SPOC root CA (TR-03139 Appendix D Part II), cert chains to that root at now (the
// registered PEM may carry the issuing intermediates too). Partners known only from the
// YAML routing table are checked by their pinned certificate alone, as before.
func registeredPartnerAdmits(ctx context.Context, st *store.Store, country string, cert *x509.Certificate, now time.Time) error {
	p, err := registered(ctx, st, country)
	if err != nil {
		return err
	}
	if p == nil {
		return nil
	}
	if p.Status != store.PartnerActive {
		return fmt.Errorf("%w: %s", ErrPartnerSuspended, country)
	}
	if len(p.SPOCRoot) == 0 {
		return nil
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.SPOCRoot) {
		return fmt.Errorf("spoc: the registered SPOC root of %s holds no certificate", country)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%w (%s): %v", ErrNotUnderSPOCRoot, country, err)
	}
	return nil
}
