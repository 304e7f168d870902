package store

import (
	"context"
	"fmt"
	"time"
)

// The lifecycle of operator and API client accounts: disable and enable, rotate the
// credential, change an operator's role, remove (the row stays, so that the audit log's
// names resolve, but never authenticates again), and the last use. Each is a plain change:
// ops runs it inside Audited with its event.

// checkPersonRole refuses a role for person when another of the person's accounts that is
// not removed (other than the one with id except) holds a different role: one person, one
// role (TR-03139 5.2).
func (s *Store) checkPersonRole(ctx context.Context, person string, role OperatorRole, except int64) error {
	held, ok := s.firstValue(ctx, &Operator{}, "role", "person = ? AND role <> ? AND removed_at IS NULL AND id <> ?", person, role, except)
	if ok {
		return &ConflictError{Msg: fmt.Sprintf("person %s already holds the role %s: one person holds one role (TR-03139 5.2)", person, held)}
	}
	return nil
}

// OperatorByID returns an operator whatever its status, or ErrNotFound.
func (s *Store) OperatorByID(ctx context.Context, id int64) (*Operator, error) {
	return s.operatorWhere(ctx, "id = ?", id)
}

// OperatorByName returns an operator whatever its status, or ErrNotFound.
func (s *Store) OperatorByName(ctx context.Context, name string) (*Operator, error) {
	return s.operatorWhere(ctx, "name = ?", name)
}

// updateAccount changes the columns of account id in model's table unless it was removed:
// ErrNotFound if there is no such account, a ConflictError if it was removed.
func (s *Store) updateAccount(ctx context.Context, model any, kind string, id int64, values map[string]any) error {
	res := s.db.WithContext(ctx).Model(model).Where("id = ? AND removed_at IS NULL", id).Updates(values)
	if res.Error != nil {
		return wrap("update "+kind, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(model).Where("id = ?", id).Count(&n).Error; err != nil {
		return wrap("update "+kind, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s %d: %w", kind, id, ErrNotFound)
	}
	return &ConflictError{Msg: fmt.Sprintf("%s %d was removed", kind, id)}
}

// SetOperatorDisabled disables or enables an operator that is not removed.
func (s *Store) SetOperatorDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.updateAccount(ctx, &Operator{}, "operator", id, map[string]any{"disabled": disabled})
}

// SetOperatorRole gives an operator that is not removed another role, unless its person
// holds another account of a different role.
func (s *Store) SetOperatorRole(ctx context.Context, id int64, role OperatorRole) error {
	if !role.Valid() {
		return fmt.Errorf("store: set operator role: %q is not a role", role)
	}
	o, err := s.OperatorByID(ctx, id)
	if err != nil {
		return err
	}
	if err := s.checkPersonRole(ctx, o.Person, role, id); err != nil {
		return err
	}
	return s.updateAccount(ctx, &Operator{}, "operator", id, map[string]any{"role": role})
}

// SetOperatorToken replaces an operator's token hash (the old token stops working) and its
// expiry (nil: none).
func (s *Store) SetOperatorToken(ctx context.Context, id int64, tokenHash string, expires *time.Time) error {
	if tokenHash == "" {
		return fmt.Errorf("store: set operator token: empty token hash")
	}
	return s.updateAccount(ctx, &Operator{}, "operator", id, map[string]any{"token_hash": tokenHash, "expires_at": expires})
}

// RemoveOperator marks an operator removed at at: it never authenticates again.
func (s *Store) RemoveOperator(ctx context.Context, id int64, at time.Time) error {
	return s.updateAccount(ctx, &Operator{}, "operator", id, map[string]any{"removed_at": at.UTC(), "disabled": true})
}

// TouchOperator records a successful authentication at at, unless the last one recorded is
// less than every old: no write per request.
func (s *Store) TouchOperator(ctx context.Context, id int64, at time.Time, every time.Duration) error {
	return s.touch(ctx, &Operator{}, id, at, every)
}

// TouchAPIClient is TouchOperator for an API client.
func (s *Store) TouchAPIClient(ctx context.Context, id int64, at time.Time, every time.Duration) error {
	return s.touch(ctx, &APIClient{}, id, at, every)
}

func (s *Store) touch(ctx context.Context, model any, id int64, at time.Time, every time.Duration) error {
	err := s.db.WithContext(ctx).Model(model).Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, at.Add(-every).UTC()).
		Update("last_used_at", at.UTC()).Error
	return wrap("record last use", err)
}

// APIClientByID returns an API client whatever its status, or ErrNotFound.
func (s *Store) APIClientByID(ctx context.Context, id int64) (*APIClient, error) {
	return s.apiClientWhere(ctx, "id = ?", id)
}

// APIClientByUser returns an API client by its user name whatever its status, or
// ErrNotFound.
func (s *Store) APIClientByUser(ctx context.Context, user string) (*APIClient, error) {
	return s.apiClientWhere(ctx, "user_name = ?", user)
}

func (s *Store) apiClientWhere(ctx context.Context, where string, arg any) (*APIClient, error) {
	var c APIClient
	if err := s.db.WithContext(ctx).Where(where, arg).Take(&c).Error; err != nil {
		return nil, wrap("API client", err)
	}
	return &c, nil
}

// ListAPIClients returns the API clients by user name (secrets included: callers show
// none of them).
func (s *Store) ListAPIClients(ctx context.Context) ([]APIClient, error) {
	var cs []APIClient
	return cs, wrap("list API clients", s.db.WithContext(ctx).Order("user_name").Find(&cs).Error)
}

// SetAPIClientDisabled disables or enables an API client that is not removed.
func (s *Store) SetAPIClientDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.updateAccount(ctx, &APIClient{}, "API client", id, map[string]any{"disabled": disabled})
}

// APIClientSecrets are an API client's new credentials; empty fields keep the old ones.
type APIClientSecrets struct {
	PasswordHash string
	// AESKey is the new key as CreateAPIClient takes it: 32 bytes in clear, or sealed
	// (KeyWrapped) with APIClientKeyAAD of the client's emKey.
	AESKey     []byte
	KeyWrapped bool
	// ExpiresAt is the credentials' new expiry (nil: none).
	ExpiresAt *time.Time
}

// RotateAPIClient replaces an API client's password hash and/or AES key.
func (s *Store) RotateAPIClient(ctx context.Context, id int64, sec APIClientSecrets) error {
	values := map[string]any{"expires_at": sec.ExpiresAt}
	if sec.PasswordHash != "" {
		values["password_hash"] = sec.PasswordHash
	}
	if len(sec.AESKey) > 0 {
		if ok := len(sec.AESKey) == 32 || (sec.KeyWrapped && len(sec.AESKey) > 32); !ok {
			return fmt.Errorf("store: rotate API client: need a 32-byte key")
		}
		values["aes_key"], values["key_wrapped"] = sec.AESKey, sec.KeyWrapped
	}
	if len(values) == 1 {
		return fmt.Errorf("store: rotate API client: neither a password nor a key")
	}
	return s.updateAccount(ctx, &APIClient{}, "API client", id, values)
}

// RemoveAPIClient marks an API client removed at at: it never authenticates again.
func (s *Store) RemoveAPIClient(ctx context.Context, id int64, at time.Time) error {
	return s.updateAccount(ctx, &APIClient{}, "API client", id, map[string]any{"removed_at": at.UTC(), "disabled": true})
}
