package cvc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"eacgate/ecc"
)

// errBadSignature is wrapped into ErrSignature, ErrInnerSignature or ErrOuterSignature by
// the caller, who knows which signature it was.
var errBadSignature = errors.New("signature does not verify")

// VerifySignature checks sig over msg with key (*ecc.PublicKey, *ecdsa.PublicKey or
// *rsa.PublicKey) under algorithm alg. ECDSA signatures are plain r||s (BSI TR-03111); the
// halves may be shorter than the order (openpace writes 130 instead of 132 bytes for
// P-521). RSA-PSS accepts any salt length.
func VerifySignature(alg Algorithm, key crypto.PublicKey, msg, sig []byte) error {
	if !alg.Valid() {
		return fmt.Errorf("%w: unknown algorithm", ErrDomainParameters)
	}
	digest := alg.Digest(msg)
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		ek, err := eccFromECDSA(k)
		if err != nil {
			return err
		}
		return VerifySignature(alg, ek, msg, sig)
	case *ecc.PublicKey:
		if !alg.IsECDSA() {
			return fmt.Errorf("%w: %s with an EC key", ErrDomainParameters, alg)
		}
		size := k.Curve().OrderSize()
		if len(sig) == 0 || len(sig)%2 != 0 || len(sig) > 2*size {
			return fmt.Errorf("%w: ECDSA signature of %d bytes for a %d-byte order", errBadSignature, len(sig), size)
		}
		half := len(sig) / 2
		r := new(big.Int).SetBytes(sig[:half])
		s := new(big.Int).SetBytes(sig[half:])
		if !k.Verify(digest, r, s) {
			return errBadSignature
		}
		return nil
	case *rsa.PublicKey:
		if !alg.IsRSA() {
			return fmt.Errorf("%w: %s with an RSA key", ErrDomainParameters, alg)
		}
		var err error
		if alg.IsPSS() {
			err = rsa.VerifyPSS(k, alg.Hash(), digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: alg.Hash()})
		} else {
			err = rsa.VerifyPKCS1v15(k, alg.Hash(), digest, sig)
		}
		if err != nil {
			return errBadSignature
		}
		return nil
	}
	return fmt.Errorf("%w: unsupported key type %T", ErrDomainParameters, key)
}

// rsSigner is implemented by signers that return r and s directly (ecc.PrivateKey), which
// saves the DER round trip.
type rsSigner interface {
	SignRS(rand io.Reader, digest []byte) (r, s *big.Int, err error)
}

// Sign signs msg with signer under algorithm alg and returns the signature in the form CV
// certificates carry: plain r||s for ECDSA (each half as long as the curve order), the
// PKCS#1 signature for RSA. Any crypto.Signer works (an HSM key, an ecc.PrivateKey, an
// *ecdsa.PrivateKey or *rsa.PrivateKey); ECDSA signers return ASN.1 DER as crypto.Signer
// prescribes.
func Sign(signer crypto.Signer, alg Algorithm, msg []byte) ([]byte, error) {
	if !alg.Valid() {
		return nil, fmt.Errorf("%w: unknown algorithm", ErrDomainParameters)
	}
	digest := alg.Digest(msg)
	if !alg.IsECDSA() {
		if _, ok := signer.Public().(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("%w: %s needs an RSA key, signer has %T", ErrDomainParameters, alg, signer.Public())
		}
		sig, err := signer.Sign(rand.Reader, digest, alg.SignerOpts())
		if err != nil {
			return nil, fmt.Errorf("cvc: sign with %s: %w", alg, err)
		}
		return sig, nil
	}
	size, err := ecOrderSize(signer.Public())
	if err != nil {
		return nil, err
	}
	var r, s *big.Int
	if rs, ok := signer.(rsSigner); ok {
		r, s, err = rs.SignRS(rand.Reader, digest)
		if err != nil {
			return nil, fmt.Errorf("cvc: sign with %s: %w", alg, err)
		}
	} else {
		der, err := signer.Sign(rand.Reader, digest, alg.Hash())
		if err != nil {
			return nil, fmt.Errorf("cvc: sign with %s: %w", alg, err)
		}
		var v struct{ R, S *big.Int }
		rest, err := asn1.Unmarshal(der, &v)
		if err != nil || len(rest) != 0 || v.R == nil || v.S == nil {
			return nil, fmt.Errorf("cvc: signer returned a malformed ECDSA signature")
		}
		r, s = v.R, v.S
	}
	if r.Sign() <= 0 || s.Sign() <= 0 || r.BitLen() > 8*size || s.BitLen() > 8*size {
		return nil, fmt.Errorf("cvc: signer returned an out-of-range ECDSA signature")
	}
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out, nil
}

func ecOrderSize(pub crypto.PublicKey) (int, error) {
	switch p := pub.(type) {
	case *ecc.PublicKey:
		return p.Curve().OrderSize(), nil
	case *ecdsa.PublicKey:
		k, err := eccFromECDSA(p)
		if err != nil {
			return 0, err
		}
		return k.Curve().OrderSize(), nil
	}
	return 0, fmt.Errorf("%w: ECDSA needs an EC key, signer has %T", ErrDomainParameters, pub)
}
