package ecc

import (
	"math/big"
	"math/bits"
)

// maxLimbs is the largest number of 64-bit limbs of a supported modulus (512 bits).
const maxLimbs = 8

// limbs is a little-endian multi-precision number of up to maxLimbs 64-bit words; only the
// first field.n words are used. Fixed-size arrays keep every operation allocation-free.
type limbs [maxLimbs]uint64

// field is arithmetic modulo an odd modulus m (a curve's prime p, or its order n) in the
// Montgomery domain: x is held as x*R mod m with R = 2^(64*n). Every operation runs in time
// independent of the values (the limb count is public), so secret scalars and nonces can
// go through it.
type field struct {
	n    int    // limb count
	m    limbs  // modulus
	minv uint64 // -m^-1 mod 2^64
	r2   limbs  // R^2 mod m, to enter the Montgomery domain
	one  limbs  // R mod m: 1 in the Montgomery domain
	size int    // bytes of m
	bits int    // bit length of m
	mm2  []byte // m-2, big-endian, for inversion by Fermat's little theorem
}

func newField(m *big.Int) *field {
	f := &field{n: (m.BitLen() + 63) / 64, size: (m.BitLen() + 7) / 8, bits: m.BitLen()}
	f.m = limbsFromBig(m)
	// Newton iteration for m^-1 mod 2^64.
	inv := uint64(1)
	for range 6 {
		inv *= 2 - f.m[0]*inv
	}
	f.minv = -inv
	r := new(big.Int).Lsh(big.NewInt(1), uint(64*f.n))
	f.one = limbsFromBig(new(big.Int).Mod(r, m))
	f.r2 = limbsFromBig(new(big.Int).Mod(new(big.Int).Mul(r, r), m))
	f.mm2 = new(big.Int).Sub(m, big.NewInt(2)).Bytes()
	return f
}

func limbsFromBig(x *big.Int) limbs {
	var l limbs
	for i, w := range x.Bits() {
		l[i] = uint64(w)
	}
	return l
}

//go:generate go run gen_unrolled.go

// mul sets z = x*y*R^-1 mod m (CIOS Montgomery multiplication). z may alias x or y.
func (f *field) mul(z, x, y *limbs) {
	switch f.n {
	case 3:
		f.mul3(z, x, y)
		return
	case 4:
		f.mul4(z, x, y)
		return
	case 5:
		f.mul5(z, x, y)
		return
	case 6:
		f.mul6(z, x, y)
		return
	case 8:
		f.mul8(z, x, y)
		return
	}
	f.mulGeneric(z, x, y)
}

// mulGeneric is the reference loop the unrolled versions in field_unrolled.go are generated
// from; TestUnrolledMul checks they agree.
func (f *field) mulGeneric(z, x, y *limbs) {
	n := f.n
	var t [maxLimbs + 2]uint64
	for i := 0; i < n; i++ {
		var c uint64
		yi := y[i]
		for j := 0; j < n; j++ {
			hi, lo := bits.Mul64(x[j], yi)
			var cc uint64
			lo, cc = bits.Add64(lo, t[j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, c, 0)
			hi += cc
			t[j], c = lo, hi
		}
		var cc uint64
		t[n], cc = bits.Add64(t[n], c, 0)
		t[n+1] = cc

		mq := t[0] * f.minv
		hi, lo := bits.Mul64(mq, f.m[0])
		_, cc = bits.Add64(lo, t[0], 0)
		c = hi + cc
		for j := 1; j < n; j++ {
			hi, lo := bits.Mul64(mq, f.m[j])
			lo, cc = bits.Add64(lo, t[j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, c, 0)
			hi += cc
			t[j-1], c = lo, hi
		}
		t[n-1], cc = bits.Add64(t[n], c, 0)
		t[n] = t[n+1] + cc
	}
	// t < 2m: subtract m once if t >= m, without branching on the value.
	var d limbs
	var borrow uint64
	for j := 0; j < n; j++ {
		d[j], borrow = bits.Sub64(t[j], f.m[j], borrow)
	}
	_, borrow = bits.Sub64(t[n], 0, borrow)
	// borrow == 1 means t < m: keep t.
	mask := -borrow
	for j := 0; j < n; j++ {
		z[j] = t[j]&mask | d[j]&^mask
	}
	for j := n; j < maxLimbs; j++ {
		z[j] = 0
	}
}

func (f *field) sqr(z, x *limbs) { f.mul(z, x, x) }

// add sets z = x+y mod m.
func (f *field) add(z, x, y *limbs) {
	n := f.n
	var s, d limbs
	var carry, borrow uint64
	for j := 0; j < n; j++ {
		s[j], carry = bits.Add64(x[j], y[j], carry)
	}
	for j := 0; j < n; j++ {
		d[j], borrow = bits.Sub64(s[j], f.m[j], borrow)
	}
	_, borrow = bits.Sub64(carry, 0, borrow)
	mask := -borrow // 1: s < m, keep s
	for j := 0; j < n; j++ {
		z[j] = s[j]&mask | d[j]&^mask
	}
}

// sub sets z = x-y mod m.
func (f *field) sub(z, x, y *limbs) {
	n := f.n
	var d limbs
	var borrow, carry uint64
	for j := 0; j < n; j++ {
		d[j], borrow = bits.Sub64(x[j], y[j], borrow)
	}
	mask := -borrow // add m back if it went negative
	for j := 0; j < n; j++ {
		z[j], carry = bits.Add64(d[j], f.m[j]&mask, carry)
	}
}

// toMont sets z = x*R mod m for x < m.
func (f *field) toMont(z, x *limbs) { f.mul(z, x, &f.r2) }

// fromMont sets z = x*R^-1 mod m.
func (f *field) fromMont(z, x *limbs) {
	var one limbs
	one[0] = 1
	f.mul(z, x, &one)
}

// inv sets z = x^-1 mod m (x in the Montgomery domain) as x^(m-2), constant time in x.
func (f *field) inv(z, x *limbs) {
	acc := f.one
	for _, b := range f.mm2 {
		for i := 7; i >= 0; i-- {
			f.sqr(&acc, &acc)
			var t limbs
			f.mul(&t, &acc, x)
			f.cmov(&acc, &t, uint64(b>>uint(i))&1)
		}
	}
	*z = acc
}

// cmov sets z = x if cond == 1 (cond is 0 or 1), in constant time.
func (f *field) cmov(z, x *limbs, cond uint64) {
	mask := -cond
	for j := 0; j < f.n; j++ {
		z[j] = z[j]&^mask | x[j]&mask
	}
}

// isZero returns 1 if x == 0, else 0, in constant time.
func (f *field) isZero(x *limbs) uint64 {
	var acc uint64
	for j := 0; j < f.n; j++ {
		acc |= x[j]
	}
	return 1 ^ ((acc | -acc) >> 63)
}

// equal returns 1 if x == y, else 0, in constant time.
func (f *field) equal(x, y *limbs) uint64 {
	var acc uint64
	for j := 0; j < f.n; j++ {
		acc |= x[j] ^ y[j]
	}
	return 1 ^ ((acc | -acc) >> 63)
}

// setBytes reads a big-endian number of at most f.size bytes into z (not reduced, not in
// the Montgomery domain) and reports whether it is below m.
func (f *field) setBytes(z *limbs, b []byte) bool {
	if len(b) > f.size {
		return false
	}
	*z = limbs{}
	for i, c := range b {
		pos := len(b) - 1 - i
		z[pos/8] |= uint64(c) << (8 * uint(pos%8))
	}
	var borrow uint64
	for j := 0; j < f.n; j++ {
		_, borrow = bits.Sub64(z[j], f.m[j], borrow)
	}
	return borrow == 1
}

// bytes returns x (not in the Montgomery domain) as f.size big-endian bytes.
func (f *field) bytes(x *limbs) []byte {
	out := make([]byte, f.size)
	for i := range out {
		pos := f.size - 1 - i
		out[i] = byte(x[pos/8] >> (8 * uint(pos%8)))
	}
	return out
}
