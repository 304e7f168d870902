package cvc

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/internal/testenv"
)

func readVector(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.Vector(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func certVector(t *testing.T, rel string) *Certificate {
	t.Helper()
	c, err := ParseCertificate(readVector(t, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return c
}

func reqVector(t *testing.T, rel string) *Request {
	t.Helper()
	r, err := ParseRequest(readVector(t, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return r
}

// Every vector decodes and re-encodes byte for byte.
func TestVectorsRoundTrip(t *testing.T) {
	var files []string
	for _, pattern := range []string{"public/*.cvcert", "public/*.cvreq", "openpace/*/*.cvcert", "openpace/*/*.cvreq"} {
		m, err := filepath.Glob(testenv.Vector(t, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 40 {
		t.Fatalf("found only %d vectors", len(files))
	}
	for _, f := range files {
		name := strings.TrimPrefix(f, testenv.Vector(t, ""))
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var enc []byte
			if strings.HasSuffix(f, ".cvcert") {
				c, err := ParseCertificate(raw)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(c.Raw, raw) {
					t.Fatal("Raw differs from input")
				}
				enc, err = c.Encode()
				if err != nil {
					t.Fatal(err)
				}
			} else {
				r, err := ParseRequest(raw)
				if err != nil {
					t.Fatal(err)
				}
				enc, err = r.Encode()
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(enc, raw) {
				t.Fatalf("re-encoding differs:\n got %X\nwant %X", enc, raw)
			}
		})
	}
}

func TestPublicChains(t *testing.T) {
	cases := []struct {
		name   string
		anchor string
		chain  []string
		at     string
	}{
		{"DE ePassport CVCA", "01_DECVCAEPASS00102_cvca_epass_de.cvcert", nil, "2011-01-01"},
		{"BE CVCA -> DV", "02_BECVCA00001_cvca_epass_be.cvcert", []string{"03_BEDVBUZABE006_dv_epass_be.cvcert"}, "2010-09-01"},
		{"CZ CVCA", "04_CZCVCADCZ000_cvca_epass_cz.cvcert", nil, "2009-01-01"},
		{"RSA SHA-1 CVCA", "05_GO_CV_RSA2008_cvca_rsa_sha1.cvcert", nil, "2010-01-01"},
		{"DE eID link -> DV -> AT", "11_DECVCAeID00102_cvca_eid.cvcert", []string{
			"12_DECVCAeID00103_link_by_00102.cvcert", "13_DEDVeIDDTR101415_dv_eid.cvcert", "14_DE0000024001HW_at_with_extensions.cvcert"}, "2014-11-07"},
		{"DE test PKI link", "15_DETESTeID00001_cvca_testpki.cvcert", []string{"16_DETESTeID00002_link_by_00001.cvcert"}, "2011-01-01"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			anchor := certVector(t, "public/"+tc.anchor)
			var inter []*Certificate
			for _, f := range tc.chain {
				inter = append(inter, certVector(t, "public/"+f))
			}
			leaf := anchor
			if len(inter) > 0 {
				leaf = inter[len(inter)-1]
			}
			at, _ := time.Parse("2006-01-02", tc.at)
			path, err := Verify(leaf, VerifyOptions{Anchors: []*Certificate{anchor}, Intermediates: inter, At: at})
			if err != nil {
				t.Fatal(err)
			}
			if len(path) != len(tc.chain)+1 {
				t.Fatalf("path of %d certificates, want %d", len(path), len(tc.chain)+1)
			}
			// All of these are long expired.
			if _, err := Verify(leaf, VerifyOptions{Anchors: []*Certificate{anchor}, Intermediates: inter}); !errors.Is(err, ErrExpired) {
				t.Fatalf("verify today: %v, want ErrExpired", err)
			}
		})
	}
}

func TestPublicRequests(t *testing.T) {
	// 07: RSA renewal of an IS; the outer signature is by the key of certificate 06.
	r := reqVector(t, "public/07_SEABSP00002_is_renewal_auth.cvreq")
	if err := r.VerifyInner(nil); err != nil {
		t.Fatalf("07 inner: %v", err)
	}
	old := certVector(t, "public/06_SEABSP00001_is_rsa.cvcert")
	if err := r.VerifyOuterWith(old, nil); err != nil {
		t.Fatalf("07 outer: %v", err)
	}
	// The outer signature must not verify with another key.
	other := certVector(t, "public/05_GO_CV_RSA2008_cvca_rsa_sha1.cvcert")
	otherKey, err := other.PublicKey.Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.VerifyOuter(otherKey, old.PublicKey.Algorithm); !errors.Is(err, ErrOuterSignature) {
		t.Fatalf("07 outer with wrong key: %v", err)
	}
	// 08: brainpoolP224r1, ECDSA-SHA-224, authenticated by a certificate that is not public.
	r = reqVector(t, "public/08_UTIS00100072_auth_p224.cvreq")
	if !r.Authenticated() || r.OuterCAR != "UTIS00100071" {
		t.Fatalf("08: authenticated=%v outer CAR %q", r.Authenticated(), r.OuterCAR)
	}
	if err := r.VerifyInner(nil); err != nil {
		t.Fatalf("08 inner: %v", err)
	}
	// 09: integers with a leading zero byte: valid only over the bytes as received.
	r = reqVector(t, "public/09_BETEST00001_req_nonminimal_ints.cvreq")
	if err := r.VerifyInner(nil); err != nil {
		t.Fatalf("09 inner: %v", err)
	}
	// 10: RSA DV request with an inner CAR.
	r = reqVector(t, "public/10_CZDVTESTSE000_dv_req_rsa.cvreq")
	if r.CAR != "SECVCAPK00001" {
		t.Fatalf("10: CAR %q", r.CAR)
	}
	if err := r.VerifyInner(nil); err != nil {
		t.Fatalf("10 inner: %v", err)
	}
}

// The openpace-made PKIs (testdata/vectors/openpace/openpace_recipe.sh) verify in every set.
func TestOpenpaceVectors(t *testing.T) {
	for _, set := range []string{"bp256", "p256", "rsa15"} {
		t.Run(set, func(t *testing.T) {
			cert := func(name string) *Certificate { return certVector(t, "openpace/"+set+"/"+name) }
			cvca, dv, dvf, is, link := cert("cvca.cvcert"), cert("dv.cvcert"), cert("dv_foreign.cvcert"), cert("is.cvcert"), cert("link_cvca2_by_cvca1.cvcert")
			at := is.EffectiveDate.Time()
			opts := VerifyOptions{Anchors: []*Certificate{cvca}, Intermediates: []*Certificate{dv, dvf, link}, At: at}
			for _, leaf := range []*Certificate{cvca, dv, dvf, is, link} {
				if _, err := Verify(leaf, opts); err != nil {
					t.Errorf("%s: %v", leaf.CHR, err)
				}
			}
			if dv.Role() != RoleDVDomestic || dvf.Role() != RoleDVForeign || is.Role() != RoleTerminal || !link.IsLink() {
				t.Errorf("roles: dv %s, dvf %s, is %s, link %v", dv.Role(), dvf.Role(), is.Role(), link.IsLink())
			}
			// The new CVCA's self-signed certificate is signed by the key the link
			// certificate vouches for, so it verifies through the link.
			if path, err := Verify(cert("cvca2_selfsigned.cvcert"), opts); err != nil || len(path) != 3 {
				t.Errorf("self-signed cvca2 through the link: path %d, %v", len(path), err)
			}
			if set != "rsa15" {
				if _, err := Verify(cert("is2_from_csr.cvcert"), opts); err != nil {
					t.Errorf("is2_from_csr: %v", err)
				}
			}

			req := func(name string) *Request { return reqVector(t, "openpace/"+set+"/"+name) }
			domain := Domain([]*Certificate{cvca})
			initial := req("req_is_initial.cvreq")
			if err := initial.VerifyInner(domain); err != nil {
				t.Errorf("initial inner: %v", err)
			}
			renewal := req("req_is_renewal_auth.cvreq")
			if err := renewal.VerifyInner(domain); err != nil {
				t.Errorf("IS renewal inner: %v", err)
			}
			if err := renewal.VerifyOuterWith(is, domain); err != nil {
				t.Errorf("IS renewal outer: %v", err)
			}
			if err := renewal.VerifyOuterWith(dv, domain); !errors.Is(err, ErrOuterSignature) {
				t.Errorf("IS renewal outer with the DV's certificate: %v, want ErrOuterSignature", err)
			}
			dvRenewal := req("req_dv_renewal_auth.cvreq")
			if err := dvRenewal.VerifyInner(domain); err != nil {
				t.Errorf("DV renewal inner: %v", err)
			}
			if err := dvRenewal.VerifyOuterWith(dv, domain); err != nil {
				t.Errorf("DV renewal outer: %v", err)
			}
			if set == "bp256" {
				noParams := req("req_is_noparams.cvreq")
				if err := noParams.VerifyInner(nil); !errors.Is(err, ErrDomainParameters) {
					t.Errorf("request without domain parameters and no domain: %v", err)
				}
				if err := noParams.VerifyInner(domain); err != nil {
					t.Errorf("request without domain parameters: %v", err)
				}
				// libeac 1.1.x signed the inner request followed by the bare CAR value: not
				// TR-03110, and must fail.
				libeac := req("req_is_renewal_auth_libeacstyle.cvreq")
				if err := libeac.VerifyOuterWith(is, domain); !errors.Is(err, ErrOuterSignature) {
					t.Errorf("libeac-style outer signature: %v, want ErrOuterSignature", err)
				}
			}
		})
	}
}
