package main

import "testing"

// --plain-http listens on loopback unless --listen names another address on the command line.
func TestPlainHTTPListensOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		listen   string
		explicit bool
		want     string
	}{
		{"0.0.0.0:8443", false, "127.0.0.1:8443"},
		{":9000", false, "127.0.0.1:9000"},
		{"[::]:9000", false, "127.0.0.1:9000"},
		{"", false, "127.0.0.1:8443"},
		{"0.0.0.0:8443", true, "0.0.0.0:8443"},
	} {
		if got := plainListen(tc.listen, tc.explicit); got != tc.want {
			t.Errorf("plainListen(%q, %v) = %q, want %q", tc.listen, tc.explicit, got, tc.want)
		}
	}
}
