package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"eacgate/hsm"
)

// lostKeys is a keystore whose keys are gone (an HSM token removed).
type lostKeys struct{ hsm.Keystore }

func (lostKeys) Signer(context.Context, string) (hsm.Signer, error) {
	return nil, hsm.ErrKeyNotFound
}

func readyz(g *Gateway) (int, string) {
	g.readyLast.Store(nil) // no cached result
	rec := httptest.NewRecorder()
	g.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code, rec.Body.String()
}

// /readyz is 200 only while the database takes writes and the issuers' keys are there.
func TestReadinessChecksWritesAndKeys(t *testing.T) {
	g, err := Open(context.Background(), Options{DataDir: t.TempDir(), Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if code, body := readyz(g); code != http.StatusOK {
		t.Fatalf("healthy gateway: %d %s", code, body)
	}
	if got := g.issuerKeyLabels(); len(got) != 2 {
		t.Fatalf("issuer key labels %v, want the CVCA's and the DV's", got)
	}

	g.readyProbe = func(context.Context, string, time.Time) error { return errors.New("database or disk is full") }
	if code, body := readyz(g); code != http.StatusServiceUnavailable || !strings.Contains(body, "database") {
		t.Errorf("database refusing writes: %d %s", code, body)
	}
	g.readyProbe = nil

	keys := g.Keys
	g.Keys = lostKeys{keys}
	if code, body := readyz(g); code != http.StatusServiceUnavailable || !strings.Contains(body, "keystore") {
		t.Errorf("keys gone: %d %s", code, body)
	}
	g.Keys = keys
	if code, body := readyz(g); code != http.StatusOK {
		t.Errorf("recovered: %d %s", code, body)
	}
}

// The store's write probe fails on a database that cannot write.
func TestCheckWritableFailsOnClosedStore(t *testing.T) {
	g, err := Open(context.Background(), Options{DataDir: t.TempDir(), Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Store.CheckWritable(context.Background(), "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if err := g.Store.CheckWritable(context.Background(), "test", time.Now()); err == nil {
		t.Fatal("a closed store takes writes")
	}
}
