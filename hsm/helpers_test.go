package hsm_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/hsm"
)

// verifyDigest checks a crypto.Signer signature (DER for ECDSA) over digest.
func verifyDigest(t testing.TB, pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) {
	t.Helper()
	switch p := pub.(type) {
	case *ecc.PublicKey:
		var v struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(sig, &v); err != nil || len(rest) != 0 {
			t.Fatalf("ECDSA signature is not DER: %v", err)
		}
		if !p.Verify(digest, v.R, v.S) {
			t.Fatalf("ECDSA signature does not verify")
		}
	case *rsa.PublicKey:
		var err error
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			err = rsa.VerifyPSS(p, opts.HashFunc(), digest, sig, &rsa.PSSOptions{SaltLength: pss.SaltLength, Hash: opts.HashFunc()})
		} else {
			err = rsa.VerifyPKCS1v15(p, opts.HashFunc(), digest, sig)
		}
		if err != nil {
			t.Fatalf("RSA signature does not verify: %v", err)
		}
	default:
		t.Fatalf("unexpected public key type %T", pub)
	}
}

// exerciseSigner signs with s in every way a caller may and verifies each signature,
// including through cvc.VerifySignature (TR-03110 wire format).
func exerciseSigner(t *testing.T, s hsm.Signer, alg cvc.Algorithm) {
	t.Helper()
	if s.Algorithm() != alg {
		t.Fatalf("Algorithm() = %v, want %v", s.Algorithm(), alg)
	}
	msg := []byte("certificate body to be signed")
	digest := alg.Digest(msg)
	sig, err := s.Sign(rand.Reader, digest, alg.SignerOpts())
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	verifyDigest(t, s.Public(), digest, sig, alg.SignerOpts())

	// nil opts: the key's algorithm.
	sig, err = s.Sign(rand.Reader, digest, nil)
	if err != nil {
		t.Fatalf("Sign(nil opts): %v", err)
	}
	verifyDigest(t, s.Public(), digest, sig, alg.SignerOpts())

	// TR-03110 format through SignMessage and cvc.Sign, verified by cvc.
	wire, err := hsm.SignMessage(context.Background(), s, msg)
	if err != nil {
		t.Fatalf("SignMessage: %v", err)
	}
	if err := cvc.VerifySignature(alg, s.Public(), msg, wire); err != nil {
		t.Fatalf("cvc.VerifySignature(SignMessage): %v", err)
	}
	wire, err = cvc.Sign(s, alg, msg)
	if err != nil {
		t.Fatalf("cvc.Sign: %v", err)
	}
	if err := cvc.VerifySignature(alg, s.Public(), msg, wire); err != nil {
		t.Fatalf("cvc.VerifySignature(cvc.Sign): %v", err)
	}
	if err := cvc.VerifySignature(alg, s.Public(), append(msg, 'x'), wire); err == nil {
		t.Fatalf("signature verifies over a different message")
	}

	switch pub := s.Public().(type) {
	case *ecc.PublicKey:
		// Digests longer than the order are truncated (X9.62); shorter ones used as they are.
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			d := digestOf(h, msg)
			sig, err := s.Sign(rand.Reader, d, h)
			if err != nil {
				t.Fatalf("Sign(%v): %v", h, err)
			}
			verifyDigest(t, pub, d, sig, h)
		}
	case *rsa.PublicKey:
		for _, opts := range []crypto.SignerOpts{
			crypto.SHA1, crypto.SHA256, crypto.SHA512,
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256},
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256},
			&rsa.PSSOptions{SaltLength: 20, Hash: crypto.SHA1},
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA512},
		} {
			d := digestOf(opts.HashFunc(), msg)
			sig, err := s.Sign(rand.Reader, d, opts)
			if err != nil {
				t.Fatalf("Sign(%#v): %v", opts, err)
			}
			verifyDigest(t, pub, d, sig, opts)
		}
		if _, err := s.Sign(rand.Reader, digest[:10], crypto.SHA256); err == nil {
			t.Fatalf("short digest accepted")
		}
	}
}

func digestOf(h crypto.Hash, msg []byte) []byte {
	hh := h.New()
	hh.Write(msg)
	return hh.Sum(nil)
}

func samePublic(t *testing.T, a, b crypto.PublicKey) {
	t.Helper()
	if !bytes.Equal(hsm.PublicKeyBytes(a), hsm.PublicKeyBytes(b)) || hsm.PublicKeyBytes(a) == nil {
		t.Fatalf("public keys differ")
	}
}

// specs are the key types every backend is tested with.
var specs = []struct {
	name string
	spec hsm.KeySpec
}{
	{"P-256", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "P-256"}},
	{"brainpoolP256r1", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP256r1"}},
	{"P-384", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA384, Curve: "P-384"}},
	{"brainpoolP320r1", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP320r1"}},
	{"brainpoolP512r1", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA512, Curve: "brainpoolP512r1"}},
	{"P-521", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA512, Curve: "P-521"}},
	{"RSA-PSS-2048", hsm.KeySpec{Algorithm: cvc.RSA_PSS_SHA256, RSABits: 2048}},
	{"RSA-v15-2048", hsm.KeySpec{Algorithm: cvc.RSA_v15_SHA256, RSABits: 2048}},
}

// issueSelfSigned issues a self-signed CVCA certificate with s and checks it with cvc
// (signature and chain to itself as the trust anchor).
func issueSelfSigned(t *testing.T, s hsm.Signer) {
	t.Helper()
	alg := s.Algorithm()
	pk, err := cvc.NewPublicKey(alg, s.Public(), true)
	if err != nil {
		t.Fatalf("cvc.NewPublicKey: %v", err)
	}
	today := cvc.DateOf(time.Now())
	cert, err := cvc.Issue(cvc.CertificateTemplate{
		CAR: "DEHSMTEST00001", CHR: "DEHSMTEST00001", PublicKey: pk,
		CHAT:          cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3|cvc.ISReadDG4),
		EffectiveDate: today, ExpirationDate: today.AddDays(365),
	}, s, alg)
	if err != nil {
		t.Fatalf("cvc.Issue: %v", err)
	}
	if err := cert.CheckSignature(s.Public(), alg); err != nil {
		t.Fatalf("CheckSignature: %v", err)
	}
	raw, err := cert.Encode()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := cvc.ParseCertificate(raw)
	if err != nil {
		t.Fatalf("ParseCertificate: %v", err)
	}
	if _, err := cvc.Verify(parsed, cvc.VerifyOptions{Anchors: []*cvc.Certificate{parsed}}); err != nil {
		t.Fatalf("cvc.Verify: %v", err)
	}
}
