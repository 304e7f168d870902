package ops

import (
	"context"
	"fmt"
	"slices"

	"eacgate/store"
)

// CountriesError refuses a list of foreign countries: not for a domestic DV, or a country
// that is not an upper-case ISO 3166-1 alpha-2 code.
type CountriesError struct{ Reason string }

func (e *CountriesError) Error() string { return e.Reason }

// SetHolderForeignCountries replaces the list of foreign countries domestic DV id may
// request certificates from through the SPOC (TR-03139 4.4.2.1: the RA decides; read by the
// forwarder with spoc.foreign_countries: listed). An empty list allows none. The audit
// event records the list before and after.
func (s *Service) SetHolderForeignCountries(ctx context.Context, a Actor, id int64, countries []string) ([]string, error) {
	h, err := s.Store.HolderByID(ctx, id)
	if err != nil {
		return nil, s.refused(ctx, a, ActionHolderCountries, fmt.Sprintf("holder:%d", id), err, nil)
	}
	target := h.Country + h.Mnemonic
	countries = slices.Compact(slices.Sorted(slices.Values(countries)))
	if countries == nil {
		countries = []string{}
	}
	details := map[string]any{"countries": countries}
	if h.Role != store.RoleDVDomestic {
		return nil, s.refused(ctx, a, ActionHolderCountries, target, &CountriesError{Reason: target + " is not a domestic DV"}, details)
	}
	for _, c := range countries {
		if !isCountry(c) || c == h.Country {
			return nil, s.refused(ctx, a, ActionHolderCountries, target,
				&CountriesError{Reason: fmt.Sprintf("%q is not a foreign country code (ISO 3166-1 alpha-2, upper case)", c)}, details)
		}
	}
	before, err := s.Store.HolderForeignCountries(ctx, id)
	if err != nil {
		return nil, s.refused(ctx, a, ActionHolderCountries, target, err, details)
	}
	if before == nil {
		before = []string{}
	}
	details["before"] = before
	ev, err := s.ok(a, ActionHolderCountries, target, details)
	if err != nil {
		return nil, err
	}
	err = s.Store.Audited(ctx, "set holder foreign countries", ev, func(tx *store.Store) error {
		return tx.SetHolderForeignCountries(ctx, id, countries)
	})
	if err != nil {
		return nil, s.refused(ctx, a, ActionHolderCountries, target, err, details)
	}
	return countries, nil
}

// HolderForeignCountries returns the foreign countries domestic DV id may ask.
func (s *Service) HolderForeignCountries(ctx context.Context, id int64) ([]string, error) {
	if _, err := s.Store.HolderByID(ctx, id); err != nil {
		return nil, err
	}
	return s.Store.HolderForeignCountries(ctx, id)
}

func isCountry(c string) bool {
	return len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z'
}
