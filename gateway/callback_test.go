package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"eacgate/server"
)

// The callback delivery client refuses loopback (and other private) addresses by default,
// after name resolution, and reaches them only when the configuration allows it (issue #17
// item 8: callbacks went to https://127.0.0.1:.../ and 169.254.169.254).
func TestCallbackClientDialGuard(t *testing.T) {
	var hits atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer recv.Close()
	localhost := strings.Replace(recv.URL, "127.0.0.1", "localhost", 1) // resolved, then refused
	post := func(o Options, url string) error {
		t.Helper()
		g, err := Open(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		w, err := g.Worker()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := w.HTTP.Post(url, "text/xml", strings.NewReader("<x/>"))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	for _, u := range []string{recv.URL, localhost} {
		if err := post(Options{DataDir: t.TempDir(), Demo: true}, u); err == nil || hits.Load() != 0 {
			t.Fatalf("%s reached by default (err %v, %d hits)", u, err, hits.Load())
		} else if !errors.Is(err, server.ErrForbiddenAddress) {
			t.Fatalf("%s: %v, want ErrForbiddenAddress", u, err)
		}
	}
	o := Options{DataDir: t.TempDir(), Demo: true}
	o.Callback.AllowPrivateAddresses = true
	if err := post(o, recv.URL); err != nil || hits.Load() != 1 {
		t.Fatalf("allow_private_addresses: %v, %d hits", err, hits.Load())
	}
	o = Options{DataDir: t.TempDir(), Demo: true}
	o.Callback.AllowedNetworks = []string{"127.0.0.0/8", "::1/128"}
	if err := post(o, localhost); err != nil || hits.Load() != 2 {
		t.Fatalf("allowed_networks: %v, %d hits", err, hits.Load())
	}
	o.Callback.AllowedNetworks = []string{"127.0.0.0/33"}
	g, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.Worker(); err == nil {
		t.Fatal("an invalid allowed_networks entry was taken")
	}
}
