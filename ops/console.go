package ops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"eacgate/store"
)

// TokenHash is what the store keeps of a bearer token or a console session token: its
// hex SHA-256 (the tokens carry 256 random bits, so no slow hash is needed, and the lookup
// is by an index, not a comparison).
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// OpenConsoleSession stores a web console session of the operator a acts for, with its
// session.open event in the same transaction (every sign-in is recorded, unlike the
// hourly auth.login of the API). how says what the operator signed in with ("token",
// "tls-certificate").
func (s *Service) OpenConsoleSession(ctx context.Context, a Actor, sess *store.ConsoleSession, how string) error {
	ev, err := s.ok(a, ActionSessionOpen, fmt.Sprintf("operator:%d", a.OperatorID), map[string]any{
		"with": how, "expires_at": sess.ExpiresAt.UTC().Format(time.RFC3339)})
	if err != nil {
		return err
	}
	return s.Store.Audited(ctx, "open console session", ev, func(tx *store.Store) error { return tx.CreateConsoleSession(ctx, sess) })
}

// CloseConsoleSession ends a session with its session.close event; why is "signed out",
// "idle timeout" or "absolute timeout".
func (s *Service) CloseConsoleSession(ctx context.Context, a Actor, sess *store.ConsoleSession, why string) error {
	ev, err := s.ok(a, ActionSessionClose, fmt.Sprintf("operator:%d", a.OperatorID), map[string]any{"why": why, "session": sess.ID})
	if err != nil {
		return err
	}
	return s.Store.Audited(ctx, "close console session", ev, func(tx *store.Store) error { return tx.EndConsoleSession(ctx, sess.ID, s.now()) })
}
