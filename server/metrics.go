package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// latencyBuckets are the upper bounds (seconds) of the request duration histogram.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// gaugeTimeout bounds the store queries of one scrape, so that a slow database does not pile
// up scrapes (Prometheus' own scrape timeout is 10 s by default).
const gaugeTimeout = 5 * time.Second

// Metrics counts SOAP requests by endpoint, operation and return code, keeps latency
// histograms per endpoint and operation and per CA key, and computes the gauges of AddGauges
// at scrape time; served at /metrics in the Prometheus exposition format, with the Go and
// process collectors. Each instance has its own registry (one per gateway, so that tests
// and several gateways in a process do not share counters); safe for concurrent use.
type Metrics struct {
	requests  *prometheus.CounterVec
	latencies *prometheus.HistogramVec
	signs     *prometheus.HistogramVec
	gauges    *gaugeCollector
	handler   http.Handler
}

// Gauge is one sample of a gauge computed at scrape time.
type Gauge struct {
	Name, Help string
	Labels     [][2]string // name, value pairs
	Value      float64
	// Counter marks a monotonic total read at scrape time (TYPE counter).
	Counter bool
}

// GaugeFunc computes gauges when /metrics is scraped (outbox depth, expiring certificates).
// ctx carries the scrape's deadline.
type GaugeFunc func(ctx context.Context) ([]Gauge, error)

// NewMetrics returns an empty set of metrics; errors of a scrape (a failing GaugeFunc) go to
// logger (nil: slog.Default()).
func NewMetrics(logger *slog.Logger) *Metrics {
	if logger == nil {
		logger = slog.Default()
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eacgate_soap_requests_total",
			Help: "SOAP requests answered, by endpoint, operation and return code (faults are not counted here; see the access log)."},
			[]string{"endpoint", "operation", "code"}),
		latencies: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "eacgate_soap_request_duration_seconds",
			Help: "Time to answer a SOAP request.", Buckets: latencyBuckets}, []string{"endpoint", "operation"}),
		signs: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "eacgate_hsm_sign_duration_seconds",
			Help: "Time of one signature by a CA key (HSM or software keystore).", Buckets: latencyBuckets}, []string{"key"}),
		gauges: &gaugeCollector{timeout: gaugeTimeout},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.requests, m.latencies, m.signs, m.gauges,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// A failing GaugeFunc costs its own series only: the rest is served and the error logged.
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError,
		ErrorLog: scrapeLog{logger.With("component", "metrics")}})
	return m
}

// scrapeLog is promhttp's error log on slog.
type scrapeLog struct{ l *slog.Logger }

func (s scrapeLog) Println(v ...any) { s.l.Warn("metrics scrape", "err", fmt.Sprint(v...)) }

// AddGauges registers a GaugeFunc, computed at every scrape.
func (m *Metrics) AddGauges(f GaugeFunc) {
	m.gauges.mu.Lock()
	defer m.gauges.mu.Unlock()
	m.gauges.funcs = append(m.gauges.funcs, f)
}

// Observe records one answered request with its return code.
func (m *Metrics) Observe(endpoint, operation, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(endpoint, operation, code).Inc()
	m.latencies.WithLabelValues(endpoint, operation).Observe(d.Seconds())
}

// ObserveSign records the duration of one signature by the key labelled label.
func (m *Metrics) ObserveSign(label string, d time.Duration) {
	if m == nil {
		return
	}
	m.signs.WithLabelValues(label).Observe(d.Seconds())
}

// ServeHTTP serves the metrics in the exposition format the scraper asks for.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// gaugeCollector runs the GaugeFuncs at each scrape. It describes nothing (an unchecked
// collector): its series are known only once computed.
type gaugeCollector struct {
	timeout time.Duration
	mu      sync.Mutex
	funcs   []GaugeFunc
}

func (c *gaugeCollector) Describe(chan<- *prometheus.Desc) {}

func (c *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	funcs := slices.Clone(c.funcs)
	c.mu.Unlock()
	// Collect has no context of its own: the deadline is the scrape's bound.
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for _, f := range funcs {
		gauges, err := f(ctx)
		if err != nil {
			err = fmt.Errorf("server: metrics gauges: %w", err)
			ch <- prometheus.NewInvalidMetric(prometheus.NewInvalidDesc(err), err)
			continue
		}
		for _, g := range gauges {
			ch <- g.metric()
		}
	}
}

// metric is g as a constant metric (invalid, with the reason, if g is malformed).
func (g Gauge) metric() prometheus.Metric {
	names := make([]string, len(g.Labels))
	values := make([]string, len(g.Labels))
	for i, l := range g.Labels {
		names[i], values[i] = l[0], l[1]
	}
	kind := prometheus.GaugeValue
	if g.Counter {
		kind = prometheus.CounterValue
	}
	desc := prometheus.NewDesc(g.Name, g.Help, names, nil)
	m, err := prometheus.NewConstMetric(desc, kind, g.Value, values...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, fmt.Errorf("server: metric %s: %w", g.Name, err))
	}
	return m
}
