package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"eacgate/authority"
	"eacgate/hsm"
	"eacgate/msg"
)

// health answers /healthz: the process is up.
func health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyCacheTTL is how long a readiness result is reused: /readyz is unauthenticated, and
// each check writes to the database.
const readyCacheTTL = 2 * time.Second

// readyResult is the last readiness check.
type readyResult struct {
	at  time.Time
	err error
}

// ready answers /readyz: 200 when the gateway can do its work now — the database takes a
// write (a full disk or a read-only replica fails here, where a ping would pass) and the
// keystore holds the keys of the issuers in use.
func (g *Gateway) ready(w http.ResponseWriter, r *http.Request) {
	err := g.readiness(r.Context())
	if err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ready\n"))
}

// readiness pings the database on every call and runs the costlier checks (a write, the
// keystore) at most once per readyCacheTTL.
func (g *Gateway) readiness(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	sqlDB, err := g.Store.DB().DB()
	if err == nil {
		err = sqlDB.PingContext(ctx)
	}
	if err != nil {
		g.logger.Warn("readiness check failed", "err", err)
		return errors.New("database unavailable")
	}
	now := time.Now()
	if last := g.readyLast.Load(); last != nil && now.Sub(last.at) < readyCacheTTL {
		return last.err
	}
	err = g.checkReady(ctx, now)
	if err != nil {
		g.logger.Warn("readiness check failed", "err", err)
	}
	g.readyLast.Store(&readyResult{at: now, err: err})
	return err
}

func (g *Gateway) checkReady(ctx context.Context, now time.Time) error {
	probe := g.readyProbe
	if probe == nil {
		probe = g.Store.CheckWritable
	}
	if err := probe(ctx, g.instance, now); err != nil {
		return errors.New("database does not take writes")
	}
	if err := g.checkKeys(ctx); err != nil {
		return err
	}
	return nil
}

// statusRecorder remembers the response status for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// withRequestLog gives every request an ID (X-Request-ID, echoed back) and logs one JSON
// line per request: method, path, status, duration, remote address, and what the SOAP layer
// noted (operation, return code; holder, CHR and expiry of a certificate issued).
func withRequestLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > 64 {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-ID", id)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		ctx, note := msg.WithLogNote(r.Context())
		next.ServeHTTP(rec, r.WithContext(ctx))
		attrs := append([]slog.Attr{slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("remote", r.RemoteAddr)}, note.Attrs()...)
		log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
	})
}

// issuerKeyLabels are the keystore labels of the issuers in use.
func (g *Gateway) issuerKeyLabels() []string {
	var labels []string
	for _, is := range []*authority.Issuer{g.CurrentCVCA(), g.CurrentDV()} {
		if is == nil {
			continue
		}
		s := is.Signer
		if t, ok := s.(timedSigner); ok {
			s = t.Signer
		}
		if l, ok := s.(interface{ Label() string }); ok {
			labels = append(labels, l.Label())
		}
	}
	return labels
}

// checkKeys reports a keystore that has lost the keys of the issuers in use (an HSM token
// gone, a key deleted): requests would fail with failure_internal_error.
func (g *Gateway) checkKeys(ctx context.Context) error {
	labels := g.issuerKeyLabels()
	if kc, ok := g.Keys.(hsm.HealthChecker); ok {
		if err := kc.Check(ctx, labels...); err != nil {
			return fmt.Errorf("keystore: %w", err)
		}
		return nil
	}
	for _, l := range labels {
		if _, err := g.Keys.Signer(ctx, l); err != nil {
			return fmt.Errorf("keystore: key %s: %w", l, err)
		}
	}
	return nil
}
