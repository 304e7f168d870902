package hsm_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/hsm"
	"eacgate/hsm/softhsmtest"
	"eacgate/internal/testenv"
)

// quietLog discards the warnings the keystores log on purpose in these tests.
var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func openToken(t testing.TB, tok *softhsmtest.Token, poolSize int) *hsm.PKCS11Keystore {
	t.Helper()
	ks, err := hsm.OpenPKCS11(context.Background(), hsm.PKCS11Config{
		ModulePath: tok.Module, TokenLabel: tok.Label,
		PIN: hsm.Secret{Value: []byte(tok.PIN)}, PoolSize: poolSize, Logger: quietLog,
	})
	if err != nil {
		t.Fatalf("OpenPKCS11: %v", err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks
}

func TestPKCS11GenerateSignVerify(t *testing.T) {
	tok := softhsmtest.NewToken(t, "gen")
	ks := openToken(t, tok, 4)
	ctx := context.Background()
	for _, tc := range specs {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ks.Generate(ctx, "k-"+tc.name, tc.spec)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if s.Label() != "k-"+tc.name {
				t.Fatalf("Label() = %q", s.Label())
			}
			exerciseSigner(t, s, tc.spec.Algorithm)

			// A second keystore instance finds the key by label with its algorithm.
			s2, err := ks.Signer(ctx, "k-"+tc.name)
			if err != nil {
				t.Fatalf("Signer: %v", err)
			}
			samePublic(t, s.Public(), s2.Public())
			exerciseSigner(t, s2, tc.spec.Algorithm)

			// ... and by CKA_ID.
			id := s.(interface{ ID() []byte }).ID()
			s3, err := ks.SignerByID(ctx, id)
			if err != nil {
				t.Fatalf("SignerByID: %v", err)
			}
			samePublic(t, s.Public(), s3.Public())
		})
	}

	// The keys are persistent token objects: a new keystore (module finalised and loaded
	// again) lists and uses them.
	ks.Close()
	ks = openToken(t, tok, 2)
	infos, err := ks.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(infos) != len(specs) {
		t.Fatalf("List returned %d keys, want %d", len(infos), len(specs))
	}
	byLabel := map[string]hsm.KeyInfo{}
	for _, in := range infos {
		byLabel[in.Label] = in
	}
	for _, tc := range specs {
		in, ok := byLabel["k-"+tc.name]
		if !ok {
			t.Fatalf("key k-%s not listed", tc.name)
		}
		if in.Algorithm != tc.spec.Algorithm || in.Curve != tc.spec.Curve || in.RSABits != tc.spec.RSABits ||
			len(in.ID) != 16 || in.Created.IsZero() || in.Public == nil {
			t.Errorf("List: %+v does not match %+v", in, tc.spec)
		}
		s, err := ks.Signer(ctx, in.Label)
		if err != nil {
			t.Fatalf("Signer after reopen: %v", err)
		}
		samePublic(t, in.Public, s.Public())
		wire, err := hsm.SignMessage(ctx, s, []byte("after reopen"))
		if err != nil {
			t.Fatal(err)
		}
		if err := cvc.VerifySignature(in.Algorithm, s.Public(), []byte("after reopen"), wire); err != nil {
			t.Fatalf("%s: %v", in.Label, err)
		}
	}
}

func TestPKCS11GenerateErrors(t *testing.T) {
	tok := softhsmtest.NewToken(t, "generr")
	ks := openToken(t, tok, 2)
	ctx := context.Background()
	if _, err := ks.Generate(ctx, "dup", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256}); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Generate(ctx, "dup", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256}); !errors.Is(err, hsm.ErrKeyExists) {
		t.Fatalf("duplicate label: err = %v, want ErrKeyExists", err)
	}
	for _, spec := range []hsm.KeySpec{
		{Algorithm: cvc.ECDSA_SHA256, Curve: "secp256k1"},
		{Algorithm: cvc.RSA_PSS_SHA256, RSABits: 1024},
		{Algorithm: cvc.RSA_PSS_SHA256, RSABits: 8192},
		{Algorithm: cvc.ECDSA_SHA256, RSABits: 2048},
		{Algorithm: cvc.AlgorithmUnknown},
	} {
		if _, err := ks.Generate(ctx, "bad", spec); !errors.Is(err, hsm.ErrInvalidSpec) {
			t.Errorf("Generate(%+v): err = %v, want ErrInvalidSpec", spec, err)
		}
	}
	if _, err := ks.Generate(ctx, "../evil", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256}); !errors.Is(err, hsm.ErrInvalidSpec) {
		t.Errorf("bad label: err = %v", err)
	}
	// Defaults: P-384 for ECDSA-SHA-384, 3072 bits for RSA is slow to generate; check P-384.
	s, err := ks.Generate(ctx, "default-curve", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA384})
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Public().(*ecc.PublicKey).Curve(); c.Name() != "P-384" {
		t.Fatalf("default curve for ECDSA-SHA-384 is not P-384")
	}
}

func TestPKCS11UnknownKey(t *testing.T) {
	tok := softhsmtest.NewToken(t, "unknown")
	ks := openToken(t, tok, 2)
	_, err := ks.Signer(context.Background(), "no-such-key")
	if !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("err = %v, want ErrKeyNotFound", err)
	}
	if !strings.Contains(err.Error(), "no-such-key") {
		t.Errorf("error does not name the key: %v", err)
	}
	if _, err := ks.SignerByID(context.Background(), []byte{1, 2, 3}); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("SignerByID: err = %v, want ErrKeyNotFound", err)
	}
}

func TestPKCS11WrongPIN(t *testing.T) {
	tok := softhsmtest.NewToken(t, "pin")
	_, err := hsm.OpenPKCS11(context.Background(), hsm.PKCS11Config{
		ModulePath: tok.Module, TokenLabel: tok.Label, PIN: hsm.Secret{Value: []byte("98765")}, Logger: quietLog,
	})
	if !errors.Is(err, hsm.ErrWrongPIN) {
		t.Fatalf("err = %v, want ErrWrongPIN", err)
	}
	if strings.Contains(err.Error(), "98765") {
		t.Fatalf("error reveals the PIN: %v", err)
	}
	// The right PIN still works afterwards (and the failed open released the module).
	ks := openToken(t, tok, 1)
	if _, err := ks.List(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPKCS11PINSources(t *testing.T) {
	tok := softhsmtest.NewToken(t, "pinsrc")
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(tok.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EACGATE_TEST_PIN", tok.PIN)
	for _, pin := range []hsm.Secret{{File: pinFile}, {Env: "EACGATE_TEST_PIN"}} {
		ks, err := hsm.OpenPKCS11(context.Background(), hsm.PKCS11Config{
			ModulePath: tok.Module, TokenLabel: tok.Label, PIN: pin, Logger: quietLog})
		if err != nil {
			t.Fatalf("PIN from %v: %v", pin, err)
		}
		ks.Close()
	}
	for _, pin := range []hsm.Secret{{}, {Env: "EACGATE_TEST_UNSET_PIN"}, {File: pinFile + ".missing"},
		{Env: "EACGATE_TEST_PIN", File: pinFile}} {
		_, err := hsm.OpenPKCS11(context.Background(), hsm.PKCS11Config{
			ModulePath: tok.Module, TokenLabel: tok.Label, PIN: pin, Logger: quietLog})
		if !errors.Is(err, hsm.ErrLogin) {
			t.Errorf("PIN from %v: err = %v, want ErrLogin", pin, err)
		}
	}
	// The configuration never prints the PIN.
	cfg := hsm.PKCS11Config{ModulePath: tok.Module, PIN: hsm.Secret{Value: []byte("s3cr3t-pin")}}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("cfg", "config", cfg)
	if s := buf.String() + fmt.Sprintf("%v %+v", cfg, cfg); strings.Contains(s, "s3cr3t-pin") {
		t.Fatalf("configuration output reveals the PIN: %s", s)
	}
}

func TestPKCS11MissingModule(t *testing.T) {
	notLib := filepath.Join(t.TempDir(), "notalib.so")
	if err := os.WriteFile(notLib, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"", "/nonexistent/libnothing.so", notLib, t.TempDir()} {
		_, err := hsm.OpenPKCS11(context.Background(), hsm.PKCS11Config{
			ModulePath: path, TokenLabel: "x", PIN: hsm.Secret{Value: []byte("1234")}, Logger: quietLog})
		if !errors.Is(err, hsm.ErrModule) {
			t.Errorf("module %q: err = %v, want ErrModule", path, err)
		}
	}
}

func TestPKCS11MissingToken(t *testing.T) {
	tok := softhsmtest.NewToken(t, "present")
	_, err := hsm.OpenPKCS11(context.Background(), hsm.PKCS11Config{
		ModulePath: tok.Module, TokenLabel: "absent", PIN: hsm.Secret{Value: []byte(tok.PIN)}, Logger: quietLog})
	if !errors.Is(err, hsm.ErrTokenNotFound) {
		t.Fatalf("err = %v, want ErrTokenNotFound", err)
	}
	if !strings.Contains(err.Error(), `"absent"`) || !strings.Contains(err.Error(), `"present"`) {
		t.Errorf("error should name the wanted and the present tokens: %v", err)
	}
	_, err = hsm.OpenPKCS11(context.Background(), hsm.PKCS11Config{
		ModulePath: tok.Module, PIN: hsm.Secret{Value: []byte(tok.PIN)}, Logger: quietLog})
	if !errors.Is(err, hsm.ErrTokenNotFound) {
		t.Fatalf("no label: err = %v, want ErrTokenNotFound", err)
	}
}

func TestPKCS11TwoTokens(t *testing.T) {
	tok := softhsmtest.NewToken(t, "first")
	tok2 := tok.AddToken(t, "second")
	ks1 := openToken(t, tok, 2)
	ks2 := openToken(t, tok2, 2)
	ctx := context.Background()
	if _, err := ks1.Generate(ctx, "a", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256}); err != nil {
		t.Fatal(err)
	}
	if _, err := ks2.Signer(ctx, "a"); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("key of token 1 visible on token 2: %v", err)
	}
	ks1.Close()
	// Closing one keystore leaves the shared module usable by the other.
	if _, err := ks2.Generate(ctx, "b", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256}); err != nil {
		t.Fatal(err)
	}
	if _, err := ks1.List(ctx); !errors.Is(err, hsm.ErrClosed) {
		t.Fatalf("closed keystore: err = %v, want ErrClosed", err)
	}
}

func TestPKCS11ConcurrentSigning(t *testing.T) {
	tok := softhsmtest.NewToken(t, "conc")
	ks := openToken(t, tok, 4)
	ctx := context.Background()
	var signers []hsm.Signer
	for _, tc := range []struct {
		name string
		spec hsm.KeySpec
	}{specs[0], specs[1], specs[6]} {
		s, err := ks.Generate(ctx, tc.name, tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		signers = append(signers, s)
	}
	const goroutines, perG = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			s := signers[g%len(signers)]
			alg := s.Algorithm()
			for i := range perG {
				msg := fmt.Appendf(nil, "message %d/%d", g, i)
				sig, err := hsm.SignMessage(ctx, s, msg)
				if err != nil {
					errs <- err
					return
				}
				if err := cvc.VerifySignature(alg, s.Public(), msg, sig); err != nil {
					errs <- fmt.Errorf("%s: %w", s.Label(), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPKCS11Recovery(t *testing.T) {
	tok := softhsmtest.NewToken(t, "recover")
	ks := openToken(t, tok, 4)
	ctx := context.Background()
	s, err := ks.Generate(ctx, "k", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP256r1"})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(what string) {
		t.Helper()
		msg := []byte(what)
		sig, err := hsm.SignMessage(ctx, s, msg)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := cvc.VerifySignature(s.Algorithm(), s.Public(), msg, sig); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// Warm the pool up with several sessions.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { sign("warm-up") })
	}
	wg.Wait()

	gen := ks.PoolGeneration()
	if err := ks.CloseAllSessionsForTest(); err != nil {
		t.Fatal(err)
	}
	sign("after C_CloseAllSessions")
	if ks.PoolGeneration() == gen {
		t.Fatalf("pool was not reset")
	}
	// Signers obtained before the reset keep working, new lookups too.
	if _, err := ks.Signer(ctx, "k"); err != nil {
		t.Fatal(err)
	}

	if err := ks.FinalizeForTest(); err != nil {
		t.Fatal(err)
	}
	sign("after C_Finalize")

	// Trouble while many goroutines sign: every signature still succeeds.
	stop := make(chan struct{})
	var (
		failures sync.Map
		signed   atomic.Int64 // signatures made (and verified) so far
	)
	// progress waits until the signers made n more signatures: each disruption hits signing
	// in full swing, and signing goes on after the last.
	progress := func(n int64) {
		t.Helper()
		from := signed.Load()
		testenv.Eventually(t, time.Minute, fmt.Sprintf("%d more signatures", n), func() bool { return signed.Load() >= from+n })
	}
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				msg := fmt.Appendf(nil, "%d/%d", g, i)
				sig, err := hsm.SignMessage(ctx, s, msg)
				if err == nil {
					err = cvc.VerifySignature(s.Algorithm(), s.Public(), msg, sig)
				}
				if err != nil {
					failures.Store(err.Error(), true)
				} else {
					signed.Add(1)
				}
			}
		})
	}
	for i := range 6 {
		progress(16)
		hook := ks.CloseAllSessionsForTest
		if i%3 == 2 {
			hook = ks.FinalizeForTest
		}
		if err := hook(); err != nil {
			t.Error(err)
		}
	}
	progress(16)
	close(stop)
	wg.Wait()
	failures.Range(func(k, _ any) bool {
		t.Errorf("signature failed during recovery: %v", k)
		return true
	})
}

func TestPKCS11ContextCancel(t *testing.T) {
	tok := softhsmtest.NewToken(t, "ctx")
	ks := openToken(t, tok, 1)
	s, err := ks.Generate(context.Background(), "k", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// With one session and a cancelled context, waiting for the session may fail; it must
	// not hang or panic. Hold the only session by a slow concurrent List to force a wait.
	_, err = s.(hsm.ContextSigner).SignContext(ctx, make([]byte, 32), crypto.SHA256)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	ks.Close()
	if _, err := s.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); !errors.Is(err, hsm.ErrClosed) {
		t.Fatalf("Sign after Close: err = %v, want ErrClosed", err)
	}
}

// TestPKCS11IssueCertificate issues a CV certificate with a token key and verifies it with
// cvc.
func TestPKCS11IssueCertificate(t *testing.T) {
	tok := softhsmtest.NewToken(t, "issue")
	ks := openToken(t, tok, 2)
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

// TestPKCS11ForeignKey uses keys put on the token by another tool (softhsm2-util --import of
// the openpace CVCA keys): no metadata object, so the algorithm is inferred.
func TestPKCS11ForeignKey(t *testing.T) {
	base := testenv.Vector(t, "openpace")
	tok := softhsmtest.NewToken(t, "foreign")
	for i, dir := range []string{"p256", "bp256", "rsa15"} {
		cmd := exec.Command(softhsmtest.Util(t), "--import", filepath.Join(base, dir, "cvca.key.pem"),
			"--token", tok.Label, "--label", "imported-"+dir, "--id", fmt.Sprintf("%04x", i+1), "--pin", tok.PIN)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("softhsm2-util --import: %v\n%s", err, out)
		}
	}
	ks := openToken(t, tok, 2)
	for _, tc := range []struct {
		dir string
		alg cvc.Algorithm
	}{{"p256", cvc.ECDSA_SHA256}, {"bp256", cvc.ECDSA_SHA256}, {"rsa15", cvc.RSA_PSS_SHA256}} {
		s, err := ks.Signer(context.Background(), "imported-"+tc.dir)
		if err != nil {
			t.Fatalf("%s: %v", tc.dir, err)
		}
		if s.Algorithm() != tc.alg {
			t.Errorf("%s: inferred %v, want %v", tc.dir, s.Algorithm(), tc.alg)
		}
		raw, err := os.ReadFile(filepath.Join(base, tc.dir, "cvca.cvcert"))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := cvc.ParseCertificate(raw)
		if err != nil {
			t.Fatal(err)
		}
		domain, _ := cert.PublicKey.Curve()
		certKey, err := cert.PublicKey.Key(domain)
		if err != nil {
			t.Fatal(err)
		}
		samePublic(t, certKey, s.Public())
		// Sign under the certificate's algorithm (whatever was inferred).
		sig, err := cvc.Sign(s, cert.PublicKey.Algorithm, []byte("m"))
		if err != nil {
			t.Fatal(err)
		}
		if err := cvc.VerifySignature(cert.PublicKey.Algorithm, certKey, []byte("m"), sig); err != nil {
			t.Fatalf("%s: %v", tc.dir, err)
		}
	}
	infos, err := ks.List(context.Background())
	if err != nil || len(infos) != 3 {
		t.Fatalf("List: %v %v", infos, err)
	}
}

// A key's creation date comes from the keystore's clock.
func TestPKCS11CreatedFromClock(t *testing.T) {
	tok := softhsmtest.NewToken(t, "clock")
	at := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	ks, err := hsm.OpenPKCS11(context.Background(), hsm.PKCS11Config{
		ModulePath: tok.Module, TokenLabel: tok.Label,
		PIN: hsm.Secret{Value: []byte(tok.PIN)}, PoolSize: 1, Logger: quietLog,
		Now: func() time.Time { return at },
	})
	if err != nil {
		t.Fatalf("OpenPKCS11: %v", err)
	}
	defer ks.Close()
	if _, err := ks.Generate(context.Background(), "k", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256}); err != nil {
		t.Fatal(err)
	}
	infos, err := ks.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || !infos[0].Created.Equal(at) {
		t.Fatalf("listed %+v, want one key created %v", infos, at)
	}
}
