package ops

import (
	"context"
	"fmt"
	"strings"

	"eacgate/store"
)

// RightsError refuses a list of access rights: a data group other than dg3 or dg4.
type RightsError struct{ Reason string }

func (e *RightsError) Error() string { return e.Reason }

// SetHolderRights replaces the data groups (dg3: fingerprint, dg4: iris) holder id's
// certificates may grant (issue #18: configurable per DV or per terminal). They only narrow
// the issuer's certificate, so a DV's limit also bounds its terminals; an empty list
// restores the issuer's policy. Returns the normalized list; the audit event records it
// before and after, in the same transaction as the change.
func (s *Service) SetHolderRights(ctx context.Context, a Actor, id int64, rights []string) ([]string, error) {
	h, err := s.Store.HolderByID(ctx, id)
	if err != nil {
		return nil, s.refused(ctx, a, ActionHolderRights, fmt.Sprintf("holder:%d", id), err, nil)
	}
	target := h.Country + h.Mnemonic
	details := map[string]any{"rights": rights, "before": splitRights(h.Rights)}
	norm, err := store.NormalizePartnerRights(strings.Join(rights, ","))
	if err != nil {
		return nil, s.refused(ctx, a, ActionHolderRights, target,
			&RightsError{Reason: fmt.Sprintf("rights %q: dg3 or dg4", strings.Join(rights, ","))}, details)
	}
	details["rights"] = splitRights(norm)
	ev, err := s.ok(a, ActionHolderRights, target, details)
	if err != nil {
		return nil, err
	}
	err = s.Store.Audited(ctx, "set holder rights", ev, func(tx *store.Store) error {
		return tx.SetHolderRights(ctx, id, norm)
	})
	if err != nil {
		return nil, s.refused(ctx, a, ActionHolderRights, target, err, details)
	}
	return splitRights(norm), nil
}

// splitRights turns a stored list ("dg3,dg4") into its names; empty: an empty list.
func splitRights(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}
