package cvc

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"eacgate/ecc"
)

func TestTLVStrict(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"short", []byte{0x42, 0x02, 'A', 'B'}, true},
		{"two-byte tag", []byte{0x5F, 0x29, 0x01, 0x00}, true},
		{"long form 81", append([]byte{0x53, 0x81, 0x80}, make([]byte, 0x80)...), true},
		{"long form 82", append([]byte{0x53, 0x82, 0x01, 0x00}, make([]byte, 0x100)...), true},
		{"trailing byte", []byte{0x42, 0x01, 'A', 0x00}, false},
		{"overlong 81", []byte{0x42, 0x81, 0x01, 'A'}, false},
		{"overlong 82", append([]byte{0x53, 0x82, 0x00, 0x80}, make([]byte, 0x80)...), false},
		{"five length bytes", []byte{0x42, 0x85, 0, 0, 0, 0, 1, 'A'}, false},
		{"indefinite", []byte{0x7F, 0x21, 0x80, 0x00, 0x00}, false},
		{"truncated value", []byte{0x42, 0x05, 'A'}, false},
		{"truncated length", []byte{0x42, 0x82, 0x01}, false},
		{"truncated tag", []byte{0x7F}, false},
		{"huge length", []byte{0x42, 0x84, 0x7F, 0xFF, 0xFF, 0xFF}, false},
		{"non-minimal tag", []byte{0x5F, 0x80, 0x29, 0x00}, false},
		{"four-byte tag", []byte{0x5F, 0x81, 0x81, 0x01, 0x00}, false},
		{"empty", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tlv, err := ParseSingle(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("ok=%v err=%v", tc.ok, err)
			}
			if err != nil {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("error %v does not wrap ErrSyntax", err)
				}
				return
			}
			if got := EncodeTLV(tlv.Tag, tlv.Value); !bytes.Equal(got, tc.in) {
				t.Fatalf("re-encoded %X, want %X", got, tc.in)
			}
		})
	}
	// Wrong nesting: a certificate whose body is not 7F4E.
	bad := EncodeConstructed(TagCVCertificate, EncodeTLV(TagCAR, []byte("ABCDEFGH")), EncodeTLV(TagSignature, []byte{1}))
	if _, err := ParseCertificate(bad); !errors.Is(err, ErrSyntax) {
		t.Fatalf("wrong nesting: %v", err)
	}
}

func TestDates(t *testing.T) {
	d, err := decodeDate([]byte{2, 6, 1, 1, 2, 2})
	if err != nil || d.String() != "2026-11-22" {
		t.Fatalf("%v %v", d, err)
	}
	for _, bad := range [][]byte{{2, 6, 1, 3, 0, 1}, {2, 6, 0, 2, 3, 0}, {2, 6, 1, 1, 2}, {0x32, 6, 1, 1, 2, 2}, {2, 6, 0, 0, 0, 1}} {
		if _, err := decodeDate(bad); !errors.Is(err, ErrSyntax) {
			t.Errorf("%v: %v", bad, err)
		}
	}
	if !bytes.Equal(d.encode(), []byte{2, 6, 1, 1, 2, 2}) {
		t.Fatal("encode")
	}
}

// keySpec names a key for the test PKIs.
type keySpec struct {
	alg   Algorithm
	curve string // EC only
	bits  int    // RSA only
}

func (k keySpec) String() string {
	if k.alg.IsRSA() {
		return fmt.Sprintf("%s/RSA-%d", k.alg, k.bits)
	}
	return fmt.Sprintf("%s/%s", k.alg, k.curve)
}

// rsaKeys caches RSA keys: generating them is the slow part of these tests.
type rsaKeys struct {
	mu   sync.Mutex
	keys map[int][]*rsa.PrivateKey
	next map[int]int
}

var testRSA = &rsaKeys{keys: map[int][]*rsa.PrivateKey{}, next: map[int]int{}}

func (r *rsaKeys) get(t testing.TB, bits int) *rsa.PrivateKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.next[bits] % 4
	r.next[bits]++
	for len(r.keys[bits]) <= i {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		r.keys[bits] = append(r.keys[bits], k)
	}
	return r.keys[bits][i]
}

func newKey(t testing.TB, spec keySpec) crypto.Signer {
	t.Helper()
	if spec.alg.IsRSA() {
		return testRSA.get(t, spec.bits)
	}
	c := ecc.CurveByName(spec.curve)
	if c == nil {
		t.Fatalf("unknown curve %s", spec.curve)
	}
	k, err := ecc.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func cvPublicKey(t testing.TB, alg Algorithm, s crypto.Signer, withDomain bool) PublicKey {
	t.Helper()
	pk, err := NewPublicKey(alg, s.Public(), withDomain)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// testPKI is a CVCA, a DV and a terminal with their keys.
type testPKI struct {
	spec                      keySpec
	cvcaKey, dvKey, termKey   crypto.Signer
	cvca, dv, term            *Certificate
	effective, cvcaExpiration Date
}

func buildPKI(t testing.TB, spec keySpec, country string) *testPKI {
	t.Helper()
	p := &testPKI{spec: spec, effective: DateOf(time.Now()), cvcaExpiration: DateOf(time.Now()).AddDays(3 * 365)}
	p.cvcaKey, p.dvKey, p.termKey = newKey(t, spec), newKey(t, spec), newKey(t, spec)
	var err error
	cvcaCHR := country + "CVCA00001"
	p.cvca, err = Issue(CertificateTemplate{
		CAR: cvcaCHR, CHR: cvcaCHR, PublicKey: cvPublicKey(t, spec.alg, p.cvcaKey, true),
		CHAT: NewISCHAT(RoleCVCA, ISReadDG3|ISReadDG4), EffectiveDate: p.effective, ExpirationDate: p.cvcaExpiration,
	}, p.cvcaKey, spec.alg)
	if err != nil {
		t.Fatalf("CVCA: %v", err)
	}
	p.dv, err = Issue(CertificateTemplate{
		CAR: cvcaCHR, CHR: country + "DVDOM00001", PublicKey: cvPublicKey(t, spec.alg, p.dvKey, false),
		CHAT: NewISCHAT(RoleDVDomestic, ISReadDG3|ISReadDG4), EffectiveDate: p.effective, ExpirationDate: p.effective.AddDays(90),
	}, p.cvcaKey, spec.alg)
	if err != nil {
		t.Fatalf("DV: %v", err)
	}
	p.term, err = Issue(CertificateTemplate{
		CAR: p.dv.CHR, CHR: country + "ISTERM00001", PublicKey: cvPublicKey(t, spec.alg, p.termKey, false),
		CHAT: NewISCHAT(RoleTerminal, ISReadDG3), EffectiveDate: p.effective, ExpirationDate: p.effective.AddDays(30),
	}, p.dvKey, spec.alg)
	if err != nil {
		t.Fatalf("terminal: %v", err)
	}
	return p
}

func (p *testPKI) opts() VerifyOptions {
	return VerifyOptions{Anchors: []*Certificate{p.cvca}, Intermediates: []*Certificate{p.dv}, At: p.effective.Time()}
}

func allSpecs() []keySpec {
	var specs []keySpec
	for _, alg := range []Algorithm{ECDSA_SHA1, ECDSA_SHA224, ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512} {
		for _, c := range []string{"P-256", "P-384", "P-521", "brainpoolP256r1", "brainpoolP320r1", "brainpoolP384r1", "brainpoolP512r1"} {
			specs = append(specs, keySpec{alg: alg, curve: c})
		}
	}
	for _, alg := range []Algorithm{RSA_v15_SHA1, RSA_v15_SHA256, RSA_v15_SHA512, RSA_PSS_SHA1, RSA_PSS_SHA256, RSA_PSS_SHA512} {
		specs = append(specs, keySpec{alg: alg, bits: 2048})
	}
	return specs
}

// Every algorithm: build a PKI, verify it, re-parse it, request and renew.
func TestIssueVerifyRequestAllAlgorithms(t *testing.T) {
	for _, spec := range allSpecs() {
		t.Run(spec.String(), func(t *testing.T) {
			t.Parallel()
			p := buildPKI(t, spec, "ZZ")
			path, err := Verify(p.term, p.opts())
			if err != nil {
				t.Fatal(err)
			}
			if len(path) != 3 {
				t.Fatalf("path length %d", len(path))
			}
			for _, c := range path {
				again, err := ParseCertificate(c.Raw)
				if err != nil {
					t.Fatal(err)
				}
				enc, _ := again.Encode()
				if !bytes.Equal(enc, c.Raw) {
					t.Fatal("round trip")
				}
			}
			if spec.alg.IsECDSA() {
				if p.dv.PublicKey.HasDomainParameters() || !p.cvca.PublicKey.HasDomainParameters() {
					t.Fatal("domain parameters belong in the CVCA certificate only")
				}
				if got := Domain(path).Name(); got != ecc.CurveByName(spec.curve).Name() {
					t.Fatalf("domain %s", got)
				}
				if n := len(p.term.Signature); n != 2*ecc.CurveByName(spec.curve).OrderSize() {
					t.Fatalf("signature of %d bytes", n)
				}
			}

			// Terminal renewal: new key, inner signature by it, outer by the current key.
			newTerm := newKey(t, spec)
			req, err := NewRequest(RequestTemplate{CAR: p.dv.CHR, CHR: "ZZISTERM00002"}, cvPublicKey(t, spec.alg, newTerm, true), newTerm)
			if err != nil {
				t.Fatal(err)
			}
			if err := req.VerifyInner(nil); err != nil {
				t.Fatalf("inner: %v", err)
			}
			auth, err := req.Authenticate(p.term.CHR, p.termKey, spec.alg)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := ParseRequest(auth.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if enc, _ := parsed.Encode(); !bytes.Equal(enc, auth.Raw) {
				t.Fatal("request round trip")
			}
			if err := parsed.VerifyInner(Domain(path)); err != nil {
				t.Fatalf("inner after authentication: %v", err)
			}
			if err := parsed.VerifyOuterWith(p.term, Domain(path)); err != nil {
				t.Fatalf("outer: %v", err)
			}
			if err := parsed.VerifyOuterWith(p.dv, Domain(path)); !errors.Is(err, ErrOuterSignature) {
				t.Fatalf("outer with the wrong certificate: %v", err)
			}
		})
	}
}

func TestChainRejects(t *testing.T) {
	spec := keySpec{alg: ECDSA_SHA256, curve: "brainpoolP256r1"}
	p := buildPKI(t, spec, "ZZ")
	other := buildPKI(t, spec, "ZZ") // same CHRs, other keys

	t.Run("tampered signature", func(t *testing.T) {
		c := *p.term
		c.Signature = bytes.Clone(c.Signature)
		c.Signature[5] ^= 1
		raw, _ := c.Encode()
		bad, err := ParseCertificate(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(bad, p.opts()); !errors.Is(err, ErrSignature) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("issuer with another key", func(t *testing.T) {
		if _, err := Verify(other.term, p.opts()); !errors.Is(err, ErrSignature) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unknown issuer", func(t *testing.T) {
		if _, err := Verify(p.term, VerifyOptions{Anchors: []*Certificate{p.cvca}, At: p.effective.Time()}); !errors.Is(err, ErrChain) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		o := p.opts()
		o.At = p.effective.AddDays(31).Time()
		if _, err := Verify(p.term, o); !errors.Is(err, ErrExpired) {
			t.Fatalf("got %v", err)
		}
		o.At = p.effective.AddDays(-1).Time()
		if _, err := Verify(p.term, o); !errors.Is(err, ErrExpired) {
			t.Fatalf("not yet valid: got %v", err)
		}
		o.At = p.effective.AddDays(30).Time().Add(23 * time.Hour)
		if _, err := Verify(p.term, o); err != nil {
			t.Fatalf("last day: %v", err)
		}
	})
	t.Run("CHAT wider than issuer", func(t *testing.T) {
		narrowDV, err := Issue(CertificateTemplate{
			CAR: p.cvca.CHR, CHR: "ZZDVNARROW001", PublicKey: cvPublicKey(t, spec.alg, p.dvKey, false),
			CHAT: NewISCHAT(RoleDVDomestic, ISReadDG3), EffectiveDate: p.effective, ExpirationDate: p.effective.AddDays(10),
		}, p.cvcaKey, spec.alg)
		if err != nil {
			t.Fatal(err)
		}
		wide, err := Issue(CertificateTemplate{
			CAR: narrowDV.CHR, CHR: "ZZISWIDE00001", PublicKey: cvPublicKey(t, spec.alg, p.termKey, false),
			CHAT: NewISCHAT(RoleTerminal, ISReadDG3|ISReadDG4), EffectiveDate: p.effective, ExpirationDate: p.effective.AddDays(10),
		}, p.dvKey, spec.alg)
		if err != nil {
			t.Fatal(err)
		}
		o := p.opts()
		o.Intermediates = append(o.Intermediates, narrowDV)
		if _, err := Verify(wide, o); !errors.Is(err, ErrChain) {
			t.Fatalf("got %v", err)
		}
		// The issuer narrows instead: intersect the requested CHAT with its own.
		if got := NewISCHAT(RoleTerminal, ISReadDG3|ISReadDG4).Intersect(narrowDV.CHAT); !bytes.Equal(got.Bits, []byte{ISReadDG3}) {
			t.Fatalf("intersect: % X", got.Bits)
		}
	})
	t.Run("terminal cannot issue", func(t *testing.T) {
		sub, err := Issue(CertificateTemplate{
			CAR: p.term.CHR, CHR: "ZZISSUB000001", PublicKey: cvPublicKey(t, spec.alg, p.termKey, false),
			CHAT: NewISCHAT(RoleTerminal, ISReadDG3), EffectiveDate: p.effective, ExpirationDate: p.effective.AddDays(10),
		}, p.termKey, spec.alg)
		if err != nil {
			t.Fatal(err)
		}
		o := p.opts()
		o.Intermediates = append(o.Intermediates, p.term)
		if _, err := Verify(sub, o); !errors.Is(err, ErrChain) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("DV cannot issue a DV", func(t *testing.T) {
		sub, err := Issue(CertificateTemplate{
			CAR: p.dv.CHR, CHR: "ZZDVSUB000001", PublicKey: cvPublicKey(t, spec.alg, p.termKey, false),
			CHAT: NewISCHAT(RoleDVDomestic, ISReadDG3), EffectiveDate: p.effective, ExpirationDate: p.effective.AddDays(10),
		}, p.dvKey, spec.alg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(sub, p.opts()); !errors.Is(err, ErrChain) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("anchor must be a CVCA", func(t *testing.T) {
		if _, err := Verify(p.term, VerifyOptions{Anchors: []*Certificate{p.dv}, At: p.effective.Time()}); !errors.Is(err, ErrChain) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("link certificate", func(t *testing.T) {
		newKey := newKey(t, spec)
		link, err := Issue(CertificateTemplate{
			CAR: p.cvca.CHR, CHR: "ZZCVCA00002", PublicKey: cvPublicKey(t, spec.alg, newKey, true),
			CHAT: NewISCHAT(RoleCVCA, ISReadDG3|ISReadDG4), EffectiveDate: p.effective, ExpirationDate: p.cvcaExpiration.AddDays(365),
		}, p.cvcaKey, spec.alg)
		if err != nil {
			t.Fatal(err)
		}
		later := p.cvcaExpiration.AddDays(10)
		dv2, err := Issue(CertificateTemplate{
			CAR: link.CHR, CHR: "ZZDVDOM00002", PublicKey: cvPublicKey(t, spec.alg, p.dvKey, false),
			CHAT: NewISCHAT(RoleDVDomestic, ISReadDG3), EffectiveDate: later, ExpirationDate: later.AddDays(10),
		}, newKey, spec.alg)
		if err != nil {
			t.Fatal(err)
		}
		o := p.opts()
		o.Intermediates = append(o.Intermediates, link)
		o.At = later.Time()
		path, err := Verify(dv2, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(path) != 3 || !path[1].IsLink() {
			t.Fatalf("path %v", path)
		}
		// The old CVCA certificate has expired by then: the link certificate is the trust
		// point. The link certificate itself must still be valid.
		o.At = p.cvcaExpiration.AddDays(366).Time()
		if _, err := Verify(dv2, o); !errors.Is(err, ErrExpired) {
			t.Fatalf("after everything expired: %v", err)
		}
	})
}

func TestRequestRejects(t *testing.T) {
	spec := keySpec{alg: ECDSA_SHA256, curve: "P-256"}
	k := newKey(t, spec)
	req, err := NewRequest(RequestTemplate{CHR: "ZZISTERM00009"}, cvPublicKey(t, spec.alg, k, true), k)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("inner signature", func(t *testing.T) {
		r := *req
		r.InnerSignature = bytes.Clone(r.InnerSignature)
		r.InnerSignature[0] ^= 0x80
		raw, _ := r.Encode()
		bad, err := ParseRequest(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := bad.VerifyInner(nil); !errors.Is(err, ErrInnerSignature) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unknown curve", func(t *testing.T) {
		r := *req
		r.PublicKey.Prime = bytes.Clone(r.PublicKey.Prime)
		r.PublicKey.Prime[len(r.PublicKey.Prime)-1] ^= 2
		raw, _ := r.Encode()
		bad, err := ParseRequest(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := bad.VerifyInner(nil); !errors.Is(err, ErrDomainParameters) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("point off the curve", func(t *testing.T) {
		r := *req
		r.PublicKey.Point = bytes.Clone(r.PublicKey.Point)
		r.PublicKey.Point[10] ^= 1
		raw, _ := r.Encode()
		bad, _ := ParseRequest(raw)
		if err := bad.VerifyInner(nil); !errors.Is(err, ErrDomainParameters) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unknown algorithm", func(t *testing.T) {
		raw := bytes.Clone(req.Raw)
		i := bytes.Index(raw, []byte{0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03})
		raw[i+9] = 0x09
		if _, err := ParseRequest(raw); !errors.Is(err, ErrDomainParameters) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("syntax", func(t *testing.T) {
		for _, raw := range [][]byte{req.Raw[:len(req.Raw)-1], append(bytes.Clone(req.Raw), 0), {0x67, 0x00}, {0x30, 0x00}} {
			if _, err := ParseRequest(raw); !errors.Is(err, ErrSyntax) {
				t.Fatalf("%X: got %v", raw, err)
			}
		}
	})
	t.Run("outer over inner request needs authentication", func(t *testing.T) {
		key, _ := req.PublicKey.Key(nil)
		if err := req.VerifyOuter(key, spec.alg); !errors.Is(err, ErrOuterSignature) {
			t.Fatalf("got %v", err)
		}
	})
}

// openpace pads P-521 r||s to 130 bytes when both halves fit; accept it.
func TestP521ShortSignature(t *testing.T) {
	k, err := ecc.GenerateKey(ecc.CurveByName("P-521"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("link certificate body")
	for range 200 {
		sig, err := Sign(k, ECDSA_SHA512, msg)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 132 {
			t.Fatalf("signature of %d bytes", len(sig))
		}
		if sig[0] != 0 || sig[66] != 0 {
			continue
		}
		short := append(bytes.Clone(sig[1:66]), sig[67:]...)
		if err := VerifySignature(ECDSA_SHA512, k.PublicKey(), msg, short); err != nil {
			t.Fatalf("130-byte signature: %v", err)
		}
		return
	}
	t.Fatal("no signature with two short halves in 200 tries")
}

// openpace signs RSA-PSS with the maximum salt length; EJBCA with the hash length.
func TestRSAPSSSaltLengths(t *testing.T) {
	k := testRSA.get(t, 2048)
	msg := []byte("body")
	digest := RSA_PSS_SHA256.Digest(msg)
	for _, salt := range []int{rsa.PSSSaltLengthAuto, rsa.PSSSaltLengthEqualsHash, 0} {
		sig, err := rsa.SignPSS(rand.Reader, k, crypto.SHA256, digest, &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifySignature(RSA_PSS_SHA256, &k.PublicKey, msg, sig); err != nil {
			t.Fatalf("salt %d: %v", salt, err)
		}
	}
	// What we produce uses the hash length: verify with that exact salt length.
	sig, err := Sign(k, RSA_PSS_SHA256, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPSS(&k.PublicKey, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: 32}); err != nil {
		t.Fatalf("our PSS salt is not the hash length: %v", err)
	}
}

func TestSignRejectsMismatchedKey(t *testing.T) {
	k := newKey(t, keySpec{alg: ECDSA_SHA256, curve: "P-256"})
	if _, err := Sign(k, RSA_v15_SHA256, []byte("x")); !errors.Is(err, ErrDomainParameters) {
		t.Fatalf("EC key for RSA: %v", err)
	}
	r := testRSA.get(t, 2048)
	if _, err := Sign(r, ECDSA_SHA256, []byte("x")); !errors.Is(err, ErrDomainParameters) {
		t.Fatalf("RSA key for ECDSA: %v", err)
	}
	if err := VerifySignature(ECDSA_SHA256, k.Public(), []byte("x"), make([]byte, 200)); err == nil {
		t.Fatal("overlong ECDSA signature verified")
	}
	if err := VerifySignature(ECDSA_SHA256, k.Public(), []byte("x"), make([]byte, 64)); err == nil {
		t.Fatal("zero ECDSA signature verified")
	}
}
