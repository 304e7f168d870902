package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"eacgate/admin/console"
)

// The web console is part of the main handler by default, absent when disabled, and on a
// handler of its own (not on the main one) with console.listen.
func TestConsoleMounting(t *testing.T) {
	get := func(h http.Handler, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://gw.example"+path, nil))
		return rec.Code, rec.Body.String()
	}
	for _, tc := range []struct {
		name           string
		opts           console.Options
		main, separate bool
	}{
		{"default", console.Options{}, true, false},
		{"disabled", console.Options{Disabled: true}, false, false},
		{"own listener", console.Options{Listen: "127.0.0.1:0"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Open(context.Background(), Options{DataDir: t.TempDir(), Demo: true, Console: tc.opts})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			code, body := get(g.Handler, "/console/signin")
			if got := code == http.StatusOK && strings.Contains(body, "<h1>Sign in</h1>"); got != tc.main {
				t.Errorf("console on the main handler = %v (%d), want %v", got, code, tc.main)
			}
			if (g.Console != nil) != tc.separate {
				t.Fatalf("separate console handler = %v, want %v", g.Console != nil, tc.separate)
			}
			if tc.separate {
				if code, body := get(g.Console, "/console/signin"); code != http.StatusOK || !strings.Contains(body, "<h1>Sign in</h1>") {
					t.Errorf("separate console: %d", code)
				}
			}
		})
	}
}
