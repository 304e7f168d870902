package server

import (
	"context"
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
	signs     map[string]*histogram // by key label
	gauges    []GaugeFunc
}

// Gauge is one sample of a gauge computed at scrape time.
type Gauge struct {
	Name, Help string
	Labels     [][2]string // name, value pairs in order
	Value      float64
	// Counter marks a monotonic total read at scrape time (TYPE counter).
	Counter bool
}

// GaugeFunc computes gauges when /metrics is scraped (outbox depth, expiring certificates).
type GaugeFunc func(ctx context.Context) ([]Gauge, error)

// AddGauges registers a GaugeFunc; call before serving.
func (m *Metrics) AddGauges(f GaugeFunc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gauges = append(m.gauges, f)
}

// ObserveSign records the duration of one signature by the key labelled label.
func (m *Metrics) ObserveSign(label string, d time.Duration) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.signs[label]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.signs[label] = h
	}
	h.observe(d)
}

type histogram struct {
	counts []uint64 // per bucket, cumulative on output
	sum    float64
	n      uint64
}

// NewMetrics returns an empty set of metrics.
func NewMetrics() *Metrics {
	return &Metrics{requests: map[[3]string]uint64{}, latencies: map[[2]string]*histogram{}, signs: map[string]*histogram{}}
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
	h.observe(d)
}

func (h *histogram) observe(d time.Duration) {
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

// write writes the histogram's lines; labels is the label list without braces.
func (h *histogram) write(b *strings.Builder, name, labels string) {
	var cum uint64
	for i, bound := range latencyBuckets {
		cum += h.counts[i]
		fmt.Fprintf(b, "%s_bucket{%s,le=\"%g\"} %d\n", name, labels, bound, cum)
	}
	fmt.Fprintf(b, "%s_bucket{%s,le=\"+Inf\"} %d\n", name, labels, h.n)
	fmt.Fprintf(b, "%s_sum{%s} %g\n", name, labels, h.sum)
	fmt.Fprintf(b, "%s_count{%s} %d\n", name, labels, h.n)
}

// ServeHTTP writes the metrics in the Prometheus text exposition format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	_ = m.WriteContext(ctx, w)
}

// Write writes the metrics (see WriteContext) without a deadline for the gauges.
func (m *Metrics) Write(w io.Writer) error { return m.WriteContext(context.Background(), w) }

// WriteContext writes the metrics in the Prometheus text exposition format, in a stable
// order; the gauges are computed now (a failing GaugeFunc is left out).
func (m *Metrics) WriteContext(ctx context.Context, w io.Writer) error {
	m.mu.Lock()
	gaugeFuncs := slices.Clone(m.gauges)
	m.mu.Unlock()
	var gauges []Gauge
	for _, f := range gaugeFuncs {
		if gs, err := f(ctx); err == nil {
			gauges = append(gauges, gs...)
		}
	}
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
		m.latencies[k].write(&b, "eacgate_soap_request_duration_seconds", fmt.Sprintf("endpoint=%q,operation=%q", k[0], k[1]))
	}
	b.WriteString("# HELP eacgate_hsm_sign_duration_seconds Time of one signature by a CA key (HSM or software keystore).\n")
	b.WriteString("# TYPE eacgate_hsm_sign_duration_seconds histogram\n")
	labels := make([]string, 0, len(m.signs))
	for k := range m.signs {
		labels = append(labels, k)
	}
	slices.Sort(labels)
	for _, k := range labels {
		m.signs[k].write(&b, "eacgate_hsm_sign_duration_seconds", fmt.Sprintf("key=%q", k))
	}
	seen := map[string]bool{}
	for _, g := range gauges {
		if !seen[g.Name] {
			seen[g.Name] = true
			kind := "gauge"
			if g.Counter {
				kind = "counter"
			}
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", g.Name, g.Help, g.Name, kind)
		}
		parts := make([]string, len(g.Labels))
		for i, l := range g.Labels {
			parts[i] = fmt.Sprintf("%s=%q", l[0], l[1])
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "%s{%s} %g\n", g.Name, strings.Join(parts, ","), g.Value)
		} else {
			fmt.Fprintf(&b, "%s %g\n", g.Name, g.Value)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
