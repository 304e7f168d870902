package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// metricsHandler is /metrics, behind the bearer token when one is configured.
func (g *Gateway) metricsHandler() (http.Handler, error) {
	tok := g.Options.Metrics.Token
	if tok.IsZero() {
		return g.metrics, nil
	}
	secret, err := tok.Read("metrics token", g.logger)
	if err != nil {
		return nil, fmt.Errorf("gateway: metrics: %w", err)
	}
	want := sha256.Sum256(secret)
	next := g.metrics
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need the configured bearer token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}

// MetricsHandler is the handler of the separate metrics listener (Options.Metrics.Listen).
func (g *Gateway) MetricsHandler() (http.Handler, error) {
	h, err := g.metricsHandler()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	return mux, nil
}
