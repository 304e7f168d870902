package testenv

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"sync"
)

// KeyWrapper is the tests' stand-in for the keystore's key wrapper (store.KeyWrapper):
// AES-256-GCM under an in-memory key, nonce || ciphertext, as hsm's is under a key file or a
// token key. FailAfter > 0 makes the Seal calls after that many fail (a token removed).
type KeyWrapper struct {
	FailAfter int

	aead  cipher.AEAD
	mu    sync.Mutex
	seals int
}

// NewKeyWrapper makes a wrapper with a fresh random key.
func NewKeyWrapper() *KeyWrapper {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	b, err := aes.NewCipher(k)
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return &KeyWrapper{aead: g}
}

// Seal encrypts plain bound to aad.
func (w *KeyWrapper) Seal(_ context.Context, plain, aad []byte) ([]byte, error) {
	w.mu.Lock()
	w.seals++
	failed := w.FailAfter > 0 && w.seals > w.FailAfter
	w.mu.Unlock()
	if failed {
		return nil, errors.New("token removed")
	}
	nonce := make([]byte, w.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return w.aead.Seal(nonce, nonce, plain, aad), nil
}

// Open decrypts what Seal made with the same aad.
func (w *KeyWrapper) Open(_ context.Context, sealed, aad []byte) ([]byte, error) {
	n := w.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed key too short")
	}
	return w.aead.Open(nil, sealed[:n], sealed[n:], aad)
}
