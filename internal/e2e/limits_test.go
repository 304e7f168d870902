package e2e

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A caller cannot make the gateway hold a large header: past the limit (16 KiB by default)
// the request is refused with 431 before it reaches a handler.
func TestHeaderSizeIsLimited(t *testing.T) {
	g := startGateway(t)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the test looks at the status only
	for _, tc := range []struct {
		size int
		want int
	}{{1 << 10, http.StatusOK}, {64 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
		req, err := http.NewRequest(http.MethodGet, g.base+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Padding", strings.Repeat("a", tc.size))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%d-byte header: %v", tc.size, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%d-byte header: status %d, want %d", tc.size, resp.StatusCode, tc.want)
		}
	}
}
