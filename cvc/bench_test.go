package cvc

import (
	"testing"
)

// The benchmarks measure the two hot paths of a CA: issuing (encode and sign a terminal
// certificate) and checking (decode and verify it against its issuer). Figures in README.md;
// scripts/bench-cvc.sh runs the same work through openpace for comparison.
func benchSpecs() []keySpec {
	return []keySpec{
		{alg: ECDSA_SHA256, curve: "P-256"},
		{alg: ECDSA_SHA256, curve: "brainpoolP256r1"},
		{alg: ECDSA_SHA384, curve: "P-384"},
		{alg: ECDSA_SHA384, curve: "brainpoolP384r1"},
		{alg: ECDSA_SHA512, curve: "brainpoolP512r1"},
		{alg: RSA_v15_SHA256, bits: 2048},
		{alg: RSA_PSS_SHA256, bits: 2048},
	}
}

func BenchmarkIssue(b *testing.B) {
	for _, spec := range benchSpecs() {
		b.Run(spec.String(), func(b *testing.B) {
			p := buildPKI(b, spec, "ZZ")
			tmpl := CertificateTemplate{
				CAR: p.dv.CHR, CHR: "ZZISTERM00002", PublicKey: p.term.PublicKey,
				CHAT: p.term.CHAT, EffectiveDate: p.effective, ExpirationDate: p.effective.AddDays(30),
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := Issue(tmpl, p.dvKey, spec.alg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeVerify(b *testing.B) {
	for _, spec := range benchSpecs() {
		b.Run(spec.String(), func(b *testing.B) {
			p := buildPKI(b, spec, "ZZ")
			domain := Domain([]*Certificate{p.cvca})
			issuerKey, err := p.dv.PublicKey.Key(domain)
			if err != nil {
				b.Fatal(err)
			}
			raw := p.term.Raw
			b.ResetTimer()
			for b.Loop() {
				c, err := ParseCertificate(raw)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.CheckSignature(issuerKey, p.dv.PublicKey.Algorithm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyRenewal is the per-request crypto of a renewal: decode, inner and outer
// signature.
func BenchmarkVerifyRenewal(b *testing.B) {
	for _, spec := range benchSpecs() {
		b.Run(spec.String(), func(b *testing.B) {
			p := buildPKI(b, spec, "ZZ")
			domain := Domain([]*Certificate{p.cvca})
			k := newKey(b, spec)
			pk, err := NewPublicKey(spec.alg, k.Public(), true)
			if err != nil {
				b.Fatal(err)
			}
			req, err := NewRequest(RequestTemplate{CAR: p.dv.CHR, CHR: "ZZISTERM00002"}, pk, k)
			if err != nil {
				b.Fatal(err)
			}
			auth, err := req.Authenticate(p.term.CHR, p.termKey, spec.alg)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				r, err := ParseRequest(auth.Raw)
				if err != nil {
					b.Fatal(err)
				}
				if err := r.VerifyInner(domain); err != nil {
					b.Fatal(err)
				}
				if err := r.VerifyOuterWith(p.term, domain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
