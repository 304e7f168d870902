package ecc

// point is a projective point (X:Y:Z) on y^2 = x^3 + ax + b, coordinates in the Montgomery
// domain of the curve's field; the point at infinity is (0:1:0). Arithmetic uses the complete
// formulas of Renes, Costello and Batina ("Complete addition formulas for prime order
// elliptic curves", 2015, Algorithm 1, general a): one formula for every pair of inputs,
// doubling and infinity included, so there are no exceptional cases to branch on and
// constant-time scalar multiplication is straightforward. Brainpool curves have prime order
// (cofactor 1), which the formulas require.
type point struct {
	x, y, z limbs
}

// weierstrass holds a brainpool curve's arithmetic.
type weierstrass struct {
	fp       *field // coordinates
	fn       *field // scalars
	a, b, b3 limbs  // a, b and 3b in the Montgomery domain
	g        point  // base point
	gTab     *[16]point
	// comb returns the fixed-base table for signing: comb()[i][j] = j * 16^i * G, built on
	// first use (about 200 KB for a 256-bit curve).
	comb func() [][16]point
}

func (w *weierstrass) infinity() point {
	return point{y: w.fp.one}
}

// add sets r = p + q (r may alias p or q).
func (w *weierstrass) add(r, p, q *point) {
	f := w.fp
	var t0, t1, t2, t3, t4, t5, x3, y3, z3 limbs
	f.mul(&t0, &p.x, &q.x)
	f.mul(&t1, &p.y, &q.y)
	f.mul(&t2, &p.z, &q.z)
	f.add(&t3, &p.x, &p.y)
	f.add(&t4, &q.x, &q.y)
	f.mul(&t3, &t3, &t4)
	f.add(&t4, &t0, &t1)
	f.sub(&t3, &t3, &t4)
	f.add(&t4, &p.x, &p.z)
	f.add(&t5, &q.x, &q.z)
	f.mul(&t4, &t4, &t5)
	f.add(&t5, &t0, &t2)
	f.sub(&t4, &t4, &t5)
	f.add(&t5, &p.y, &p.z)
	f.add(&x3, &q.y, &q.z)
	f.mul(&t5, &t5, &x3)
	f.add(&x3, &t1, &t2)
	f.sub(&t5, &t5, &x3)
	f.mul(&z3, &w.a, &t4)
	f.mul(&x3, &w.b3, &t2)
	f.add(&z3, &x3, &z3)
	f.sub(&x3, &t1, &z3)
	f.add(&z3, &t1, &z3)
	f.mul(&y3, &x3, &z3)
	f.add(&t1, &t0, &t0)
	f.add(&t1, &t1, &t0)
	f.mul(&t2, &w.a, &t2)
	f.mul(&t4, &w.b3, &t4)
	f.add(&t1, &t1, &t2)
	f.sub(&t2, &t0, &t2)
	f.mul(&t2, &w.a, &t2)
	f.add(&t4, &t4, &t2)
	f.mul(&t0, &t1, &t4)
	f.add(&y3, &y3, &t0)
	f.mul(&t0, &t5, &t4)
	f.mul(&x3, &t3, &x3)
	f.sub(&x3, &x3, &t0)
	f.mul(&t0, &t3, &t1)
	f.mul(&z3, &t5, &z3)
	f.add(&z3, &z3, &t0)
	r.x, r.y, r.z = x3, y3, z3
}

// cmov sets r = p if cond == 1.
func (w *weierstrass) cmov(r, p *point, cond uint64) {
	w.fp.cmov(&r.x, &p.x, cond)
	w.fp.cmov(&r.y, &p.y, cond)
	w.fp.cmov(&r.z, &p.z, cond)
}

// table returns 0*p .. 15*p.
func (w *weierstrass) table(p *point) *[16]point {
	var t [16]point
	t[0] = w.infinity()
	t[1] = *p
	for i := 2; i < 16; i++ {
		w.add(&t[i], &t[i-1], p)
	}
	return &t
}

// scalarMult sets r = k*p for a big-endian scalar k, in constant time: a fixed 4-bit window
// and a table lookup that touches every entry.
func (w *weierstrass) scalarMult(r *point, tab *[16]point, k []byte) {
	acc := w.infinity()
	for _, byt := range k {
		for _, nib := range [2]byte{byt >> 4, byt & 15} {
			for range 4 {
				w.add(&acc, &acc, &acc)
			}
			sel := w.infinity()
			for i := uint64(1); i < 16; i++ {
				w.cmov(&sel, &tab[i], eq(i, uint64(nib)))
			}
			w.add(&acc, &acc, &sel)
		}
	}
	*r = acc
}

// scalarBaseMult sets r = k*G for a big-endian scalar k in constant time: one addition per
// 4-bit digit from the comb table, no doublings, each lookup touching all 16 entries.
func (w *weierstrass) scalarBaseMult(r *point, k []byte) {
	comb := w.comb()
	acc := w.infinity()
	for i := range comb {
		byt := k[len(k)-1-i/2]
		nib := uint64(byt>>(4*uint(i%2))) & 15
		sel := w.infinity()
		for j := uint64(1); j < 16; j++ {
			w.cmov(&sel, &comb[i][j], eq(j, nib))
		}
		w.add(&acc, &acc, &sel)
	}
	*r = acc
}

// buildComb computes the fixed-base table for scalars of nbytes bytes.
func (w *weierstrass) buildComb(nbytes int) [][16]point {
	comb := make([][16]point, 2*nbytes)
	base := w.g
	for i := range comb {
		comb[i] = *w.table(&base)
		for range 4 {
			w.add(&base, &base, &base)
		}
	}
	return comb
}

// doubleScalarMult sets r = k1*G + k2*q for public scalars (signature verification):
// interleaved windows with one shared chain of doublings, variable time.
func (w *weierstrass) doubleScalarMult(r *point, k1 []byte, qTab *[16]point, k2 []byte) {
	acc := w.infinity()
	started := false
	for i := range k1 {
		for shift := 4; shift >= 0; shift -= 4 {
			if started {
				for range 4 {
					w.add(&acc, &acc, &acc)
				}
			}
			if n := (k1[i] >> uint(shift)) & 15; n != 0 {
				w.add(&acc, &acc, &w.gTab[n])
				started = true
			}
			if n := (k2[i] >> uint(shift)) & 15; n != 0 {
				w.add(&acc, &acc, &qTab[n])
				started = true
			}
		}
	}
	*r = acc
}

// eq returns 1 if a == b, else 0, without branching.
func eq(a, b uint64) uint64 {
	x := a ^ b
	return 1 ^ ((x | -x) >> 63)
}

// affine returns the affine coordinates (out of the Montgomery domain) and whether p is not
// the point at infinity.
func (w *weierstrass) affine(p *point) (x, y limbs, ok bool) {
	f := w.fp
	if f.isZero(&p.z) == 1 {
		return x, y, false
	}
	var zinv, ax, ay limbs
	f.inv(&zinv, &p.z)
	f.mul(&ax, &p.x, &zinv)
	f.mul(&ay, &p.y, &zinv)
	f.fromMont(&x, &ax)
	f.fromMont(&y, &ay)
	return x, y, true
}

// fromAffine builds a point from affine coordinates below p (not in the Montgomery domain)
// and reports whether it is on the curve.
func (w *weierstrass) fromAffine(x, y *limbs) (point, bool) {
	f := w.fp
	var p point
	f.toMont(&p.x, x)
	f.toMont(&p.y, y)
	p.z = f.one
	// y^2 == x^3 + ax + b
	var lhs, rhs, t limbs
	f.sqr(&lhs, &p.y)
	f.sqr(&rhs, &p.x)
	f.mul(&rhs, &rhs, &p.x)
	f.mul(&t, &w.a, &p.x)
	f.add(&rhs, &rhs, &t)
	f.add(&rhs, &rhs, &w.b)
	return p, f.equal(&lhs, &rhs) == 1
}
