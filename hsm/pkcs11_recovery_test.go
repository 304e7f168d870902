package hsm_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/hsm/softhsmtest"
	"eacgate/internal/testenv"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestPKCS11TokenDirectoryLoss takes SoftHSM2's token directory away and brings it back
// under an open keystore: signing fails while it is away (fast, without reconnecting more
// than once per interval) and works again afterwards, with signers and key lookups made
// before the loss, without reopening the keystore.
func TestPKCS11TokenDirectoryLoss(t *testing.T) {
	tok := softhsmtest.NewToken(t, "lost")
	clk := newFakeClock()
	var logs testenv.Buffer
	ks, err := hsm.OpenPKCS11(context.Background(), hsm.PKCS11Config{
		ModulePath: tok.Module, TokenLabel: tok.Label, PIN: hsm.Secret{Value: []byte(tok.PIN)},
		PoolSize: 3, Now: clk.Now, ReconnectInterval: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	ctx := context.Background()
	s, err := ks.Generate(ctx, "k", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP256r1"})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(what string) error {
		msg := []byte(what)
		sig, err := hsm.SignMessage(ctx, s, msg)
		if err != nil {
			return err
		}
		return cvc.VerifySignature(s.Algorithm(), s.Public(), msg, sig)
	}
	if err := sign("before"); err != nil {
		t.Fatal(err)
	}
	if err := ks.Check(ctx, "k"); err != nil {
		t.Fatalf("Check before the loss: %v", err)
	}
	w, err := hsm.OpenKeyWrapper(ctx, ks, "wrap", true)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := w.Seal(ctx, []byte("secret"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}

	away := tok.Dir + ".away"
	if err := os.Rename(tok.Dir, away); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		err := sign("away")
		if !errors.Is(err, hsm.ErrTokenNotFound) || errors.Is(err, hsm.ErrKeyNotFound) || errors.Is(err, hsm.ErrModule) {
			t.Fatalf("sign %d while the token is away: err = %v, want ErrTokenNotFound only", i, err)
		}
	}
	if _, err := ks.Signer(ctx, "k"); !errors.Is(err, hsm.ErrTokenNotFound) {
		t.Fatalf("Signer while the token is away: err = %v, want ErrTokenNotFound (not ErrKeyNotFound)", err)
	}
	if err := ks.Check(ctx, "k"); err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("Check while the token is away: %v", err)
	}

	if err := os.Rename(away, tok.Dir); err != nil {
		t.Fatal(err)
	}
	// Within the reconnect interval, requests still fail at once: a missing token does not
	// make every request reload the library.
	if err := sign("back, too early"); !errors.Is(err, hsm.ErrTokenNotFound) ||
		!strings.Contains(err.Error(), "next reconnect attempt in") {
		t.Fatalf("sign before the reconnect interval is over: err = %v", err)
	}
	clk.Add(5 * time.Second)
	if err := sign("back"); err != nil {
		t.Fatalf("sign after the token came back: %v", err)
	}
	if _, err := ks.Signer(ctx, "k"); err != nil {
		t.Fatalf("Signer after the token came back: %v", err)
	}
	if pt, err := w.Open(ctx, sealed, []byte("aad")); err != nil || string(pt) != "secret" {
		t.Fatalf("key wrapper after the token came back: %q, %v", pt, err)
	}
	clk.Add(5 * time.Second) // past the health check cache
	if err := ks.Check(ctx, "k"); err != nil {
		t.Fatalf("Check after the token came back: %v", err)
	}

	out := logs.String()
	if n := strings.Count(out, "pkcs11 token lost"); n != 1 {
		t.Errorf("loss logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "pkcs11 token back"); n != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "level=WARN msg=\"pkcs11 token lost") || !strings.Contains(out, "level=INFO msg=\"pkcs11 token back") {
		t.Errorf("loss must be a warning and recovery an info:\n%s", out)
	}
}
