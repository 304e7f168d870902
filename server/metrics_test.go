package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// scrapeMetrics is a GET /metrics on m; it fails the test on any status but 200.
func scrapeMetrics(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, b)
	}
	return string(b)
}

// A GaugeFunc that fails (a database down) costs its own series only: the rest of /metrics
// is served, and the error is logged.
func TestMetricsFailingGaugeKeepsTheRest(t *testing.T) {
	var logs bytes.Buffer
	m := NewMetrics(slog.New(slog.NewTextHandler(&logs, nil)))
	m.Observe("dv", "GetCACertificates", "ok_cert_available", time.Millisecond)
	m.AddGauges(func(context.Context) ([]Gauge, error) { return nil, errors.New("database is locked") })
	m.AddGauges(func(context.Context) ([]Gauge, error) {
		return []Gauge{{Name: "eacgate_test_items", Help: "Items.", Labels: [][2]string{{"state", "dead"}}, Value: 2}}, nil
	})
	out := scrapeMetrics(t, m)
	for _, want := range []string{`eacgate_test_items{state="dead"} 2`, `eacgate_soap_requests_total{code="ok_cert_available",endpoint="dv",operation="GetCACertificates"} 1`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if !strings.Contains(logs.String(), "database is locked") {
		t.Errorf("the failing gauge was not logged: %q", logs.String())
	}
}

// The store queries of a scrape run under a deadline, so that a hanging database does not
// hold scrapes (and their connections) forever.
func TestMetricsGaugesHaveADeadline(t *testing.T) {
	m := NewMetrics(nil)
	m.AddGauges(func(ctx context.Context) ([]Gauge, error) {
		d, ok := ctx.Deadline()
		if !ok || time.Until(d) > gaugeTimeout {
			return nil, errors.New("no deadline")
		}
		return []Gauge{{Name: "eacgate_test_deadline", Help: "Deadline seen.", Value: 1}}, nil
	})
	if out := scrapeMetrics(t, m); !strings.Contains(out, "eacgate_test_deadline 1\n") {
		t.Fatalf("the gauge saw no deadline:\n%s", out)
	}
}

// Gauges marked Counter are exposed as counters; the Go and process collectors are there;
// each Metrics has its own registry (two gateways in one process do not share counters).
func TestMetricsTypesCollectorsAndRegistries(t *testing.T) {
	a, b := NewMetrics(nil), NewMetrics(nil)
	a.ObserveSign("cvca", time.Millisecond)
	a.AddGauges(func(context.Context) ([]Gauge, error) {
		return []Gauge{{Name: "eacgate_test_total", Help: "A total.", Value: 3, Counter: true}}, nil
	})
	out := scrapeMetrics(t, a)
	want := []string{"# TYPE eacgate_test_total counter\neacgate_test_total 3\n", `eacgate_hsm_sign_duration_seconds_count{key="cvca"} 1`, "# TYPE go_goroutines gauge"}
	if runtime.GOOS == "linux" {
		want = append(want, "# TYPE process_resident_memory_bytes gauge")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in\n%s", w, out)
		}
	}
	if out := scrapeMetrics(t, b); strings.Contains(out, "eacgate_") {
		t.Errorf("a second Metrics shows the first's series:\n%s", out)
	}
}
