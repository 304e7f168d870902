// Package hsm holds the signing keys of the EAC PKI roles (CVCA, DV, SPOC) and signs with
// them.
//
// A key is reached through a [Keystore] by its label and used through a [Signer], a
// [crypto.Signer] that also knows the TR-03110 signature algorithm ([cvc.Algorithm]) it was
// created for. Two backends implement [Keystore]:
//
//   - [PKCS11Keystore]: keys generated and kept inside a PKCS#11 token (an HSM; SoftHSM2 in
//     the tests). Private keys are sensitive and non-extractable. Signing goes through a
//     bounded session pool that is safe for concurrent use and recovers from token errors
//     (closed sessions, logout, library re-initialisation) by reopening, logging in again
//     and retrying. A token that is gone (it no longer answers under its label) is
//     reconnected at most once per reconnect interval, restarting the library if needed
//     (SoftHSM2 only sees a token directory that went away and came back after
//     C_Finalize/C_Initialize); in between, operations fail at once with ErrTokenNotFound.
//   - [SoftKeystore]: the embedded default, one file per key holding the PKCS#8 private key
//     encrypted with AES-256-GCM under a key derived from a passphrase with Argon2id.
//
// Both keystores implement [HealthChecker] (for readiness probes) and hold AES-256 keys
// that encrypt secrets at rest ([OpenKeyWrapper]).
//
// Signatures follow crypto.Signer: ECDSA keys return an ASN.1 DER ECDSA-Sig-Value, RSA keys
// PKCS#1 v1.5 when opts is a crypto.Hash and PSS when opts is *rsa.PSSOptions. [SignMessage]
// returns the TR-03110 wire format instead (plain r||s for ECDSA).
//
// Secrets (PINs, passphrases) come from environment variables or files, never from the
// command line, and are never logged or put into error messages.
package hsm

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"eacgate/cvc"
	"eacgate/ecc"
)

// Sentinel errors. Errors returned by this package wrap at most one of them, so callers can
// test with errors.Is.
var (
	// ErrKeyNotFound: no key with the given label (or ID) in the keystore.
	ErrKeyNotFound = errors.New("hsm: key not found")
	// ErrKeyExists: Generate or Import with a label that is already used.
	ErrKeyExists = errors.New("hsm: key label already exists")
	// ErrWrongPIN: the token rejected the user PIN (CKR_PIN_INCORRECT), or the soft keystore
	// passphrase does not decrypt the key.
	ErrWrongPIN = errors.New("hsm: wrong PIN or passphrase")
	// ErrLogin: login failed for another reason (PIN locked, expired, no PIN configured).
	ErrLogin = errors.New("hsm: login failed")
	// ErrTokenNotFound: no token with the configured label is present.
	ErrTokenNotFound = errors.New("hsm: token not found")
	// ErrModule: the PKCS#11 module cannot be loaded or initialised.
	ErrModule = errors.New("hsm: PKCS#11 module unusable")
	// ErrInvalidSpec: the key specification (algorithm, curve, RSA size, label) is not
	// acceptable.
	ErrInvalidSpec = errors.New("hsm: invalid key specification")
	// ErrKeyFile: a soft keystore file is unsafe (group/other permissions), malformed or
	// has been tampered with.
	ErrKeyFile = errors.New("hsm: bad key file")
	// ErrClosed: the keystore has been closed.
	ErrClosed = errors.New("hsm: keystore closed")
)

// Signer is a signing key of the PKI. It is safe for concurrent use.
//
// Public returns *ecc.PublicKey for EC keys on every curve (NIST included) and
// *rsa.PublicKey for RSA keys. Sign has crypto.Signer semantics: digest is the hash of the
// message made with opts.HashFunc(); ECDSA keys return a DER ECDSA-Sig-Value (digests longer
// than the group order are truncated as X9.62 prescribes); RSA keys sign with PKCS#1 v1.5 when
// opts is a crypto.Hash and with PSS when opts is *rsa.PSSOptions (SaltLength honoured,
// including rsa.PSSSaltLengthEqualsHash and rsa.PSSSaltLengthAuto). A nil opts means
// Algorithm().SignerOpts(). The rand argument is ignored by PKCS#11 keys (the token has its
// own generator).
type Signer interface {
	crypto.Signer
	// Algorithm is the TR-03110 signature algorithm the key was created for; it is stored
	// with the key.
	Algorithm() cvc.Algorithm
	// Label is the key's name in its keystore.
	Label() string
}

// ContextSigner is implemented by signers whose Sign can wait (for a PKCS#11 session); it
// lets the wait be cancelled.
type ContextSigner interface {
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// Keystore generates, finds and lists signing keys. Implementations are safe for
// concurrent use.
type Keystore interface {
	// Generate creates a new key pair labelled label. It fails with ErrKeyExists if the label
	// is taken.
	Generate(ctx context.Context, label string, spec KeySpec) (Signer, error)
	// Signer returns the key labelled label, or an error wrapping ErrKeyNotFound.
	Signer(ctx context.Context, label string) (Signer, error)
	// List describes every key of the keystore, sorted by label.
	List(ctx context.Context) ([]KeyInfo, error)
	// Close releases the keystore's resources (sessions, module, cached keys).
	Close() error
}

// KeySpec says what key to generate.
type KeySpec struct {
	// Algorithm is the TR-03110 signature algorithm the key is for.
	Algorithm cvc.Algorithm
	// Curve is the ecc curve name for ECDSA keys ("P-256", "brainpoolP256r1", ...). Empty
	// means P-256, P-384 or P-521 by the algorithm's hash size (SHA-1/224/256, SHA-384,
	// SHA-512).
	Curve string
	// RSABits is the RSA modulus size, 2048 to 4096 (a multiple of 8); 0 means 3072.
	RSABits int
}

// RSA modulus limits of Generate.
const (
	MinRSABits     = 2048
	MaxRSABits     = 4096
	DefaultRSABits = 3072
)

// normalize validates spec and fills in defaults. For EC keys it returns the curve.
func (spec KeySpec) normalize() (KeySpec, *ecc.Curve, error) {
	a := spec.Algorithm
	switch {
	case a.IsECDSA():
		if spec.RSABits != 0 {
			return spec, nil, fmt.Errorf("%w: RSA size given for %s", ErrInvalidSpec, a)
		}
		if spec.Curve == "" {
			switch a.Hash().Size() {
			case 48:
				spec.Curve = "P-384"
			case 64:
				spec.Curve = "P-521"
			default:
				spec.Curve = "P-256"
			}
		}
		c := ecc.CurveByName(spec.Curve)
		if c == nil {
			return spec, nil, fmt.Errorf("%w: unknown curve %q", ErrInvalidSpec, spec.Curve)
		}
		spec.Curve = c.Name()
		return spec, c, nil
	case a.IsRSA():
		if spec.Curve != "" {
			return spec, nil, fmt.Errorf("%w: curve given for %s", ErrInvalidSpec, a)
		}
		if spec.RSABits == 0 {
			spec.RSABits = DefaultRSABits
		}
		if spec.RSABits < MinRSABits || spec.RSABits > MaxRSABits || spec.RSABits%8 != 0 {
			return spec, nil, fmt.Errorf("%w: RSA size %d not in %d..%d (multiple of 8)",
				ErrInvalidSpec, spec.RSABits, MinRSABits, MaxRSABits)
		}
		return spec, nil, nil
	default:
		return spec, nil, fmt.Errorf("%w: unknown algorithm %v", ErrInvalidSpec, a)
	}
}

// KeyInfo describes a key of a keystore without touching its private part.
type KeyInfo struct {
	Label     string
	Algorithm cvc.Algorithm
	// Curve is the ecc curve name of EC keys.
	Curve string
	// RSABits is the modulus size of RSA keys.
	RSABits int
	// Public is *ecc.PublicKey or *rsa.PublicKey.
	Public crypto.PublicKey
	// ID is the PKCS#11 CKA_ID (nil for the soft keystore).
	ID []byte
	// Created is when the key was generated or imported (zero if unknown).
	Created time.Time
}

// PublicKeyBytes returns the public key as an uncompressed EC point (04||X||Y) or, for
// RSA, the PKCS#1 RSAPublicKey DER. It is what the CLI prints.
func PublicKeyBytes(pub crypto.PublicKey) []byte {
	switch p := pub.(type) {
	case *ecc.PublicKey:
		return p.Bytes()
	case *rsa.PublicKey:
		return x509.MarshalPKCS1PublicKey(p)
	}
	return nil
}

// DescribePublicKey names the key type: the curve name of EC keys ("brainpoolP256r1"),
// "RSA-<bits>" for RSA keys, "" for anything else.
func DescribePublicKey(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case *ecc.PublicKey:
		return p.Curve().Name()
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", p.N.BitLen())
	}
	return ""
}

// SignMessage hashes msg with the signer's algorithm and signs it, returning the signature
// as TR-03110 writes it in a CV certificate (5F37): plain r||s, each padded to the order
// size, for ECDSA; the RSA signature for RSA.
func SignMessage(ctx context.Context, s Signer, msg []byte) ([]byte, error) {
	alg := s.Algorithm()
	if !alg.Valid() {
		return nil, fmt.Errorf("%w: key %q has no valid algorithm", ErrInvalidSpec, s.Label())
	}
	digest := alg.Digest(msg)
	var sig []byte
	var err error
	if cs, ok := s.(ContextSigner); ok {
		sig, err = cs.SignContext(ctx, digest, alg.SignerOpts())
	} else {
		sig, err = s.Sign(rand.Reader, digest, alg.SignerOpts())
	}
	if err != nil {
		return nil, err
	}
	if !alg.IsECDSA() {
		return sig, nil
	}
	pub, ok := s.Public().(*ecc.PublicKey)
	if !ok {
		return nil, fmt.Errorf("hsm: key %q: ECDSA key without EC public key", s.Label())
	}
	r, ss, err := parseECDSASig(sig)
	if err != nil {
		return nil, err
	}
	n := pub.Curve().OrderSize()
	return append(padBytes(r, n), padBytes(ss, n)...), nil
}

// truncateDigest shortens an ECDSA digest to the group order size, as X9.62 and SEC 1
// prescribe, so that the token does not have to (SoftHSM does; not every token does).
// orderSize is in bytes. Truncating to whole bytes is exact for every TR-03110 curve: all
// orders but P-521's are a whole number of bytes, and P-521's 66 bytes exceed every digest.
func truncateDigest(digest []byte, orderSize int) []byte {
	if len(digest) > orderSize {
		return digest[:orderSize]
	}
	return digest
}

// checkLabel accepts key labels of 1 to 64 characters from [A-Za-z0-9._-], not starting
// with '.' or '-': safe as file names and on the command line.
func checkLabel(label string) error {
	if len(label) == 0 || len(label) > 64 || label[0] == '.' || label[0] == '-' {
		return fmt.Errorf("%w: label %q must be 1 to 64 characters and not start with '.' or '-'", ErrInvalidSpec, label)
	}
	for _, c := range label {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: label %q may only contain letters, digits, '.', '_' and '-'", ErrInvalidSpec, label)
		}
	}
	return nil
}

// marshalECDSASig encodes r and s as an ECDSA-Sig-Value.
func marshalECDSASig(r, s *big.Int) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.Bytes()
}

// parseECDSASig decodes an ECDSA-Sig-Value.
func parseECDSASig(sig []byte) (r, s *big.Int, err error) {
	r, s = new(big.Int), new(big.Int)
	in := cryptobyte.String(sig)
	var inner cryptobyte.String
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(r) || !inner.ReadASN1Integer(s) || !inner.Empty() {
		return nil, nil, errors.New("hsm: malformed ECDSA signature")
	}
	return r, s, nil
}

// padBytes returns x big-endian, left-padded with zeros to n bytes.
func padBytes(x *big.Int, n int) []byte {
	out := make([]byte, n)
	return x.FillBytes(out)
}

// Config selects and configures a keystore backend; it is the "keys" section of the
// gateway's configuration file.
type Config struct {
	// Backend is "soft" (the default) or "pkcs11".
	Backend string       `yaml:"backend" json:"backend"`
	Soft    SoftConfig   `yaml:"soft" json:"soft"`
	PKCS11  PKCS11Config `yaml:"pkcs11" json:"pkcs11"`
}

// Open opens the configured keystore.
func Open(ctx context.Context, cfg Config) (Keystore, error) {
	switch cfg.Backend {
	case "", "soft":
		return OpenSoft(cfg.Soft)
	case "pkcs11":
		return OpenPKCS11(ctx, cfg.PKCS11)
	}
	return nil, fmt.Errorf("hsm: unknown keystore backend %q (want soft or pkcs11)", cfg.Backend)
}
