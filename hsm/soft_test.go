package hsm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/internal/testenv"
)

// fastKDF keeps the tests quick; the parameters are stored in each file.
var fastKDF = hsm.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

func openSoft(t testing.TB, dir, pass string) *hsm.SoftKeystore {
	t.Helper()
	cfg := hsm.SoftConfig{Dir: dir, KDF: fastKDF, Logger: quietLog}
	if pass != "" {
		cfg.Passphrase = hsm.Secret{Value: []byte(pass)}
	}
	ks, err := hsm.OpenSoft(cfg)
	if err != nil {
		t.Fatalf("OpenSoft: %v", err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks
}

func TestSoftRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	ks := openSoft(t, dir, "correct horse")
	ctx := context.Background()
	for _, tc := range specs {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ks.Generate(ctx, "k-"+tc.name, tc.spec)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			exerciseSigner(t, s, tc.spec.Algorithm)
			fi, err := os.Stat(filepath.Join(dir, "k-"+tc.name+".key"))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
			}
			// A new keystore instance decrypts the file.
			ks2 := openSoft(t, dir, "correct horse")
			s2, err := ks2.Signer(ctx, "k-"+tc.name)
			if err != nil {
				t.Fatalf("Signer: %v", err)
			}
			samePublic(t, s.Public(), s2.Public())
			exerciseSigner(t, s2, tc.spec.Algorithm)
		})
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("keystore directory: %v %v, want mode 0700", fi.Mode(), err)
	}

	// List needs no passphrase.
	infos, err := openSoft(t, dir, "").List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(specs) {
		t.Fatalf("List: %d keys, want %d", len(infos), len(specs))
	}
	for i, in := range infos {
		if i > 0 && infos[i-1].Label >= in.Label {
			t.Fatalf("List not sorted")
		}
		if in.Public == nil || in.Created.IsZero() || !in.Algorithm.Valid() {
			t.Fatalf("List: incomplete %+v", in)
		}
	}
	// ... but Signer does.
	if _, err := openSoft(t, dir, "").Signer(ctx, infos[0].Label); !errors.Is(err, hsm.ErrLogin) {
		t.Fatalf("Signer without passphrase: err = %v, want ErrLogin", err)
	}
}

func TestSoftIssueCertificate(t *testing.T) {
	ks := openSoft(t, t.TempDir(), "pw")
	for _, tc := range []struct {
		name string
		spec hsm.KeySpec
	}{specs[0], specs[1], specs[6]} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ks.Generate(context.Background(), "cvca-"+tc.name, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			issueSelfSigned(t, s)
		})
	}
}

func TestSoftErrors(t *testing.T) {
	dir := t.TempDir()
	ks := openSoft(t, dir, "right")
	ctx := context.Background()
	if _, err := ks.Generate(ctx, "k", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP256r1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Generate(ctx, "k", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256}); !errors.Is(err, hsm.ErrKeyExists) {
		t.Fatalf("duplicate: err = %v, want ErrKeyExists", err)
	}
	if _, err := ks.Signer(ctx, "missing"); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("missing: err = %v, want ErrKeyNotFound", err)
	}
	if _, err := ks.Signer(ctx, "../k"); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("path traversal: err = %v, want ErrKeyNotFound", err)
	}

	t.Run("wrong passphrase", func(t *testing.T) {
		_, err := openSoft(t, dir, "wrong").Signer(ctx, "k")
		if !errors.Is(err, hsm.ErrWrongPassphrase) {
			t.Fatalf("err = %v, want ErrWrongPassphrase", err)
		}
		if strings.Contains(err.Error(), "wrong") && strings.Contains(err.Error(), "\"wrong\"") {
			t.Fatalf("error reveals the passphrase: %v", err)
		}
	})

	t.Run("permissions", func(t *testing.T) {
		d := t.TempDir()
		k := openSoft(t, d, "right")
		if _, err := k.Generate(ctx, "p", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(d, "p.key")
		for _, mode := range []os.FileMode{0o640, 0o604, 0o660} {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := openSoft(t, d, "right").Signer(ctx, "p")
			if !errors.Is(err, hsm.ErrKeyFile) || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("mode %v: err = %v, want ErrKeyFile with advice", mode, err)
			}
		}
		if err := os.Chmod(path, 0o400); err != nil {
			t.Fatal(err)
		}
		if _, err := openSoft(t, d, "right").Signer(ctx, "p"); err != nil {
			t.Fatalf("mode 0400: %v", err)
		}
	})

	// tamper rewrites one field of a copy of k.key as label t and expects ErrKeyFile.
	tamper := func(t *testing.T, change func(m map[string]any)) {
		t.Helper()
		d := t.TempDir()
		data, err := os.ReadFile(filepath.Join(dir, "k.key"))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		out, _ := json.Marshal(m)
		if err := os.WriteFile(filepath.Join(d, "k.key"), out, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = openSoft(t, d, "right").Signer(ctx, "k")
		if !errors.Is(err, hsm.ErrKeyFile) {
			t.Fatalf("err = %v, want ErrKeyFile", err)
		}
	}
	t.Run("tampered algorithm", func(t *testing.T) {
		tamper(t, func(m map[string]any) { m["algorithm"] = cvc.ECDSA_SHA384.String() })
	})
	t.Run("tampered created", func(t *testing.T) {
		tamper(t, func(m map[string]any) { m["created"] = "2001-01-01T00:00:00Z" })
	})
	t.Run("tampered ciphertext", func(t *testing.T) {
		tamper(t, func(m map[string]any) {
			ct := []byte(m["ciphertext"].(string))
			if ct[10] == 'A' {
				ct[10] = 'B'
			} else {
				ct[10] = 'A'
			}
			m["ciphertext"] = string(ct)
		})
	})
	t.Run("swapped public key", func(t *testing.T) {
		other := openSoft(t, t.TempDir(), "right")
		s, err := other.Generate(ctx, "o", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP256r1"})
		if err != nil {
			t.Fatal(err)
		}
		tamper(t, func(m map[string]any) { m["public_key"] = hsm.PublicKeyBytes(s.Public()) })
	})
	t.Run("renamed file", func(t *testing.T) {
		d := t.TempDir()
		data, _ := os.ReadFile(filepath.Join(dir, "k.key"))
		if err := os.WriteFile(filepath.Join(d, "other.key"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := openSoft(t, d, "right").Signer(ctx, "other"); !errors.Is(err, hsm.ErrKeyFile) {
			t.Fatalf("err = %v, want ErrKeyFile", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "g.key"), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := openSoft(t, d, "right").Signer(ctx, "g"); !errors.Is(err, hsm.ErrKeyFile) {
			t.Fatalf("err = %v, want ErrKeyFile", err)
		}
		// List skips it.
		if infos, err := openSoft(t, d, "").List(ctx); err != nil || len(infos) != 0 {
			t.Fatalf("List: %v %v", infos, err)
		}
	})
}

func TestSoftImportOpenpaceVectors(t *testing.T) {
	base := testenv.Vector(t, "openpace")
	ks := openSoft(t, t.TempDir(), "pw")
	for _, tc := range []struct {
		dir string
		alg cvc.Algorithm
	}{{"p256", cvc.ECDSA_SHA256}, {"bp256", cvc.ECDSA_SHA256}, {"rsa15", cvc.RSA_v15_SHA256}} {
		t.Run(tc.dir, func(t *testing.T) {
			der, err := os.ReadFile(filepath.Join(base, tc.dir, "cvca.pkcs8"))
			if err != nil {
				t.Fatal(err)
			}
			s, err := ks.Import("cvca-"+tc.dir, der, tc.alg)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			// The imported key is the one of the openpace CVCA certificate.
			raw, err := os.ReadFile(filepath.Join(base, tc.dir, "cvca.cvcert"))
			if err != nil {
				t.Fatal(err)
			}
			cert, err := cvc.ParseCertificate(raw)
			if err != nil {
				t.Fatal(err)
			}
			domain, err := cert.PublicKey.Curve()
			if err != nil && tc.alg.IsECDSA() {
				t.Fatal(err)
			}
			certKey, err := cert.PublicKey.Key(domain)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(hsm.PublicKeyBytes(certKey), hsm.PublicKeyBytes(s.Public())) {
				t.Fatalf("imported key is not the certificate's key")
			}
			wire, err := hsm.SignMessage(context.Background(), s, []byte("m"))
			if err != nil {
				t.Fatal(err)
			}
			if err := cvc.VerifySignature(cert.PublicKey.Algorithm, certKey, []byte("m"), wire); err != nil {
				t.Fatal(err)
			}
			if _, err := ks.Import("cvca-"+tc.dir, der, tc.alg); !errors.Is(err, hsm.ErrKeyExists) {
				t.Fatalf("second import: %v", err)
			}
		})
	}
	if _, err := ks.Import("bad", []byte("junk"), cvc.ECDSA_SHA256); !errors.Is(err, hsm.ErrInvalidSpec) {
		t.Fatalf("junk import: %v", err)
	}
}
