package cvc

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"math/big"

	"eacgate/ecc"
)

// Tags inside the public key template 7F49 (TR-03110 Part 3, D.3).
const (
	tagKey81 Tag = 0x81 // EC prime p / RSA modulus n
	tagKey82 Tag = 0x82 // EC coefficient a / RSA public exponent e
	tagKey83 Tag = 0x83 // EC coefficient b
	tagKey84 Tag = 0x84 // EC base point G
	tagKey85 Tag = 0x85 // EC order of the base point r
	tagKey86 Tag = 0x86 // EC public point Y
	tagKey87 Tag = 0x87 // EC cofactor f
)

// RSA key sizes accepted for verification and issuance. 1024 only because old test CVCAs use
// it; issuance policy sets its own minimum.
const (
	minRSABits = 1024
	maxRSABits = 8192
)

// PublicKey is a CV public key (7F49). The fields keep the bytes exactly as received so that
// a decoded certificate re-encodes byte for byte; use Key to get a usable crypto key.
type PublicKey struct {
	Algorithm Algorithm

	// Elliptic curve keys. Prime..Cofactor are the domain parameters: present in CVCA
	// certificates and requests, absent in DV and terminal certificates, whose keys use the
	// domain parameters of the CVCA above them.
	Prime, A, B, Generator, Order, Point, Cofactor []byte

	// RSA keys.
	Modulus, Exponent []byte
}

// HasDomainParameters reports whether an EC key carries its own domain parameters.
func (k *PublicKey) HasDomainParameters() bool { return k.Prime != nil }

// decodePublicKey decodes the contents of 7F49.
func decodePublicKey(value []byte) (PublicKey, error) {
	children, err := ParseSequence(value)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key: %w", err)
	}
	if len(children) == 0 || children[0].Tag != TagOID {
		return PublicKey{}, fmt.Errorf("%w: public key must start with an OID", ErrSyntax)
	}
	oid, err := parseOID(children[0].Value)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key: %w", err)
	}
	alg, err := AlgorithmFromOID(oid)
	if err != nil {
		return PublicKey{}, err
	}
	k := PublicKey{Algorithm: alg}
	fields := children[1:]
	want := func(tags ...Tag) bool {
		if len(fields) != len(tags) {
			return false
		}
		for i, t := range tags {
			if fields[i].Tag != t || len(fields[i].Value) == 0 {
				return false
			}
		}
		return true
	}
	switch {
	case alg.IsRSA():
		if !want(tagKey81, tagKey82) {
			return PublicKey{}, fmt.Errorf("%w: RSA public key must hold modulus (81) and exponent (82)", ErrSyntax)
		}
		k.Modulus, k.Exponent = fields[0].Value, fields[1].Value
	case want(tagKey86):
		k.Point = fields[0].Value
	case want(tagKey81, tagKey82, tagKey83, tagKey84, tagKey85, tagKey86, tagKey87):
		k.Prime, k.A, k.B = fields[0].Value, fields[1].Value, fields[2].Value
		k.Generator, k.Order, k.Point, k.Cofactor = fields[3].Value, fields[4].Value, fields[5].Value, fields[6].Value
	default:
		return PublicKey{}, fmt.Errorf("%w: EC public key must hold either the point (86) alone or all domain parameters (81-87)", ErrSyntax)
	}
	return k, nil
}

// encode returns the whole 7F49 object.
func (k *PublicKey) encode() ([]byte, error) {
	if !k.Algorithm.Valid() {
		return nil, fmt.Errorf("%w: public key without a known algorithm", ErrDomainParameters)
	}
	oid, err := encodeOID(k.Algorithm.OID())
	if err != nil {
		return nil, err
	}
	parts := [][]byte{oid}
	add := func(tag Tag, v []byte) { parts = append(parts, EncodeTLV(tag, v)) }
	switch {
	case k.Algorithm.IsRSA():
		if len(k.Modulus) == 0 || len(k.Exponent) == 0 {
			return nil, fmt.Errorf("%w: RSA key without modulus or exponent", ErrDomainParameters)
		}
		add(tagKey81, k.Modulus)
		add(tagKey82, k.Exponent)
	default:
		if len(k.Point) == 0 {
			return nil, fmt.Errorf("%w: EC key without a public point", ErrDomainParameters)
		}
		if k.HasDomainParameters() {
			add(tagKey81, k.Prime)
			add(tagKey82, k.A)
			add(tagKey83, k.B)
			add(tagKey84, k.Generator)
			add(tagKey85, k.Order)
			add(tagKey86, k.Point)
			add(tagKey87, k.Cofactor)
		} else {
			add(tagKey86, k.Point)
		}
	}
	return EncodeConstructed(TagPublicKey, parts...), nil
}

// Curve returns the curve named by the key's own domain parameters.
func (k *PublicKey) Curve() (*ecc.Curve, error) {
	if !k.Algorithm.IsECDSA() {
		return nil, fmt.Errorf("%w: %s is not an EC algorithm", ErrDomainParameters, k.Algorithm)
	}
	if !k.HasDomainParameters() {
		return nil, fmt.Errorf("%w: key carries no domain parameters", ErrDomainParameters)
	}
	g := k.Generator
	if len(g) < 3 || len(g)%2 != 1 || g[0] != 0x04 {
		return nil, fmt.Errorf("%w: base point is not an uncompressed point", ErrDomainParameters)
	}
	if len(k.Cofactor) > 4 {
		return nil, fmt.Errorf("%w: cofactor too large", ErrDomainParameters)
	}
	half := (len(g) - 1) / 2
	params := ecc.Params{
		P:        new(big.Int).SetBytes(k.Prime),
		A:        new(big.Int).SetBytes(k.A),
		B:        new(big.Int).SetBytes(k.B),
		Gx:       new(big.Int).SetBytes(g[1 : 1+half]),
		Gy:       new(big.Int).SetBytes(g[1+half:]),
		N:        new(big.Int).SetBytes(k.Order),
		Cofactor: int(new(big.Int).SetBytes(k.Cofactor).Int64()),
	}
	c := ecc.CurveByParams(params)
	if c == nil {
		return nil, fmt.Errorf("%w: domain parameters of an unsupported curve", ErrDomainParameters)
	}
	return c, nil
}

// Key returns the usable public key: *ecc.PublicKey or *rsa.PublicKey. EC keys without
// their own domain parameters need the curve of the CVCA above them as domain; a key with
// its own parameters ignores domain.
func (k *PublicKey) Key(domain *ecc.Curve) (crypto.PublicKey, error) {
	switch {
	case k.Algorithm.IsRSA():
		n := new(big.Int).SetBytes(k.Modulus)
		if n.BitLen() < minRSABits || n.BitLen() > maxRSABits {
			return nil, fmt.Errorf("%w: RSA modulus of %d bits", ErrDomainParameters, n.BitLen())
		}
		e := new(big.Int).SetBytes(k.Exponent)
		if e.BitLen() > 31 || e.Int64() < 3 || e.Bit(0) == 0 {
			return nil, fmt.Errorf("%w: unsupported RSA exponent", ErrDomainParameters)
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case k.Algorithm.IsECDSA():
		curve := domain
		if k.HasDomainParameters() {
			c, err := k.Curve()
			if err != nil {
				return nil, err
			}
			curve = c
		}
		if curve == nil {
			return nil, fmt.Errorf("%w: EC key without domain parameters and no issuer domain given", ErrDomainParameters)
		}
		pub, err := curve.NewPublicKey(k.Point)
		if err != nil {
			return nil, fmt.Errorf("%w: public point: %v", ErrDomainParameters, err)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("%w: unknown key algorithm", ErrDomainParameters)
}

// NewPublicKey builds the CV public key of pub (an *ecc.PublicKey, *ecdsa.PublicKey or
// *rsa.PublicKey) for algorithm alg. withDomain writes the EC domain parameters, as CVCA
// certificates and certificate requests require.
func NewPublicKey(alg Algorithm, pub crypto.PublicKey, withDomain bool) (PublicKey, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if !alg.IsRSA() {
			return PublicKey{}, fmt.Errorf("%w: RSA key for %s", ErrDomainParameters, alg)
		}
		return PublicKey{Algorithm: alg, Modulus: p.N.Bytes(), Exponent: big.NewInt(int64(p.E)).Bytes()}, nil
	case *ecdsa.PublicKey:
		ek, err := eccFromECDSA(p)
		if err != nil {
			return PublicKey{}, err
		}
		return NewPublicKey(alg, ek, withDomain)
	case *ecc.PublicKey:
		if !alg.IsECDSA() {
			return PublicKey{}, fmt.Errorf("%w: EC key for %s", ErrDomainParameters, alg)
		}
		k := PublicKey{Algorithm: alg, Point: p.Bytes()}
		if withDomain {
			params := p.Curve().Params()
			k.Prime = params.P.Bytes()
			k.A = unsignedBytes(params.A)
			k.B = params.B.Bytes()
			k.Generator = params.G()
			k.Order = params.N.Bytes()
			k.Cofactor = big.NewInt(int64(params.Cofactor)).Bytes()
		}
		return k, nil
	}
	return PublicKey{}, fmt.Errorf("%w: unsupported public key type %T", ErrDomainParameters, pub)
}

// WithoutDomain returns a copy of k with the EC domain parameters removed (the form used in
// DV and terminal certificates).
func (k PublicKey) WithoutDomain() PublicKey {
	k.Prime, k.A, k.B, k.Generator, k.Order, k.Cofactor = nil, nil, nil, nil, nil, nil
	return k
}

// Equal reports whether k and o are the same key with the same algorithm (domain
// parameters aside).
func (k *PublicKey) Equal(o *PublicKey) bool {
	return k.Algorithm == o.Algorithm && bytes.Equal(k.Point, o.Point) &&
		bytes.Equal(k.Modulus, o.Modulus) && bytes.Equal(k.Exponent, o.Exponent)
}

func unsignedBytes(x *big.Int) []byte {
	if x.Sign() == 0 {
		return []byte{0}
	}
	return x.Bytes()
}

func eccFromECDSA(p *ecdsa.PublicKey) (*ecc.PublicKey, error) {
	if p == nil || p.Curve == nil {
		return nil, fmt.Errorf("%w: empty ECDSA key", ErrDomainParameters)
	}
	curve := ecc.CurveByName(p.Curve.Params().Name)
	if curve == nil {
		return nil, fmt.Errorf("%w: unsupported curve %s", ErrDomainParameters, p.Curve.Params().Name)
	}
	raw, err := p.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDomainParameters, err)
	}
	return curve.NewPublicKey(raw)
}

// KeyDescription names the key for humans: "brainpoolP256r1", "RSA-2048".
func (k *PublicKey) KeyDescription(domain *ecc.Curve) string {
	if k.Algorithm.IsRSA() {
		return fmt.Sprintf("RSA-%d", new(big.Int).SetBytes(k.Modulus).BitLen())
	}
	if k.HasDomainParameters() {
		if c, err := k.Curve(); err == nil {
			return c.Name()
		}
		return "unknown curve"
	}
	if domain != nil {
		return domain.Name() + " (from issuer)"
	}
	return "EC point without domain parameters"
}
