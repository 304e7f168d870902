package server

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// latencyBuckets are the upper bounds (seconds) of the request duration histogram.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Metrics counts SOAP requests by endpoint, operation and return code and keeps a latency
// histogram per endpoint and operation, in the Prometheus text format (served at /metrics).
// One instance per gateway; safe for concurrent use.
type Metrics struct {
	mu        sync.Mutex
	requests  map[[3]string]uint64 // endpoint, operation, code
	latencies map[[2]string]*histogram
}

type histogram struct {
	counts []uint64 // per bucket, cumulative on output
	sum    float64
	n      uint64
}

// NewMetrics returns an empty set of metrics.
func NewMetrics() *Metrics {
	return &Metrics{requests: map[[3]string]uint64{}, latencies: map[[2]string]*histogram{}}
}

// Observe records one answered request with its return code.
func (m *Metrics) Observe(endpoint, operation, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[[3]string{endpoint, operation, code}]++
	h := m.latencies[[2]string{endpoint, operation}]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.latencies[[2]string{endpoint, operation}] = h
	}
	s := d.Seconds()
	for i, b := range latencyBuckets {
		if s <= b {
			h.counts[i]++
			break
		}
	}
	h.sum += s
	h.n++
}

// ServeHTTP writes the metrics in the Prometheus text exposition format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = m.Write(w)
}

// Write writes the metrics in the Prometheus text exposition format, in a stable order.
func (m *Metrics) Write(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	b.WriteString("# HELP eacgate_soap_requests_total SOAP requests answered, by endpoint, operation and return code (faults are not counted here; see the access log).\n")
	b.WriteString("# TYPE eacgate_soap_requests_total counter\n")
	keys := make([][3]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, c [3]string) int {
		return strings.Compare(strings.Join(a[:], "\x00"), strings.Join(c[:], "\x00"))
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "eacgate_soap_requests_total{endpoint=%q,operation=%q,code=%q} %d\n", k[0], k[1], k[2], m.requests[k])
	}
	b.WriteString("# HELP eacgate_soap_request_duration_seconds Time to answer a SOAP request.\n")
	b.WriteString("# TYPE eacgate_soap_request_duration_seconds histogram\n")
	hkeys := make([][2]string, 0, len(m.latencies))
	for k := range m.latencies {
		hkeys = append(hkeys, k)
	}
	slices.SortFunc(hkeys, func(a, c [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], c[0]+"\x00"+c[1]) })
	for _, k := range hkeys {
		h := m.latencies[k]
		var cum uint64
		for i, bound := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(&b, "eacgate_soap_request_duration_seconds_bucket{endpoint=%q,operation=%q,le=\"%g\"} %d\n", k[0], k[1], bound, cum)
		}
		fmt.Fprintf(&b, "eacgate_soap_request_duration_seconds_bucket{endpoint=%q,operation=%q,le=\"+Inf\"} %d\n", k[0], k[1], h.n)
		fmt.Fprintf(&b, "eacgate_soap_request_duration_seconds_sum{endpoint=%q,operation=%q} %g\n", k[0], k[1], h.sum)
		fmt.Fprintf(&b, "eacgate_soap_request_duration_seconds_count{endpoint=%q,operation=%q} %d\n", k[0], k[1], h.n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
