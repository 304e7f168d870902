package hsm_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"eacgate/hsm"
	"eacgate/hsm/softhsmtest"
)

// wrapper is what the database layer needs from a key wrapper.
type wrapper interface {
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

var _ wrapper = (*hsm.KeyWrapper)(nil)

// exerciseWrapper seals and opens with w and checks that a wrong AAD and every tampered
// byte are refused. It returns a ciphertext of secret under aad.
func exerciseWrapper(t *testing.T, w wrapper, secret, aad []byte) []byte {
	t.Helper()
	ctx := context.Background()
	ct, err := w.Seal(ctx, secret, aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if len(ct) != 1+12+len(secret)+16 || ct[0] != 1 {
		t.Fatalf("ciphertext of %d bytes (version %d), want version 1 || nonce || ct || tag", len(ct), ct[0])
	}
	if bytes.Contains(ct, secret) {
		t.Fatalf("ciphertext contains the plaintext")
	}
	ct2, err := w.Seal(ctx, secret, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ct, ct2) {
		t.Fatalf("two seals of one plaintext are equal (nonce not random)")
	}
	pt, err := w.Open(ctx, ct, aad)
	if err != nil || !bytes.Equal(pt, secret) {
		t.Fatalf("Open = %x, %v; want %x", pt, err, secret)
	}
	if _, err := w.Open(ctx, ct, append(bytes.Clone(aad), 'x')); !errors.Is(err, hsm.ErrDecrypt) {
		t.Fatalf("Open with another AAD: err = %v, want ErrDecrypt", err)
	}
	for _, i := range []int{0, 1, 12, 13, len(ct) - 1} {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := w.Open(ctx, bad, aad); !errors.Is(err, hsm.ErrDecrypt) {
			t.Fatalf("Open with byte %d flipped: err = %v, want ErrDecrypt", i, err)
		}
	}
	for _, n := range []int{0, 1, 28, len(ct) - 1} {
		if _, err := w.Open(ctx, ct[:n], aad); !errors.Is(err, hsm.ErrDecrypt) {
			t.Fatalf("Open of %d bytes: err = %v, want ErrDecrypt", n, err)
		}
	}
	return ct
}

func TestSoftKeyWrapper(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ks := openSoft(t, dir, "pw")
	if _, err := hsm.OpenKeyWrapper(ctx, ks, "wrap", false); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("OpenKeyWrapper without create: err = %v, want ErrKeyNotFound", err)
	}
	w, err := hsm.OpenKeyWrapper(ctx, ks, "wrap", true)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	ct := exerciseWrapper(t, w, secret, []byte("client 7"))
	if infos, err := ks.List(ctx); err != nil || len(infos) != 0 {
		t.Fatalf("List shows the wrapping key: %v %v", infos, err)
	}

	// Another keystore instance on the directory opens what the first sealed.
	ks.Close()
	w2, err := hsm.OpenKeyWrapper(ctx, openSoft(t, dir, "pw"), "wrap", true)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := w2.Open(ctx, ct, []byte("client 7")); err != nil || !bytes.Equal(pt, secret) {
		t.Fatalf("Open after reopen = %x, %v", pt, err)
	}
	// Another key does not.
	w3, err := hsm.OpenKeyWrapper(ctx, openSoft(t, dir, "pw"), "other", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w3.Open(ctx, ct, []byte("client 7")); !errors.Is(err, hsm.ErrDecrypt) {
		t.Fatalf("Open with another key: %v", err)
	}
	// Nor does a wrong passphrase open the key.
	if _, err := hsm.OpenKeyWrapper(ctx, openSoft(t, dir, "wrong"), "wrap", false); !errors.Is(err, hsm.ErrWrongPIN) {
		t.Fatalf("OpenKeyWrapper with a wrong passphrase: %v", err)
	}
}

func TestPKCS11KeyWrapper(t *testing.T) {
	tok := softhsmtest.NewToken(t, "wrap")
	ks := openToken(t, tok, 2)
	ctx := context.Background()
	if _, err := hsm.OpenKeyWrapper(ctx, ks, "wrap", false); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("OpenKeyWrapper without create: err = %v, want ErrKeyNotFound", err)
	}
	w, err := hsm.OpenKeyWrapper(ctx, ks, "wrap", true)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	ct := exerciseWrapper(t, w, secret, []byte("client 7"))
	if _, err := w.Seal(ctx, nil, nil); err != nil {
		t.Fatalf("Seal of nothing without AAD: %v", err)
	}
	if infos, err := ks.List(ctx); err != nil || len(infos) != 0 {
		t.Fatalf("List shows the wrapping key: %v %v", infos, err)
	}

	// After the keystore (and the library) is closed and opened again.
	ks.Close()
	ks = openToken(t, tok, 2)
	w2, err := hsm.OpenKeyWrapper(ctx, ks, "wrap", true)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := w2.Open(ctx, ct, []byte("client 7")); err != nil || !bytes.Equal(pt, secret) {
		t.Fatalf("Open after reopen = %x, %v", pt, err)
	}
	w3, err := hsm.OpenKeyWrapper(ctx, ks, "other", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w3.Open(ctx, ct, []byte("client 7")); !errors.Is(err, hsm.ErrDecrypt) {
		t.Fatalf("Open with another key: %v", err)
	}
	// The key never leaves the token.
	if err := ks.CheckWrapKeyForTest(ctx, "wrap"); err != nil {
		t.Fatal(err)
	}
}
