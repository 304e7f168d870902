package gateway

import (
	"context"
	"fmt"
	"sync"

	"eacgate/hsm"
	"eacgate/store"
)

// APIKeyWrapLabel labels the keystore key (AES-256, in the HSM or the software keystore)
// that wraps the emCA API clients' AES keys at rest.
const APIKeyWrapLabel = "apiclient-wrap"

// lazyKeyWrapper opens (creating if needed) the keystore's wrapping key at its first use, so
// that gateways without emCA clients never make one; a failed open is tried again at the
// next use (an HSM back from an outage).
type lazyKeyWrapper struct {
	keys hsm.Keystore
	mu   sync.Mutex
	w    *hsm.KeyWrapper
}

func (l *lazyKeyWrapper) get(ctx context.Context) (*hsm.KeyWrapper, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		w, err := hsm.OpenKeyWrapper(ctx, l.keys, APIKeyWrapLabel, true)
		if err != nil {
			return nil, fmt.Errorf("gateway: key wrapping key %s: %w", APIKeyWrapLabel, err)
		}
		l.w = w
	}
	return l.w, nil
}

func (l *lazyKeyWrapper) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	w, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return w.Seal(ctx, plaintext, aad)
}

func (l *lazyKeyWrapper) Open(ctx context.Context, ciphertext, aad []byte) ([]byte, error) {
	w, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return w.Open(ctx, ciphertext, aad)
}

// APIKeyWrapper seals and opens the emCA API clients' AES keys with the keystore's
// wrapping key.
func (g *Gateway) APIKeyWrapper() store.KeyWrapper {
	if g.keyWrapper == nil {
		g.keyWrapper = &lazyKeyWrapper{keys: g.Keys}
	}
	return g.keyWrapper
}
