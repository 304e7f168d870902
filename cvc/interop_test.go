package cvc

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/ecc"
	"eacgate/internal/testenv"
)

// The interoperability tests run tools nobody here wrote: openpace's cvc-create and
// cvc-print (Debian package openpace) and cvcverify, a libeac-based verifier
// (tools/cvcverify, copied from outside eacgate), built here with gcc (Debian packages libeac-dev, libssl-dev,
// pkg-config). CI installs all of them; locally the tests skip when they are missing.

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func marshalPKCS8(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	var der []byte
	var err error
	switch key := k.(type) {
	case *ecc.PrivateKey:
		der, err = ecc.MarshalPKCS8PrivateKey(key)
	case *rsa.PrivateKey:
		der, err = x509.MarshalPKCS8PrivateKey(key)
	default:
		t.Fatalf("key type %T", k)
	}
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// openpace -> eacgate: certificates made by cvc-create now decode and verify.
func TestOpenpaceCreatesEacgateVerifies(t *testing.T) {
	cvcCreate := testenv.Tool(t, "cvc-create")
	openssl := testenv.Tool(t, "openssl")
	cases := []struct{ name, keyspec, scheme string }{
		{"brainpoolP256r1", "ec:brainpoolP256r1", "ECDSA_SHA_256"},
		{"brainpoolP384r1", "ec:brainpoolP384r1", "ECDSA_SHA_384"},
		{"brainpoolP512r1", "ec:brainpoolP512r1", "ECDSA_SHA_512"},
		{"P-256", "ec:prime256v1", "ECDSA_SHA_256"},
		{"P-384 SHA-224", "ec:secp384r1", "ECDSA_SHA_224"},
		{"P-521", "ec:secp521r1", "ECDSA_SHA_512"},
		{"RSA v1.5", "rsa:2048", "RSA_v1_5_SHA_256"},
		{"RSA-PSS", "rsa:2048", "RSA_PSS_SHA_256"},
		{"RSA-PSS SHA-512", "rsa:2048", "RSA_PSS_SHA_512"},
	}
	today := time.Now().UTC()
	yymmdd := func(d time.Time) string { return d.Format("060102") }
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			gen := func(name string) {
				args := []string{"genpkey", "-out", name + ".pem"}
				kind, param, _ := strings.Cut(tc.keyspec, ":")
				if kind == "ec" {
					args = append(args, "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:"+param)
				} else {
					args = append(args, "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:"+param)
				}
				run(t, dir, openssl, args...)
				run(t, dir, openssl, "pkcs8", "-topk8", "-nocrypt", "-in", name+".pem", "-outform", "DER", "-out", name+".pkcs8")
			}
			for _, k := range []string{"cvca", "cvca2", "dv", "is"} {
				gen(k)
			}
			exp := yymmdd(today.AddDate(1, 0, 0))
			common := []string{"--type=is", "--scheme=" + tc.scheme, "--expires=" + exp, "--read-finger", "--read-iris"}
			run(t, dir, cvcCreate, append([]string{"--role=cvca", "--chr=UTCVCA00001", "--sign-with=cvca.pkcs8", "--out-cert=cvca.cvcert"}, common...)...)
			run(t, dir, cvcCreate, append([]string{"--role=cvca", "--chr=UTCVCA00002", "--sign-as=cvca.cvcert", "--sign-with=cvca.pkcs8", "--key=cvca2.pkcs8", "--out-cert=link.cvcert"}, common...)...)
			run(t, dir, cvcCreate, append([]string{"--role=dv_domestic", "--chr=UTDVDOM00001", "--sign-as=link.cvcert", "--sign-with=cvca2.pkcs8", "--key=dv.pkcs8", "--out-cert=dv.cvcert"}, common...)...)
			run(t, dir, cvcCreate, append([]string{"--role=terminal", "--chr=UTISTERM0001", "--sign-as=dv.cvcert", "--sign-with=dv.pkcs8", "--key=is.pkcs8", "--out-cert=is.cvcert"}, common...)...)

			load := func(name string) *Certificate {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				c, err := ParseCertificate(b)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if enc, _ := c.Encode(); string(enc) != string(b) {
					t.Fatalf("%s: re-encoding differs", name)
				}
				return c
			}
			cvca, link, dv, is := load("cvca.cvcert"), load("link.cvcert"), load("dv.cvcert"), load("is.cvcert")
			path, err := Verify(is, VerifyOptions{Anchors: []*Certificate{cvca}, Intermediates: []*Certificate{link, dv}, At: today})
			if err != nil {
				t.Fatal(err)
			}
			if len(path) != 4 || !path[1].IsLink() {
				t.Fatalf("path of %d", len(path))
			}
			if want, _ := ParseAlgorithm(tc.scheme); is.PublicKey.Algorithm != want {
				t.Fatalf("algorithm %s", is.PublicKey.Algorithm)
			}
		})
	}
}

// eacgate -> openpace: certificates made here verify in cvc-print (files named by CHR in
// --cvc-dir); plain requests verify in cvc-print --csr; authenticated requests (which Debian's
// cvc-print 1.1.2 cannot parse) verify in cvcverify.
func TestEacgateCreatesOpenpaceVerifies(t *testing.T) {
	cvcPrint := testenv.Tool(t, "cvc-print")
	cvcverify := testenv.CVCVerify(t)
	specs := []keySpec{
		{alg: ECDSA_SHA256, curve: "brainpoolP256r1"},
		{alg: ECDSA_SHA384, curve: "brainpoolP384r1"},
		{alg: ECDSA_SHA512, curve: "brainpoolP512r1"},
		{alg: ECDSA_SHA224, curve: "brainpoolP320r1"},
		{alg: ECDSA_SHA256, curve: "P-256"},
		{alg: ECDSA_SHA384, curve: "P-384"},
		{alg: ECDSA_SHA512, curve: "P-521"},
		{alg: RSA_v15_SHA256, bits: 2048},
		{alg: RSA_PSS_SHA256, bits: 2048},
		{alg: RSA_PSS_SHA512, bits: 3072},
	}
	for _, spec := range specs {
		t.Run(spec.String(), func(t *testing.T) {
			t.Parallel()
			p := buildPKI(t, spec, "UT")
			dir := t.TempDir()
			trust := filepath.Join(dir, "trust")
			if err := os.Mkdir(trust, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*Certificate{p.cvca, p.dv, p.term} {
				writeFile(t, filepath.Join(trust, c.CHR), c.Raw)
				writeFile(t, filepath.Join(dir, c.CHR+".cvcert"), c.Raw)
			}
			for _, c := range []*Certificate{p.cvca, p.dv, p.term} {
				out := run(t, dir, cvcPrint, "--cvc="+c.CHR+".cvcert", "--cvc-dir="+trust)
				if !strings.Contains(out, "certificate verified") || strings.Contains(out, "not verified") {
					t.Fatalf("cvc-print on %s:\n%s", c.CHR, out)
				}
			}
			run(t, dir, cvcverify, "chain", p.cvca.CHR+".cvcert", p.dv.CHR+".cvcert", p.term.CHR+".cvcert")

			newKey := newKey(t, spec)
			req, err := NewRequest(RequestTemplate{CAR: p.dv.CHR, CHR: "UTISTERM00002"}, cvPublicKey(t, spec.alg, newKey, true), newKey)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "initial.cvreq"), req.Raw)
			out := run(t, dir, cvcPrint, "--csr=initial.cvreq")
			if !strings.Contains(out, "certificate request verified") {
				t.Fatalf("cvc-print --csr:\n%s", out)
			}
			auth, err := req.Authenticate(p.term.CHR, p.termKey, spec.alg)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "renewal.cvreq"), auth.Raw)
			out = run(t, dir, cvcverify, "req", "renewal.cvreq", p.cvca.CHR+".cvcert", p.dv.CHR+".cvcert", p.term.CHR+".cvcert")
			if !strings.Contains(out, "[TR-03110: 7F21 TLV || 42 TLV]: OK") {
				t.Fatalf("cvcverify:\n%s", out)
			}

			// openpace issues a terminal certificate from our request (EC only: Debian's
			// cvc-create 1.1.2 crashes on RSA requests) and we verify it.
			if spec.alg.IsECDSA() {
				writeFile(t, filepath.Join(dir, "dv.pkcs8"), marshalPKCS8(t, p.dvKey))
				run(t, dir, testenv.Tool(t, "cvc-create"), "--csr=initial.cvreq", "--role=terminal", "--type=is", "--read-finger",
					"--sign-with=dv.pkcs8", "--scheme="+spec.alg.Scheme(), "--expires="+time.Now().UTC().AddDate(0, 1, 0).Format("060102"),
					"--out-cert=issued.cvcert")
				b, err := os.ReadFile(filepath.Join(dir, "issued.cvcert"))
				if err != nil {
					t.Fatal(err)
				}
				issued, err := ParseCertificate(b)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := Verify(issued, p.opts()); err != nil {
					t.Fatalf("certificate openpace issued from our request: %v", err)
				}
			}
		})
	}
}
