package spoc

import (
	"context"
	"errors"
	"fmt"

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
