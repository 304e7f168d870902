package gateway

import (
	"net/http"
	"net/http/httptest"

	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/config"
	"eacgate/hsm"
)

// A configured gateway does not write the keystore's passphrase beside the keys: without a
// passphrase from the environment or the configuration it refuses to start and says how to
// give one.
func TestConfiguredGatewayNeedsKeystorePassphrase(t *testing.T) {
	t.Setenv("EACGATE_KEYSTORE_PASSPHRASE", "")
	dir := t.TempDir()
	g, err := OpenStores(context.Background(), Options{DataDir: dir})
	if err == nil {
		g.Close()
		t.Fatal("a configured gateway without a passphrase opened its keystore")
	}
	if !errors.Is(err, errNoPassphrase) || !strings.Contains(err.Error(), "EACGATE_KEYSTORE_PASSPHRASE") {
		t.Fatalf("error %v does not say how to give the passphrase", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keystore.pass")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("keystore.pass written: %v", err)
	}

	t.Setenv("EACGATE_KEYSTORE_PASSPHRASE", "from the environment")
	g, err = OpenStores(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if _, err := os.Stat(filepath.Join(dir, "keystore.pass")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("keystore.pass written: %v", err)
	}
}

// The data directory is the owner's alone, also when it existed before with a wider mode.
func TestDataDirectoryIsOwnerOnly(t *testing.T) {
	t.Setenv("EACGATE_KEYSTORE_PASSPHRASE", "from the environment")
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	g, err := OpenStores(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory mode %v, want drwx------", fi.Mode().Perm())
	}
}

// With a metrics token configured, /metrics answers only a scraper that sends it.
func TestMetricsToken(t *testing.T) {
	g, err := Open(context.Background(), Options{DataDir: t.TempDir(), Demo: true,
		Metrics: config.MetricsOptions{Token: hsm.Secret{Value: []byte("scrape-secret")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, tc := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer wrong", http.StatusUnauthorized}, {"Bearer scrape-secret", http.StatusOK}} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		g.Handler.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("Authorization %q: status %d, want %d", tc.auth, rec.Code, tc.want)
		}
	}
	// On its own listener, /metrics leaves the gateway's.
	g2, err := Open(context.Background(), Options{DataDir: t.TempDir(), Demo: true, Metrics: config.MetricsOptions{Listen: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	rec := httptest.NewRecorder()
	g2.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("/metrics on the gateway's listener with metrics.listen set: status %d", rec.Code)
	}
}
