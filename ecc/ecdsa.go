package ecc

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// PublicKey is an EC public key. It is immutable and safe for concurrent use.
type PublicKey struct {
	curve *Curve
	raw   []byte           // 04||X||Y
	nist  *ecdsa.PublicKey // NIST curves
	tab   *[16]point       // brainpool: multiples for verification
}

// NewPublicKey validates an uncompressed point (04||X||Y, exactly 1+2*FieldSize bytes): both
// coordinates below p, on the curve, not the point at infinity.
func (c *Curve) NewPublicKey(uncompressed []byte) (*PublicKey, error) {
	if len(uncompressed) != 1+2*c.size || uncompressed[0] != 4 {
		return nil, fmt.Errorf("%w: want an uncompressed point of %d bytes", ErrInvalidPoint, 1+2*c.size)
	}
	k := &PublicKey{curve: c, raw: bytes.Clone(uncompressed)}
	if c.nist != nil {
		pub, err := ecdsa.ParseUncompressedPublicKey(c.nist, uncompressed)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidPoint, err)
		}
		k.nist = pub
		return k, nil
	}
	w := c.w
	var x, y limbs
	if !w.fp.setBytes(&x, uncompressed[1:1+c.size]) || !w.fp.setBytes(&y, uncompressed[1+c.size:]) {
		return nil, fmt.Errorf("%w: coordinate not below p", ErrInvalidPoint)
	}
	p, ok := w.fromAffine(&x, &y)
	if !ok {
		return nil, fmt.Errorf("%w: not on %s", ErrInvalidPoint, c.name)
	}
	k.tab = w.table(&p)
	return k, nil
}

// Curve returns the key's curve.
func (k *PublicKey) Curve() *Curve { return k.curve }

// Bytes returns the uncompressed point 04||X||Y (a copy).
func (k *PublicKey) Bytes() []byte { return bytes.Clone(k.raw) }

// Equal reports whether x is the same public key.
func (k *PublicKey) Equal(x crypto.PublicKey) bool {
	o, ok := x.(*PublicKey)
	return ok && o.curve == k.curve && bytes.Equal(o.raw, k.raw)
}

// ECDSA returns the key as a crypto/ecdsa key, for NIST curves only.
func (k *PublicKey) ECDSA() (*ecdsa.PublicKey, bool) { return k.nist, k.nist != nil }

// hashToScalar converts a digest to an integer as SEC1 4.1.3 step 5 says: the leftmost
// bits of the digest, as many as the order has.
func hashToScalar(digest []byte, n *big.Int) *big.Int {
	nbits := n.BitLen()
	if len(digest)*8 > nbits {
		digest = digest[:(nbits+7)/8]
	}
	e := new(big.Int).SetBytes(digest)
	if excess := len(digest)*8 - nbits; excess > 0 {
		e.Rsh(e, uint(excess))
	}
	return e
}

// Verify checks an ECDSA signature (r, s) over digest. It never panics: out-of-range values
// simply fail.
func (k *PublicKey) Verify(digest []byte, r, s *big.Int) bool {
	if r == nil || s == nil {
		return false
	}
	if k.nist != nil {
		return ecdsa.Verify(k.nist, digest, r, s)
	}
	c := k.curve
	n := c.params.N
	if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(n) >= 0 || s.Cmp(n) >= 0 {
		return false
	}
	e := hashToScalar(digest, n)
	w := new(big.Int).ModInverse(s, n)
	u1 := new(big.Int).Mul(e, w)
	u1.Mod(u1, n)
	u2 := new(big.Int).Mul(r, w)
	u2.Mod(u2, n)
	var sum point
	c.w.doubleScalarMult(&sum, u1.FillBytes(make([]byte, c.nsize)), k.tab, u2.FillBytes(make([]byte, c.nsize)))
	x, _, ok := c.w.affine(&sum)
	if !ok {
		return false
	}
	xr := new(big.Int).SetBytes(c.w.fp.bytes(&x))
	return xr.Mod(xr, n).Cmp(r) == 0
}

// PrivateKey is an EC private key; it implements crypto.Signer and is safe for concurrent use.
type PrivateKey struct {
	pub  *PublicKey
	d    []byte            // scalar, OrderSize bytes big-endian
	nist *ecdsa.PrivateKey // NIST curves
	dm   limbs             // brainpool: d in the Montgomery domain of n
}

// GenerateKey makes a new key on c.
func GenerateKey(c *Curve, rand io.Reader) (*PrivateKey, error) {
	for range 100 {
		d := make([]byte, c.nsize)
		if _, err := io.ReadFull(rand, d); err != nil {
			return nil, fmt.Errorf("ecc: generate key: %w", err)
		}
		maskToOrder(d, c.params.N.BitLen())
		k, err := c.NewPrivateKey(d)
		if err == nil {
			return k, nil
		}
	}
	return nil, errors.New("ecc: generate key: random source keeps yielding invalid scalars")
}

// maskToOrder clears the bits above the order's bit length (rejection sampling follows).
func maskToOrder(d []byte, nbits int) {
	if excess := len(d)*8 - nbits; excess > 0 {
		d[0] &= byte(0xFF >> uint(excess))
	}
}

// NewPrivateKey makes a key from a big-endian scalar 0 < d < n (leading zeros allowed, at
// most OrderSize bytes).
func (c *Curve) NewPrivateKey(d []byte) (*PrivateKey, error) {
	if len(d) > c.nsize {
		d = bytes.TrimLeft(d, "\x00")
		if len(d) > c.nsize {
			return nil, fmt.Errorf("%w: scalar longer than the order", ErrInvalidKey)
		}
	}
	padded := make([]byte, c.nsize)
	copy(padded[c.nsize-len(d):], d)
	if c.nist != nil {
		nk, err := ecdsa.ParseRawPrivateKey(c.nist, padded)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		raw, err := nk.PublicKey.Bytes()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		return &PrivateKey{pub: &PublicKey{curve: c, raw: raw, nist: &nk.PublicKey}, d: padded, nist: nk}, nil
	}
	w := c.w
	var dl limbs
	if !w.fn.setBytes(&dl, padded) || w.fn.isZero(&dl) == 1 {
		return nil, fmt.Errorf("%w: scalar not in [1, n-1]", ErrInvalidKey)
	}
	k := &PrivateKey{d: padded}
	w.fn.toMont(&k.dm, &dl)
	var q point
	w.scalarBaseMult(&q, padded)
	x, y, _ := w.affine(&q)
	raw := append(append([]byte{4}, w.fp.bytes(&x)...), w.fp.bytes(&y)...)
	pub, err := c.NewPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("ecc: derived public key: %w", err)
	}
	k.pub = pub
	return k, nil
}

// Public returns the *PublicKey (crypto.Signer).
func (k *PrivateKey) Public() crypto.PublicKey { return k.pub }

// PublicKey returns the public key.
func (k *PrivateKey) PublicKey() *PublicKey { return k.pub }

// Bytes returns the scalar, OrderSize bytes big-endian (a copy).
func (k *PrivateKey) Bytes() []byte { return bytes.Clone(k.d) }

// Equal reports whether x is the same private key.
func (k *PrivateKey) Equal(x crypto.PrivateKey) bool {
	o, ok := x.(*PrivateKey)
	return ok && o.pub.Equal(k.pub) && subtle.ConstantTimeCompare(o.d, k.d) == 1
}

// Sign implements crypto.Signer: digest is a message hash, the result an ASN.1 DER
// ECDSA-Sig-Value.
func (k *PrivateKey) Sign(rand io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	r, s, err := k.SignRS(rand, digest)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct{ R, S *big.Int }{r, s})
}

// SignRS signs digest and returns r and s.
//
// Brainpool nonces are hedged: k is drawn from HMAC-SHA-512 keyed with the private key over
// the digest and 32 fresh random bytes (a counter for retries), so a broken random source
// does not leak the key through repeated nonces, and a fault cannot make the nonce
// deterministic. The scalar multiplication and the arithmetic modulo n that touch k and d
// are constant time.
func (k *PrivateKey) SignRS(random io.Reader, digest []byte) (*big.Int, *big.Int, error) {
	if random == nil {
		random = rand.Reader
	}
	if k.nist != nil {
		return ecdsa.Sign(random, k.nist, digest)
	}
	c := k.pub.curve
	w := c.w
	fn := w.fn
	n := c.params.N
	entropy := make([]byte, 32)
	if _, err := io.ReadFull(random, entropy); err != nil {
		return nil, nil, fmt.Errorf("ecc: sign: %w", err)
	}
	e := hashToScalar(digest, n)
	if e.Cmp(n) >= 0 {
		e.Sub(e, n)
	}
	var el limbs
	fn.setBytes(&el, e.FillBytes(make([]byte, c.nsize)))
	fn.toMont(&el, &el)
	for counter := byte(0); counter < 255; counter++ {
		kb := hedgedNonce(k.d, digest, entropy, counter, c.nsize)
		maskToOrder(kb, n.BitLen())
		var kl limbs
		if !fn.setBytes(&kl, kb) || fn.isZero(&kl) == 1 {
			continue
		}
		var rp point
		w.scalarBaseMult(&rp, kb)
		x, _, ok := w.affine(&rp)
		if !ok {
			continue
		}
		r := new(big.Int).SetBytes(w.fp.bytes(&x))
		r.Mod(r, n)
		if r.Sign() == 0 {
			continue
		}
		// s = k^-1 (e + r d) mod n, in the Montgomery domain of n.
		var rl, km, kinv, t, s limbs
		fn.setBytes(&rl, r.FillBytes(make([]byte, c.nsize)))
		fn.toMont(&rl, &rl)
		fn.toMont(&km, &kl)
		fn.inv(&kinv, &km)
		fn.mul(&t, &rl, &k.dm)
		fn.add(&t, &t, &el)
		fn.mul(&s, &kinv, &t)
		var sOut limbs
		fn.fromMont(&sOut, &s)
		sb := new(big.Int).SetBytes(fn.bytes(&sOut))
		if sb.Sign() == 0 {
			continue
		}
		return r, sb, nil
	}
	return nil, nil, errors.New("ecc: sign: no valid nonce found")
}

func hedgedNonce(d, digest, entropy []byte, counter byte, size int) []byte {
	out := make([]byte, 0, size)
	for block := byte(0); len(out) < size; block++ {
		m := hmac.New(sha512.New, d)
		m.Write([]byte{counter, block})
		m.Write(entropy)
		m.Write(digest)
		out = m.Sum(out)
	}
	return out[:size]
}
