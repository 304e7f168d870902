package ecc

import (
	"math/big"
	mrand "math/rand/v2"
	"testing"
)

// The unrolled multiplications agree with the generic loop, and both with math/big.
func TestUnrolledMul(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	for _, c := range brainpools() {
		for _, f := range []*field{c.w.fp, c.w.fn} {
			m := new(big.Int).SetBytes(f.bytes(&f.m))
			rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), uint(64*f.n)), m)
			for range 200 {
				var x, y limbs
				for j := 0; j < f.n; j++ {
					x[j], y[j] = rng.Uint64(), rng.Uint64()
				}
				xb := new(big.Int).Mod(new(big.Int).SetBytes(f.bytes(&x)), m)
				yb := new(big.Int).Mod(new(big.Int).SetBytes(f.bytes(&y)), m)
				x, y = limbsFromBig(xb), limbsFromBig(yb)
				var z1, z2 limbs
				f.mul(&z1, &x, &y)
				f.mulGeneric(&z2, &x, &y)
				want := new(big.Int).Mul(xb, yb)
				want.Mul(want, rInv).Mod(want, m)
				if z1 != z2 || new(big.Int).SetBytes(f.bytes(&z1)).Cmp(want) != 0 {
					t.Fatalf("%s (%d limbs): mul disagrees", c.Name(), f.n)
				}
			}
		}
	}
}

func BenchmarkFieldMul(b *testing.B) {
	f := CurveByName("brainpoolP256r1").w.fp
	x, y := f.r2, f.one
	b.Run("unrolled", func(b *testing.B) {
		for b.Loop() {
			f.mul(&x, &x, &y)
		}
	})
	b.Run("generic", func(b *testing.B) {
		for b.Loop() {
			f.mulGeneric(&x, &x, &y)
		}
	})
}
