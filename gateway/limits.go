package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"eacgate/hsm"
)

// LimitOptions bound what callers can make the process hold. Zero values take the defaults.
type LimitOptions struct {
	// MaxConnections is the number of connections served at once (default 1024); further
	// clients wait in the listen backlog.
	MaxConnections int `yaml:"max_connections"`
	// MaxHeaderBytes bounds a request's header (default 16 KiB; SOAP and admin requests
	// need a few hundred bytes).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MemoryLimitMiB is the Go runtime's soft memory limit (default 1024; the GOMEMLIMIT
	// environment variable overrides it): near it the collector works harder instead of
	// the process growing, whatever GOGC says.
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
}

// Defaults fills in the defaults of unset limits.
func (o LimitOptions) Defaults() LimitOptions {
	if o.MaxConnections <= 0 {
		o.MaxConnections = 1024
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 16 << 10
	}
	if o.MemoryLimitMiB <= 0 {
		o.MemoryLimitMiB = 1024
	}
	return o
}

// MetricsOptions say where /metrics is served and who may read it.
type MetricsOptions struct {
	// Listen, when set, serves /metrics on this address (plain HTTP, for a Prometheus on
	// the host or its network; for example 127.0.0.1:9464) instead of on the gateway's
	// listener.
	Listen string `yaml:"listen"`
	// Token, when set, is the bearer token a scraper must send (Authorization: Bearer ...).
	Token hsm.Secret `yaml:"token"`
}

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
