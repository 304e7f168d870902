package ecc

import (
	"crypto/elliptic"
	"encoding/asn1"
	"errors"
	"math/big"
	"sync"
)

// Sentinel errors.
var (
	ErrUnknownCurve = errors.New("ecc: unknown or unsupported curve")
	ErrInvalidPoint = errors.New("ecc: invalid public point")
	ErrInvalidKey   = errors.New("ecc: invalid private key")
)

// Curve is a short Weierstrass curve y^2 = x^3 + ax + b over GF(p) with its base point. The
// values returned by the lookup functions are shared and immutable.
type Curve struct {
	name   string
	oid    asn1.ObjectIdentifier
	params Params
	size   int // bytes of p
	nsize  int // bytes of n

	nist elliptic.Curve // NIST curves: crypto/ecdsa does the work
	w    *weierstrass   // brainpool curves: our implementation
}

// Params are a curve's domain parameters.
type Params struct {
	P, A, B, Gx, Gy, N *big.Int
	Cofactor           int
}

// G returns the uncompressed base point 04||Gx||Gy, coordinates padded to the field size.
func (p Params) G() []byte {
	size := (p.P.BitLen() + 7) / 8
	out := make([]byte, 1+2*size)
	out[0] = 4
	p.Gx.FillBytes(out[1 : 1+size])
	p.Gy.FillBytes(out[1+size:])
	return out
}

// Name is "P-256", "brainpoolP256r1" and so on.
func (c *Curve) Name() string { return c.name }

// OID returns the named-curve object identifier (a copy).
func (c *Curve) OID() asn1.ObjectIdentifier { return append(asn1.ObjectIdentifier{}, c.oid...) }

// Params returns fresh copies of the domain parameters.
func (c *Curve) Params() Params {
	cp := func(x *big.Int) *big.Int { return new(big.Int).Set(x) }
	p := c.params
	return Params{P: cp(p.P), A: cp(p.A), B: cp(p.B), Gx: cp(p.Gx), Gy: cp(p.Gy), N: cp(p.N), Cofactor: p.Cofactor}
}

// FieldSize is the length of p in bytes.
func (c *Curve) FieldSize() int { return c.size }

// OrderSize is the length of n in bytes.
func (c *Curve) OrderSize() int { return c.nsize }

func hexInt(s string) *big.Int {
	x, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("ecc: bad built-in parameter " + s)
	}
	return x
}

func nistCurve(name string, oid asn1.ObjectIdentifier, c elliptic.Curve) *Curve {
	cp := c.Params()
	a := new(big.Int).Sub(cp.P, big.NewInt(3))
	return &Curve{
		name: name, oid: oid, nist: c,
		params: Params{P: cp.P, A: a, B: cp.B, Gx: cp.Gx, Gy: cp.Gy, N: cp.N, Cofactor: 1},
		size:   (cp.P.BitLen() + 7) / 8, nsize: (cp.N.BitLen() + 7) / 8,
	}
}

func brainpoolCurve(h hexParams) *Curve {
	p := Params{P: hexInt(h.p), A: hexInt(h.a), B: hexInt(h.b), Gx: hexInt(h.gx), Gy: hexInt(h.gy), N: hexInt(h.n), Cofactor: 1}
	c := &Curve{
		name: h.name, oid: asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, h.oidLast}, params: p,
		size: (p.P.BitLen() + 7) / 8, nsize: (p.N.BitLen() + 7) / 8,
	}
	w := &weierstrass{fp: newField(p.P), fn: newField(p.N)}
	toMont := func(x *big.Int) limbs {
		l := limbsFromBig(x)
		var m limbs
		w.fp.toMont(&m, &l)
		return m
	}
	w.a = toMont(p.A)
	w.b = toMont(p.B)
	w.b3 = toMont(new(big.Int).Mod(new(big.Int).Mul(p.B, big.NewInt(3)), p.P))
	gx, gy := limbsFromBig(p.Gx), limbsFromBig(p.Gy)
	g, ok := w.fromAffine(&gx, &gy)
	if !ok {
		panic("ecc: built-in base point of " + h.name + " is not on its curve")
	}
	w.g = g
	w.gTab = w.table(&g)
	nsize := c.nsize
	w.comb = sync.OnceValue(func() [][16]point { return w.buildComb(nsize) })
	c.w = w
	return c
}

// allCurves builds the curve table once; it is read-only afterwards.
var allCurves = sync.OnceValue(func() []*Curve {
	cs := []*Curve{
		nistCurve("P-224", asn1.ObjectIdentifier{1, 3, 132, 0, 33}, elliptic.P224()),
		nistCurve("P-256", asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, elliptic.P256()),
		nistCurve("P-384", asn1.ObjectIdentifier{1, 3, 132, 0, 34}, elliptic.P384()),
		nistCurve("P-521", asn1.ObjectIdentifier{1, 3, 132, 0, 35}, elliptic.P521()),
	}
	for _, h := range brainpoolHex {
		cs = append(cs, brainpoolCurve(h))
	}
	return cs
})

// Curves lists every supported curve: P-224, P-256, P-384, P-521, brainpoolP192r1 to
// brainpoolP512r1.
func Curves() []*Curve { return append([]*Curve{}, allCurves()...) }

var aliases = map[string]string{
	"prime256v1": "P-256", "secp256r1": "P-256", "secp224r1": "P-224",
	"secp384r1": "P-384", "secp521r1": "P-521",
}

// CurveByName finds a curve by its name or an OpenSSL alias; nil if unknown.
func CurveByName(name string) *Curve {
	if a, ok := aliases[name]; ok {
		name = a
	}
	for _, c := range allCurves() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// CurveByOID finds a curve by its named-curve OID; nil if unknown.
func CurveByOID(oid asn1.ObjectIdentifier) *Curve {
	for _, c := range allCurves() {
		if c.oid.Equal(oid) {
			return c
		}
	}
	return nil
}

// CurveByParams finds the supported curve with exactly these domain parameters (compared as
// numbers); nil if none.
func CurveByParams(p Params) *Curve {
	if p.P == nil || p.A == nil || p.B == nil || p.Gx == nil || p.Gy == nil || p.N == nil {
		return nil
	}
	for _, c := range allCurves() {
		q := c.params
		if q.P.Cmp(p.P) == 0 && q.A.Cmp(p.A) == 0 && q.B.Cmp(p.B) == 0 && q.Gx.Cmp(p.Gx) == 0 &&
			q.Gy.Cmp(p.Gy) == 0 && q.N.Cmp(p.N) == 0 && q.Cofactor == p.Cofactor {
			return c
		}
	}
	return nil
}
