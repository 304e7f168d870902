package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"eacgate/store"
)

// KeyWrapper seals the emCA clients' AES keys at rest under a key of the keystore or HSM
// (see store.KeyWrapper). The gateway sets Handler.Keys to the keystore's wrapper and calls
// PrepareKeys at start; eacgate apiclient add seals new keys with SealAPIClientKey.
type KeyWrapper = store.KeyWrapper

// errNoWrapper: a client's key is sealed but no key wrapper is configured.
var errNoWrapper = errors.New("the API client's AES key is wrapped but no key wrapper is configured")

// SealAPIClientKey replaces c's clear AES key with its sealed form (w nil: left in clear).
// c.EMKey must be set: it is the additional data.
func SealAPIClientKey(ctx context.Context, w KeyWrapper, c *store.APIClient) error {
	if w == nil || c.KeyWrapped {
		return nil
	}
	if c.EMKey == "" {
		return errors.New("admin: seal API client key: no emKey")
	}
	sealed, err := w.Seal(ctx, c.AESKey, store.APIClientKeyAAD(c.EMKey))
	if err != nil {
		return fmt.Errorf("admin: seal API client key: %w", err)
	}
	c.AESKey, c.KeyWrapped = sealed, true
	return nil
}

// clientKey returns c's AES key in clear.
func (h *Handler) clientKey(ctx context.Context, c *store.APIClient) ([]byte, error) {
	if !c.KeyWrapped {
		return c.AESKey, nil
	}
	if h.Keys == nil {
		return nil, errNoWrapper
	}
	key, err := h.Keys.Open(ctx, c.AESKey, store.APIClientKeyAAD(c.EMKey))
	if err != nil {
		return nil, fmt.Errorf("admin: open API client key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("admin: open API client key: %d bytes, not 32", len(key))
	}
	return key, nil
}

// PrepareKeys is run once at start: with a key wrapper, it wraps the API client keys still
// stored in clear (one transaction, audited); without one, it warns when clear keys are
// stored, and that wrapped keys cannot be used.
func PrepareKeys(ctx context.Context, st *store.Store, w KeyWrapper, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}
	if w == nil {
		n, err := st.CountClearAPIClientKeys(ctx)
		if err != nil {
			return fmt.Errorf("admin: prepare keys: %w", err)
		}
		logger.Warn("no key wrapper configured: emCA API client AES keys are stored in the database in clear",
			"clear_keys", n)
		return nil
	}
	n, err := st.WrapAPIClientKeys(ctx, w, "system:startup")
	if err != nil {
		return fmt.Errorf("admin: prepare keys: %w", err)
	}
	if n > 0 {
		logger.Info("wrapped emCA API client AES keys stored in clear", "clients", n)
	}
	return nil
}
