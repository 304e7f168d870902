package ecc

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"eacgate/internal/testenv"
)

// refAdd and refMul are a plain affine big.Int reference for the differential tests.
func refAdd(p Params, x1, y1, x2, y2 *big.Int) (*big.Int, *big.Int) {
	if x1 == nil {
		return x2, y2
	}
	if x2 == nil {
		return x1, y1
	}
	P := p.P
	var l *big.Int
	if x1.Cmp(x2) == 0 {
		if new(big.Int).Mod(new(big.Int).Add(y1, y2), P).Sign() == 0 {
			return nil, nil
		}
		num := new(big.Int).Mul(x1, x1)
		num.Mul(num, big.NewInt(3)).Add(num, p.A)
		den := new(big.Int).Lsh(y1, 1)
		l = num.Mul(num, den.ModInverse(den.Mod(den, P), P))
	} else {
		num := new(big.Int).Sub(y2, y1)
		den := new(big.Int).Sub(x2, x1)
		l = num.Mul(num, den.ModInverse(den.Mod(den, P), P))
	}
	l.Mod(l, P)
	x3 := new(big.Int).Mul(l, l)
	x3.Sub(x3, x1).Sub(x3, x2).Mod(x3, P)
	y3 := new(big.Int).Sub(x1, x3)
	y3.Mul(y3, l).Sub(y3, y1).Mod(y3, P)
	return x3, y3
}

func refMul(p Params, x, y, k *big.Int) (*big.Int, *big.Int) {
	var rx, ry *big.Int
	for i := k.BitLen() - 1; i >= 0; i-- {
		rx, ry = refAdd(p, rx, ry, rx, ry)
		if k.Bit(i) == 1 {
			rx, ry = refAdd(p, rx, ry, x, y)
		}
	}
	return rx, ry
}

func brainpools() []*Curve {
	var out []*Curve
	for _, c := range Curves() {
		if c.w != nil {
			out = append(out, c)
		}
	}
	return out
}

func TestBrainpoolParams(t *testing.T) {
	if len(brainpools()) != 6 || len(Curves()) != 10 {
		t.Fatalf("%d brainpool curves, %d in all", len(brainpools()), len(Curves()))
	}
	for _, c := range brainpools() {
		p := c.Params()
		if !p.P.ProbablyPrime(32) || !p.N.ProbablyPrime(32) {
			t.Errorf("%s: p or n not prime", c.Name())
		}
		if p.P.BitLen() != p.N.BitLen() {
			t.Errorf("%s: p and n of different sizes", c.Name())
		}
		// n*G = infinity, (n-1)*G = -G, in our arithmetic and the reference.
		w := c.w
		var r point
		w.scalarMult(&r, w.gTab, p.N.FillBytes(make([]byte, c.nsize)))
		if w.fp.isZero(&r.z) != 1 {
			t.Errorf("%s: n*G is not infinity", c.Name())
		}
		x, y := refMul(p, p.Gx, p.Gy, new(big.Int).Sub(p.N, big.NewInt(1)))
		if x.Cmp(p.Gx) != 0 || new(big.Int).Add(y, p.Gy).Cmp(p.P) != 0 {
			t.Errorf("%s: (n-1)*G != -G", c.Name())
		}
		if CurveByOID(c.OID()) != c || CurveByName(c.Name()) != c || CurveByParams(p) != c {
			t.Errorf("%s: lookups", c.Name())
		}
	}
}

// Our scalar multiplications agree with the affine big.Int reference on random scalars.
func TestDifferentialScalarMult(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	for _, c := range brainpools() {
		p := c.Params()
		w := c.w
		for i := range 12 {
			kb := make([]byte, c.nsize)
			for j := range kb {
				kb[j] = byte(rng.Uint32())
			}
			if i == 0 {
				kb = make([]byte, c.nsize)
				kb[len(kb)-1] = 1
			}
			k := new(big.Int).SetBytes(kb)
			var r point
			w.scalarMult(&r, w.gTab, kb)
			x, y, ok := w.affine(&r)
			wx, wy := refMul(p, p.Gx, p.Gy, k)
			if !ok || new(big.Int).SetBytes(w.fp.bytes(&x)).Cmp(wx) != 0 || new(big.Int).SetBytes(w.fp.bytes(&y)).Cmp(wy) != 0 {
				t.Fatalf("%s: k*G differs for k=%x", c.Name(), kb)
			}
			// u1*G + u2*Q against the reference, with Q = k*G.
			q, err := c.NewPublicKey(append(append([]byte{4}, w.fp.bytes(&x)...), w.fp.bytes(&y)...))
			if err != nil {
				t.Fatal(err)
			}
			u1, u2 := make([]byte, c.nsize), make([]byte, c.nsize)
			for j := range u1 {
				u1[j], u2[j] = byte(rng.Uint32()), byte(rng.Uint32())
			}
			var s point
			w.doubleScalarMult(&s, u1, q.tab, u2)
			sx, _, _ := w.affine(&s)
			ax, ay := refMul(p, p.Gx, p.Gy, new(big.Int).SetBytes(u1))
			bx, by := refMul(p, wx, wy, new(big.Int).SetBytes(u2))
			ex, _ := refAdd(p, ax, ay, bx, by)
			if new(big.Int).SetBytes(w.fp.bytes(&sx)).Cmp(ex) != 0 {
				t.Fatalf("%s: u1*G+u2*Q differs", c.Name())
			}
		}
		// P + P through the addition formula equals doubling, and P + (-P) is infinity.
		var g2, neg, sum point
		w.add(&g2, &w.g, &w.g)
		neg = w.g
		w.fp.sub(&neg.y, &limbs{}, &neg.y)
		w.add(&sum, &w.g, &neg)
		if w.fp.isZero(&sum.z) != 1 {
			t.Fatalf("%s: G + (-G) is not infinity", c.Name())
		}
	}
}

// RFC 7027, appendix A: ECDH test vectors (dA*QB's x-coordinate).
func TestRFC7027(t *testing.T) {
	cases := []struct{ curve, dA, xB, yB, z string }{
		{"brainpoolP256r1",
			"81DB1EE100150FF2EA338D708271BE38300CB54241D79950F77B063039804F1D",
			"8D2D688C6CF93E1160AD04CC4429117DC2C41825E1E9FCA0ADDD34E6F1B39F7B",
			"990C57520812BE512641E47034832106BC7D3E8DD0E4C7F1136D7006547CEC6A",
			"89AFC39D41D3B327814B80940B042590F96556EC91E6AE7939BCE31F3A18BF2B"},
	}
	for _, tc := range cases {
		c := CurveByName(tc.curve)
		q, err := c.NewPublicKey(mustHex(t, "04"+tc.xB+tc.yB))
		if err != nil {
			t.Fatal(err)
		}
		var r point
		c.w.scalarMult(&r, q.tab, mustHex(t, tc.dA))
		x, _, _ := c.w.affine(&r)
		if got := hex.EncodeToString(c.w.fp.bytes(&x)); got != lower(tc.z) {
			t.Fatalf("%s: shared secret %s", tc.curve, got)
		}
	}
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignVerifyAllCurves(t *testing.T) {
	for _, c := range Curves() {
		t.Run(c.Name(), func(t *testing.T) {
			k, err := GenerateKey(c, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			for _, digest := range [][]byte{sha256.New().Sum(nil), sha512.New().Sum(nil), {1, 2, 3}} {
				r, s, err := k.SignRS(rand.Reader, digest)
				if err != nil {
					t.Fatal(err)
				}
				if !k.PublicKey().Verify(digest, r, s) {
					t.Fatal("own signature does not verify")
				}
				bad := bytes.Clone(digest)
				bad[0] ^= 1
				if k.PublicKey().Verify(bad, r, s) {
					t.Fatal("signature verifies for another digest")
				}
				if k.PublicKey().Verify(digest, s, r) {
					t.Fatal("swapped r and s verify")
				}
			}
			n := c.Params().N
			for _, rs := range [][2]*big.Int{{big.NewInt(0), big.NewInt(1)}, {big.NewInt(1), big.NewInt(0)}, {n, big.NewInt(1)}, {big.NewInt(1), new(big.Int).Lsh(n, 3)}, {big.NewInt(-1), big.NewInt(1)}, {nil, nil}} {
				if k.PublicKey().Verify([]byte{1}, rs[0], rs[1]) {
					t.Fatalf("out-of-range signature %v verifies", rs)
				}
			}
			der, err := MarshalPKCS8PrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			k2, err := ParsePKCS8PrivateKey(der)
			if err != nil || !k2.Equal(k) {
				t.Fatalf("PKCS#8 round trip: %v", err)
			}
			spki, _ := MarshalPKIXPublicKey(k.PublicKey())
			pub, err := ParsePKIXPublicKey(spki)
			if err != nil || !pub.Equal(k.PublicKey()) {
				t.Fatalf("PKIX round trip: %v", err)
			}
		})
	}
}

func TestHostileInput(t *testing.T) {
	for _, c := range Curves() {
		good, _ := GenerateKey(c, rand.Reader)
		raw := good.PublicKey().Bytes()
		offCurve := bytes.Clone(raw)
		offCurve[len(offCurve)-1] ^= 1
		pBytes := c.Params().P.FillBytes(make([]byte, c.FieldSize()))
		bigX := append(append([]byte{4}, pBytes...), raw[1+c.FieldSize():]...)
		inf := make([]byte, len(raw))
		inf[0] = 4
		for name, in := range map[string][]byte{"short": raw[:len(raw)-1], "long": append(raw, 0), "compressed": append([]byte{2}, raw[1:1+c.FieldSize()]...),
			"off curve": offCurve, "x = p": bigX, "zero point": inf, "empty": nil} {
			if _, err := c.NewPublicKey(in); err == nil {
				t.Errorf("%s: %s point accepted", c.Name(), name)
			}
		}
		n := c.Params().N.FillBytes(make([]byte, c.OrderSize()))
		for name, d := range map[string][]byte{"zero": make([]byte, c.OrderSize()), "n": n, "too long": make([]byte, c.OrderSize()+1)} {
			if name == "too long" {
				d[0] = 1
			}
			if _, err := c.NewPrivateKey(d); err == nil {
				t.Errorf("%s: scalar %s accepted", c.Name(), name)
			}
		}
	}
	for _, der := range [][]byte{nil, {0x30, 0x00}, {0x30, 0x82, 0xFF, 0xFF}, []byte("not der")} {
		if _, err := ParsePKCS8PrivateKey(der); err == nil {
			t.Errorf("garbage PKCS#8 %x accepted", der)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	k, _ := GenerateKey(CurveByName("brainpoolP256r1"), rand.Reader)
	digest := sha256.Sum256([]byte("x"))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				r, s, err := k.SignRS(rand.Reader, digest[:])
				if err != nil || !k.PublicKey().Verify(digest[:], r, s) {
					t.Error("concurrent sign/verify failed")
				}
			}
		}()
	}
	wg.Wait()
}

// Cross-checks with OpenSSL in both directions, on every curve, with named and explicit
// parameter key files.
func TestOpenSSLInterop(t *testing.T) {
	openssl := testenv.Tool(t, "openssl")
	for _, c := range Curves() {
		t.Run(c.Name(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			run := func(args ...string) []byte {
				t.Helper()
				cmd := exec.Command(openssl, args...)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("openssl %v: %v\n%s", args, err, out)
				}
				return out
			}
			osslName := map[string]string{"P-224": "secp224r1", "P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}[c.Name()]
			if osslName == "" {
				osslName = c.Name()
			}
			msg := []byte("eacgate interop message")
			os.WriteFile(filepath.Join(dir, "msg"), msg, 0o600)
			digest := sha256.Sum256(msg)
			for _, enc := range []string{"named_curve", "explicit"} {
				run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:"+osslName, "-pkeyopt", "ec_param_enc:"+enc, "-out", "k.pem")
				run("pkcs8", "-topk8", "-nocrypt", "-in", "k.pem", "-outform", "DER", "-out", "k.der")
				der, _ := os.ReadFile(filepath.Join(dir, "k.der"))
				k, err := ParsePKCS8PrivateKey(der)
				if err != nil {
					t.Fatalf("%s key: %v", enc, err)
				}
				// OpenSSL signs, we verify.
				run("dgst", "-sha256", "-sign", "k.pem", "-out", "sig", "msg")
				sig, _ := os.ReadFile(filepath.Join(dir, "sig"))
				var rs struct{ R, S *big.Int }
				if _, err := asn1Unmarshal(sig, &rs); err != nil {
					t.Fatal(err)
				}
				if !k.PublicKey().Verify(digest[:], rs.R, rs.S) {
					t.Fatalf("OpenSSL's signature does not verify (%s)", enc)
				}
			}
			// We sign, OpenSSL verifies.
			k, _ := GenerateKey(c, rand.Reader)
			spki, _ := MarshalPKIXPublicKey(k.PublicKey())
			os.WriteFile(filepath.Join(dir, "pub.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o600)
			sig, err := k.Sign(rand.Reader, digest[:], nil)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "oursig"), sig, 0o600)
			if out := run("dgst", "-sha256", "-verify", "pub.pem", "-signature", "oursig", "msg"); !bytes.Contains(out, []byte("Verified OK")) {
				t.Fatalf("OpenSSL: %s", out)
			}
			// Our PKCS#8 is readable by OpenSSL and gives the same public key.
			der, _ := MarshalPKCS8PrivateKey(k)
			os.WriteFile(filepath.Join(dir, "our.der"), der, 0o600)
			pubOut := run("pkey", "-inform", "DER", "-in", "our.der", "-pubout", "-outform", "DER")
			if !bytes.Equal(pubOut, spki) {
				t.Fatal("OpenSSL derives another public key from our PKCS#8")
			}
		})
	}
}

func FuzzNewPublicKey(f *testing.F) {
	k, _ := GenerateKey(CurveByName("brainpoolP256r1"), rand.Reader)
	f.Add(k.PublicKey().Bytes(), uint8(6))
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		cs := Curves()
		c := cs[int(which)%len(cs)]
		if pub, err := c.NewPublicKey(b); err == nil {
			_ = pub.Verify([]byte{1, 2, 3}, big.NewInt(1), big.NewInt(1))
		}
	})
}

func FuzzParsePKCS8PrivateKey(f *testing.F) {
	k, _ := GenerateKey(CurveByName("brainpoolP256r1"), rand.Reader)
	der, _ := MarshalPKCS8PrivateKey(k)
	f.Add(der)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParsePKCS8PrivateKey(b)
		_, _ = ParseSEC1PrivateKey(b)
		_, _ = ParsePKIXPublicKey(b)
	})
}

func asn1Unmarshal(b []byte, v any) ([]byte, error) { return asn1.Unmarshal(b, v) }
