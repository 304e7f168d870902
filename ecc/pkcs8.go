package ecc

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

var oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
var oidPrimeField = asn1.ObjectIdentifier{1, 2, 840, 10045, 1, 1}

type pkcs8 struct {
	Version    int
	Algorithm  algorithmIdentifier
	PrivateKey []byte
	Attributes asn1.RawValue `asn1:"optional,tag:0"`
	PublicKey  asn1.RawValue `asn1:"optional,tag:1"`
}

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

// ecPrivateKey is SEC1's ECPrivateKey (RFC 5915).
type ecPrivateKey struct {
	Version    int
	PrivateKey []byte
	Parameters asn1.RawValue  `asn1:"optional,explicit,tag:0"`
	PublicKey  asn1.BitString `asn1:"optional,explicit,tag:1"`
}

// specifiedCurve is SEC1's explicit ECParameters.
type specifiedCurve struct {
	Version int
	FieldID struct {
		FieldType asn1.ObjectIdentifier
		Prime     *big.Int
	}
	Curve struct {
		A, B []byte
		Seed asn1.BitString `asn1:"optional"`
	}
	Base     []byte
	Order    *big.Int
	Cofactor *big.Int `asn1:"optional"`
}

type subjectPublicKeyInfo struct {
	Algorithm algorithmIdentifier
	PublicKey asn1.BitString
}

// curveFromParameters reads ECParameters: a namedCurve OID, or explicit parameters that
// match a supported curve.
func curveFromParameters(raw []byte) (*Curve, error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(raw, &oid); err == nil && len(rest) == 0 {
		if c := CurveByOID(oid); c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrUnknownCurve, oid)
	}
	var sc specifiedCurve
	if rest, err := asn1.Unmarshal(raw, &sc); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: unreadable EC parameters", ErrUnknownCurve)
	}
	if !sc.FieldID.FieldType.Equal(oidPrimeField) || sc.FieldID.Prime == nil || sc.Order == nil || len(sc.Base) < 3 || sc.Base[0] != 4 || len(sc.Base)%2 != 1 {
		return nil, fmt.Errorf("%w: explicit parameters not over a prime field", ErrUnknownCurve)
	}
	half := (len(sc.Base) - 1) / 2
	cof := 1
	if sc.Cofactor != nil {
		if !sc.Cofactor.IsInt64() || sc.Cofactor.Int64() > 1<<16 {
			return nil, fmt.Errorf("%w: cofactor", ErrUnknownCurve)
		}
		cof = int(sc.Cofactor.Int64())
	}
	c := CurveByParams(Params{
		P: sc.FieldID.Prime, A: new(big.Int).SetBytes(sc.Curve.A), B: new(big.Int).SetBytes(sc.Curve.B),
		Gx: new(big.Int).SetBytes(sc.Base[1 : 1+half]), Gy: new(big.Int).SetBytes(sc.Base[1+half:]),
		N: sc.Order, Cofactor: cof,
	})
	if c == nil {
		return nil, fmt.Errorf("%w: explicit parameters of an unsupported curve", ErrUnknownCurve)
	}
	return c, nil
}

// ParsePKCS8PrivateKey reads an unencrypted PKCS#8 EC private key on any supported curve,
// with named or explicit (matching) parameters.
func ParsePKCS8PrivateKey(der []byte) (*PrivateKey, error) {
	var p pkcs8
	rest, err := asn1.Unmarshal(der, &p)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: not a PKCS#8 structure", ErrInvalidKey)
	}
	if !p.Algorithm.Algorithm.Equal(oidECPublicKey) {
		return nil, fmt.Errorf("%w: PKCS#8 key of algorithm %s is not an EC key", ErrInvalidKey, p.Algorithm.Algorithm)
	}
	c, err := curveFromParameters(p.Algorithm.Parameters.FullBytes)
	if err != nil {
		return nil, err
	}
	return parseECPrivateKey(p.PrivateKey, c)
}

// ParseSEC1PrivateKey reads a SEC1 ECPrivateKey ("EC PRIVATE KEY") with its parameters.
func ParseSEC1PrivateKey(der []byte) (*PrivateKey, error) { return parseECPrivateKey(der, nil) }

func parseECPrivateKey(der []byte, c *Curve) (*PrivateKey, error) {
	var e ecPrivateKey
	rest, err := asn1.Unmarshal(der, &e)
	if err != nil || len(rest) != 0 || e.Version != 1 {
		return nil, fmt.Errorf("%w: not a SEC1 ECPrivateKey", ErrInvalidKey)
	}
	if len(e.Parameters.Bytes) > 0 {
		inner, err := curveFromParameters(e.Parameters.Bytes)
		if err != nil {
			return nil, err
		}
		if c != nil && inner != c {
			return nil, fmt.Errorf("%w: inner and outer curve differ", ErrInvalidKey)
		}
		c = inner
	}
	if c == nil {
		return nil, fmt.Errorf("%w: key without curve parameters", ErrUnknownCurve)
	}
	k, err := c.NewPrivateKey(e.PrivateKey)
	if err != nil {
		return nil, err
	}
	if len(e.PublicKey.Bytes) > 0 && string(e.PublicKey.Bytes) != string(k.pub.raw) {
		return nil, fmt.Errorf("%w: stored public key does not match the private key", ErrInvalidKey)
	}
	return k, nil
}

// MarshalPKCS8PrivateKey writes the key as unencrypted PKCS#8 with a namedCurve OID and the
// public key inside the ECPrivateKey.
func MarshalPKCS8PrivateKey(k *PrivateKey) ([]byte, error) {
	if k == nil || k.pub == nil {
		return nil, errors.New("ecc: nil key")
	}
	oid, err := asn1.Marshal(k.pub.curve.oid)
	if err != nil {
		return nil, err
	}
	inner, err := asn1.Marshal(ecPrivateKey{
		Version: 1, PrivateKey: k.d,
		PublicKey: asn1.BitString{Bytes: k.pub.raw, BitLength: 8 * len(k.pub.raw)},
	})
	if err != nil {
		return nil, fmt.Errorf("ecc: marshal key: %w", err)
	}
	return asn1.Marshal(pkcs8{
		Algorithm:  algorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: oid}},
		PrivateKey: inner,
	})
}

// MarshalPKIXPublicKey writes a SubjectPublicKeyInfo with a namedCurve OID.
func MarshalPKIXPublicKey(k *PublicKey) ([]byte, error) {
	oid, err := asn1.Marshal(k.curve.oid)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(subjectPublicKeyInfo{
		Algorithm: algorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: oid}},
		PublicKey: asn1.BitString{Bytes: k.raw, BitLength: 8 * len(k.raw)},
	})
}

// ParsePKIXPublicKey reads a SubjectPublicKeyInfo of an EC key on a supported curve.
func ParsePKIXPublicKey(der []byte) (*PublicKey, error) {
	var spki subjectPublicKeyInfo
	rest, err := asn1.Unmarshal(der, &spki)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: not a SubjectPublicKeyInfo", ErrInvalidPoint)
	}
	if !spki.Algorithm.Algorithm.Equal(oidECPublicKey) {
		return nil, fmt.Errorf("%w: not an EC public key", ErrInvalidPoint)
	}
	c, err := curveFromParameters(spki.Algorithm.Parameters.FullBytes)
	if err != nil {
		return nil, err
	}
	return c.NewPublicKey(spki.PublicKey.Bytes)
}
