package hsm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/hsm/softhsmtest"
)

func TestSoftCheck(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ks := openSoft(t, dir, "pw")
	if _, err := ks.Generate(ctx, "k", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256}); err != nil {
		t.Fatal(err)
	}
	var hc hsm.HealthChecker = ks
	if err := hc.Check(ctx); err != nil {
		t.Fatalf("Check(): %v", err)
	}
	if err := hc.Check(ctx, "k"); err != nil {
		t.Fatalf("Check(k): %v", err)
	}
	if err := hc.Check(ctx, "k", "missing"); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("Check of a missing key: %v", err)
	}
	// A key file made readable by others is reported although the key is cached.
	if err := os.Chmod(filepath.Join(dir, "k.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := hc.Check(ctx, "k"); !errors.Is(err, hsm.ErrKeyFile) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Check of an unsafe key file: %v", err)
	}
	// A keystore without the passphrase cannot sign.
	if err := openSoft(t, dir, "").Check(ctx, "k"); !errors.Is(err, hsm.ErrLogin) {
		t.Fatalf("Check without passphrase: %v", err)
	}
}

func TestPKCS11Check(t *testing.T) {
	tok := softhsmtest.NewToken(t, "check")
	clk := newFakeClock()
	ks, err := hsm.OpenPKCS11(context.Background(), hsm.PKCS11Config{
		ModulePath: tok.Module, TokenLabel: tok.Label, PIN: hsm.Secret{Value: []byte(tok.PIN)},
		PoolSize: 2, Now: clk.Now, Logger: quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	ctx := context.Background()
	var hc hsm.HealthChecker = ks
	if err := hc.Check(ctx, "k"); !errors.Is(err, hsm.ErrKeyNotFound) || !strings.Contains(err.Error(), `no private key labelled "k"`) {
		t.Fatalf("Check of a missing key: %v", err)
	}
	if _, err := ks.Generate(ctx, "k", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256}); err != nil {
		t.Fatal(err)
	}
	if err := hc.Check(ctx, "k"); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := hc.Check(ctx); err != nil {
		t.Fatalf("Check(): %v", err)
	}
}
