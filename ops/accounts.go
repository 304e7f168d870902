package ops

import (
	"context"
	"fmt"
	"time"

	"eacgate/store"
)

// The states of an account, as lists show them and refusals name them.
const (
	AccountActive   = "active"
	AccountDisabled = "disabled"
	AccountExpired  = "expired"
	AccountRemoved  = "removed"
)

// AccountError refuses an account that may not authenticate: disabled, removed or expired.
type AccountError struct {
	Kind  string // "operator" or "API client"
	Name  string
	State string // AccountDisabled, AccountRemoved or AccountExpired
}

func (e *AccountError) Error() string { return fmt.Sprintf("%s %s is %s", e.Kind, e.Name, e.State) }

// accountState is an account's state at now: removed before disabled before expired.
func accountState(disabled bool, removed, expires *time.Time, now time.Time) string {
	switch {
	case removed != nil:
		return AccountRemoved
	case disabled:
		return AccountDisabled
	case expires != nil && !now.Before(*expires):
		return AccountExpired
	}
	return AccountActive
}

// OperatorState is o's state at now.
func OperatorState(o *store.Operator, now time.Time) string {
	return accountState(o.Disabled, o.RemovedAt, o.ExpiresAt, now)
}

// APIClientState is c's state at now.
func APIClientState(c *store.APIClient, now time.Time) string {
	return accountState(c.Disabled, c.RemovedAt, c.ExpiresAt, now)
}

// CheckOperatorUsable refuses (*AccountError) an operator account that may not
// authenticate at now. Every channel that authenticates operators calls it.
func CheckOperatorUsable(o *store.Operator, now time.Time) error {
	if st := OperatorState(o, now); st != AccountActive {
		return &AccountError{Kind: "operator", Name: o.Name, State: st}
	}
	return nil
}

// CheckAPIClientUsable is CheckOperatorUsable for an emCA API client.
func CheckAPIClientUsable(c *store.APIClient, now time.Time) error {
	if st := APIClientState(c, now); st != AccountActive {
		return &AccountError{Kind: "API client", Name: c.UserName, State: st}
	}
	return nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// accountChange runs change with its audit event (action by a on target, details) in one
// transaction; a refusal is audited and returned.
func (s *Service) accountChange(ctx context.Context, a Actor, action Action, target string, details any, change func(tx *store.Store) error) error {
	ev, err := s.ok(a, action, target, details)
	if err != nil {
		return err
	}
	if err := s.Store.Audited(ctx, string(action), ev, change); err != nil {
		return s.refused(ctx, a, action, target, err, details)
	}
	return nil
}

// AddOperator registers an operator account (a two-person task: the proposals flow
// executes it). Refused when its person (default: its name) holds a non-removed account of
// another role: one person, one role; two accounts of one person and role are allowed.
func (s *Service) AddOperator(ctx context.Context, a Actor, o *store.Operator) error {
	if o.Person == "" {
		o.Person = o.Name
	}
	details := map[string]any{"role": o.Role, "person": o.Person}
	if o.ExpiresAt != nil {
		details["expires_at"] = o.ExpiresAt.UTC().Format(time.RFC3339)
	}
	ev, err := s.ok(a, ActionOperatorAdd, o.Name, details)
	if err != nil {
		return err
	}
	if err := s.Store.CreateOperatorAudited(ctx, o, ev); err != nil {
		return s.refused(ctx, a, ActionOperatorAdd, o.Name, err, details)
	}
	return nil
}

// AddAPIClient registers a client of the emCA-compatible endpoints (its AES key as the
// caller sealed it).
func (s *Service) AddAPIClient(ctx context.Context, a Actor, c *store.APIClient) error {
	ev, err := s.ok(a, ActionAPIClientAdd, c.UserName, nil)
	if err != nil {
		return err
	}
	if err := s.Store.CreateAPIClientAudited(ctx, c, ev); err != nil {
		return s.refused(ctx, a, ActionAPIClientAdd, c.UserName, err, nil)
	}
	return nil
}

// operator reads operator id for an action on it; not found is audited.
func (s *Service) operator(ctx context.Context, a Actor, action Action, id int64) (*store.Operator, error) {
	o, err := s.Store.OperatorByID(ctx, id)
	if err != nil {
		return nil, s.refused(ctx, a, action, fmt.Sprintf("operator:%d", id), err, nil)
	}
	return o, nil
}

// DisableOperator disables an operator account at once (one person, like a suspension).
func (s *Service) DisableOperator(ctx context.Context, a Actor, id int64) (*store.Operator, error) {
	return s.setOperatorDisabled(ctx, a, ActionOperatorDisable, id, true)
}

// EnableOperator enables a disabled operator account again. A two-person task: the
// proposals engineer's flow executes it; no adapter calls it directly.
func (s *Service) EnableOperator(ctx context.Context, a Actor, id int64) error {
	_, err := s.setOperatorDisabled(ctx, a, ActionOperatorEnable, id, false)
	return err
}

func (s *Service) setOperatorDisabled(ctx context.Context, a Actor, action Action, id int64, disabled bool) (*store.Operator, error) {
	o, err := s.operator(ctx, a, action, id)
	if err != nil {
		return nil, err
	}
	err = s.accountChange(ctx, a, action, o.Name, map[string]any{"id": o.ID, "role": o.Role, "person": o.Person},
		func(tx *store.Store) error {
			if disabled { // the account's console sessions end with it
				if err := tx.EndConsoleSessionsOf(ctx, id, s.now()); err != nil {
					return err
				}
			}
			return tx.SetOperatorDisabled(ctx, id, disabled)
		})
	if err != nil {
		return nil, err
	}
	o.Disabled = disabled
	return o, nil
}

// SetOperatorRole gives an operator account another role, refused when its person holds
// another account of a different role (one person, one role). A two-person task executed
// by the proposals flow.
func (s *Service) SetOperatorRole(ctx context.Context, a Actor, id int64, role store.OperatorRole) error {
	o, err := s.operator(ctx, a, ActionOperatorRole, id)
	if err != nil {
		return err
	}
	return s.accountChange(ctx, a, ActionOperatorRole, o.Name, map[string]any{"id": o.ID, "from": o.Role, "to": role, "person": o.Person},
		func(tx *store.Store) error { return tx.SetOperatorRole(ctx, id, role) })
}

// RotateOperatorToken replaces an operator's bearer token by the one whose hash is given
// (the adapter makes the token and shows it once); expires is the new token's end (nil:
// none). The old token stops working at once.
func (s *Service) RotateOperatorToken(ctx context.Context, a Actor, id int64, tokenHash string, expires *time.Time) (*store.Operator, error) {
	o, err := s.operator(ctx, a, ActionOperatorRotate, id)
	if err != nil {
		return nil, err
	}
	details := map[string]any{"id": o.ID}
	if expires != nil {
		details["expires_at"] = expires.UTC().Format(time.RFC3339)
	}
	err = s.accountChange(ctx, a, ActionOperatorRotate, o.Name, details,
		func(tx *store.Store) error {
			if err := tx.EndConsoleSessionsOf(ctx, id, s.now()); err != nil { // opened with the old token
				return err
			}
			return tx.SetOperatorToken(ctx, id, tokenHash, expires)
		})
	if err != nil {
		return nil, err
	}
	o.TokenHash, o.ExpiresAt = tokenHash, expires
	return o, nil
}

// RemoveOperator removes an operator account: it never authenticates again; its row (and
// name) stays for the audit log.
func (s *Service) RemoveOperator(ctx context.Context, a Actor, id int64) (*store.Operator, error) {
	o, err := s.operator(ctx, a, ActionOperatorRemove, id)
	if err != nil {
		return nil, err
	}
	at := s.now().UTC().Truncate(time.Microsecond)
	err = s.accountChange(ctx, a, ActionOperatorRemove, o.Name, map[string]any{"id": o.ID, "role": o.Role, "person": o.Person},
		func(tx *store.Store) error {
			if err := tx.EndConsoleSessionsOf(ctx, id, at); err != nil {
				return err
			}
			return tx.RemoveOperator(ctx, id, at)
		})
	if err != nil {
		return nil, err
	}
	o.RemovedAt, o.Disabled = &at, true
	return o, nil
}

// apiClient reads API client id for an action on it; not found is audited.
func (s *Service) apiClient(ctx context.Context, a Actor, action Action, id int64) (*store.APIClient, error) {
	c, err := s.Store.APIClientByID(ctx, id)
	if err != nil {
		return nil, s.refused(ctx, a, action, fmt.Sprintf("api_client:%d", id), err, nil)
	}
	return c, nil
}

// DisableAPIClient disables an emCA API client at once.
func (s *Service) DisableAPIClient(ctx context.Context, a Actor, id int64) (*store.APIClient, error) {
	return s.setAPIClientDisabled(ctx, a, ActionAPIClientDisable, id, true)
}

// EnableAPIClient enables a disabled API client again. A two-person task executed by the
// proposals flow.
func (s *Service) EnableAPIClient(ctx context.Context, a Actor, id int64) error {
	_, err := s.setAPIClientDisabled(ctx, a, ActionAPIClientEnable, id, false)
	return err
}

func (s *Service) setAPIClientDisabled(ctx context.Context, a Actor, action Action, id int64, disabled bool) (*store.APIClient, error) {
	c, err := s.apiClient(ctx, a, action, id)
	if err != nil {
		return nil, err
	}
	err = s.accountChange(ctx, a, action, c.UserName, map[string]any{"id": c.ID},
		func(tx *store.Store) error { return tx.SetAPIClientDisabled(ctx, id, disabled) })
	if err != nil {
		return nil, err
	}
	c.Disabled = disabled
	return c, nil
}

// RotateAPIClient replaces an API client's password (its hash) and/or AES key (as
// AddAPIClient takes it: sealed by the caller when a key wrapper is configured). The event
// says which were replaced, never their values.
func (s *Service) RotateAPIClient(ctx context.Context, a Actor, id int64, sec store.APIClientSecrets) (*store.APIClient, error) {
	c, err := s.apiClient(ctx, a, ActionAPIClientRotate, id)
	if err != nil {
		return nil, err
	}
	details := map[string]any{"id": c.ID, "password": sec.PasswordHash != "", "key": len(sec.AESKey) > 0}
	if sec.ExpiresAt != nil {
		details["expires_at"] = sec.ExpiresAt.UTC().Format(time.RFC3339)
	}
	err = s.accountChange(ctx, a, ActionAPIClientRotate, c.UserName, details,
		func(tx *store.Store) error { return tx.RotateAPIClient(ctx, id, sec) })
	if err != nil {
		return nil, err
	}
	c.ExpiresAt = sec.ExpiresAt
	return c, nil
}

// RemoveAPIClient removes an API client: it never authenticates again; its row stays.
func (s *Service) RemoveAPIClient(ctx context.Context, a Actor, id int64) (*store.APIClient, error) {
	c, err := s.apiClient(ctx, a, ActionAPIClientRemove, id)
	if err != nil {
		return nil, err
	}
	at := s.now().UTC().Truncate(time.Microsecond)
	err = s.accountChange(ctx, a, ActionAPIClientRemove, c.UserName, map[string]any{"id": c.ID},
		func(tx *store.Store) error { return tx.RemoveAPIClient(ctx, id, at) })
	if err != nil {
		return nil, err
	}
	c.RemovedAt, c.Disabled = &at, true
	return c, nil
}
