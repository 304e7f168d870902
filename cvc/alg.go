package cvc

import (
	"crypto"
	"crypto/rsa"
	_ "crypto/sha1" // registers crypto.SHA1 for id-TA-*-SHA-1
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/asn1"
	"fmt"
)

// Algorithm is a terminal-authentication signature algorithm of BSI TR-03110 Part 3
// (id-TA-ECDSA-SHA-*, id-TA-RSA-v1-5-SHA-*, id-TA-RSA-PSS-SHA-*). It is written as the
// object identifier of a CV public key (7F49/06) and determines how signatures made
// with that key are computed.
type Algorithm int

// The algorithms of TR-03110 Part 3, A.6.4 (id-TA = 0.4.0.127.0.7.2.2.2).
const (
	AlgorithmUnknown Algorithm = iota
	ECDSA_SHA1
	ECDSA_SHA224
	ECDSA_SHA256
	ECDSA_SHA384
	ECDSA_SHA512
	RSA_v15_SHA1
	RSA_v15_SHA256
	RSA_v15_SHA512
	RSA_PSS_SHA1
	RSA_PSS_SHA256
	RSA_PSS_SHA512
)

type algorithmInfo struct {
	name string
	oid  asn1.ObjectIdentifier
	hash crypto.Hash
}

var idTA = []int{0, 4, 0, 127, 0, 7, 2, 2, 2}

func taOID(family, n int) asn1.ObjectIdentifier {
	return append(append(asn1.ObjectIdentifier{}, idTA...), family, n)
}

// algorithms is immutable after package initialisation.
var algorithms = map[Algorithm]algorithmInfo{
	RSA_v15_SHA1:   {"id-TA-RSA-v1-5-SHA-1", taOID(1, 1), crypto.SHA1},
	RSA_v15_SHA256: {"id-TA-RSA-v1-5-SHA-256", taOID(1, 2), crypto.SHA256},
	RSA_PSS_SHA1:   {"id-TA-RSA-PSS-SHA-1", taOID(1, 3), crypto.SHA1},
	RSA_PSS_SHA256: {"id-TA-RSA-PSS-SHA-256", taOID(1, 4), crypto.SHA256},
	RSA_v15_SHA512: {"id-TA-RSA-v1-5-SHA-512", taOID(1, 5), crypto.SHA512},
	RSA_PSS_SHA512: {"id-TA-RSA-PSS-SHA-512", taOID(1, 6), crypto.SHA512},
	ECDSA_SHA1:     {"id-TA-ECDSA-SHA-1", taOID(2, 1), crypto.SHA1},
	ECDSA_SHA224:   {"id-TA-ECDSA-SHA-224", taOID(2, 2), crypto.SHA224},
	ECDSA_SHA256:   {"id-TA-ECDSA-SHA-256", taOID(2, 3), crypto.SHA256},
	ECDSA_SHA384:   {"id-TA-ECDSA-SHA-384", taOID(2, 4), crypto.SHA384},
	ECDSA_SHA512:   {"id-TA-ECDSA-SHA-512", taOID(2, 5), crypto.SHA512},
}

// Algorithms lists every supported algorithm in a stable order.
func Algorithms() []Algorithm {
	return []Algorithm{
		ECDSA_SHA1, ECDSA_SHA224, ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512,
		RSA_v15_SHA1, RSA_v15_SHA256, RSA_v15_SHA512,
		RSA_PSS_SHA1, RSA_PSS_SHA256, RSA_PSS_SHA512,
	}
}

// AlgorithmFromOID maps an object identifier to its algorithm.
func AlgorithmFromOID(oid asn1.ObjectIdentifier) (Algorithm, error) {
	for a, info := range algorithms {
		if info.oid.Equal(oid) {
			return a, nil
		}
	}
	return AlgorithmUnknown, fmt.Errorf("%w: unknown signature algorithm %s", ErrDomainParameters, oid)
}

// ParseAlgorithm accepts the TR-03110 name ("id-TA-ECDSA-SHA-256"), the short form used by
// openpace's cvc-create --scheme ("ECDSA_SHA_256", "RSA_v1_5_SHA_256", "RSA_PSS_SHA_256") or the
// dotted object identifier.
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range Algorithms() {
		info := algorithms[a]
		if s == info.name || s == info.oid.String() || s == a.Scheme() {
			return a, nil
		}
	}
	return AlgorithmUnknown, fmt.Errorf("unknown algorithm %q", s)
}

// String returns the TR-03110 name, e.g. "id-TA-ECDSA-SHA-256".
func (a Algorithm) String() string {
	if info, ok := algorithms[a]; ok {
		return info.name
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// Scheme returns the openpace-style short name, e.g. "ECDSA_SHA_256".
func (a Algorithm) Scheme() string {
	info, ok := algorithms[a]
	if !ok {
		return a.String()
	}
	name := info.name[len("id-TA-"):]
	out := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '-':
			out = append(out, '_')
		default:
			out = append(out, c)
		}
	}
	return string(out)
}

// OID returns the object identifier (a copy).
func (a Algorithm) OID() asn1.ObjectIdentifier {
	return append(asn1.ObjectIdentifier{}, algorithms[a].oid...)
}

// Hash returns the message digest the algorithm uses.
func (a Algorithm) Hash() crypto.Hash { return algorithms[a].hash }

// IsECDSA reports whether a is one of the id-TA-ECDSA algorithms.
func (a Algorithm) IsECDSA() bool { return a >= ECDSA_SHA1 && a <= ECDSA_SHA512 }

// IsRSA reports whether a is one of the id-TA-RSA algorithms (PKCS#1 v1.5 or PSS).
func (a Algorithm) IsRSA() bool { return a >= RSA_v15_SHA1 && a <= RSA_PSS_SHA512 }

// IsPSS reports whether a is one of the id-TA-RSA-PSS algorithms.
func (a Algorithm) IsPSS() bool { return a >= RSA_PSS_SHA1 && a <= RSA_PSS_SHA512 }

// Valid reports whether a is a known algorithm.
func (a Algorithm) Valid() bool { _, ok := algorithms[a]; return ok }

// SignerOpts returns the options to pass to crypto.Signer.Sign for a digest made with
// a.Hash(). RSA-PSS signatures are produced with a salt as long as the hash (as EJBCA and
// BouncyCastle do); verification accepts any salt length.
func (a Algorithm) SignerOpts() crypto.SignerOpts {
	if a.IsPSS() {
		return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: a.Hash()}
	}
	return a.Hash()
}

// Digest hashes msg with the algorithm's hash function.
func (a Algorithm) Digest(msg []byte) []byte {
	h := a.Hash().New()
	h.Write(msg)
	return h.Sum(nil)
}
