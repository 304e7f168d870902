package gateway

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"eacgate/server"
)

// scrape serves g, makes one SOAP request (so that the request series exist) and returns
// /metrics.
func scrape(t *testing.T, g *Gateway) string {
	t.Helper()
	srv := httptest.NewServer(g.Handler)
	defer srv.Close()
	body, err := server.EncodeRequest(server.CVCAProtocols[0], server.Message{Operation: "GetCACertificates"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL+"/cvca", "text/xml; charset=utf-8", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, err = http.Get(srv.URL + "/metrics"); err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// seriesOf lists the HELP and TYPE lines and each distinct sample name with its sorted label
// names ("name{label,label}") of the families with prefix: the part of /metrics that
// dashboards and alerts depend on.
func seriesOf(exposition, prefix string) []string {
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	var out []string
	for line := range strings.SplitSeq(exposition, "\n") {
		if strings.HasPrefix(line, "# HELP "+prefix) || strings.HasPrefix(line, "# TYPE "+prefix) {
			out = append(out, line)
			continue
		}
		m := sample.FindStringSubmatch(line)
		if m == nil || !strings.HasPrefix(m[1], prefix) {
			continue
		}
		var names []string
		for _, l := range label.FindAllStringSubmatch(m[2], -1) {
			names = append(names, l[1])
		}
		slices.Sort(names)
		out = append(out, m[1]+"{"+strings.Join(names, ",")+"}")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// /metrics exposes the series of the hand-written exposition it replaced, with the same
// types, help texts and label names (testdata/metrics_series.txt, taken from its output),
// plus the TLS certificate's expiry and the standard Go and process collectors.
func TestMetricsSeriesUnchanged(t *testing.T) {
	g := openDemo(t, t.TempDir())
	if _, err := g.Worker(); err != nil { // registers the callback workers' counters
		t.Fatal(err)
	}
	got := seriesOf(scrape(t, g), "eacgate_")
	file := filepath.Join("testdata", "metrics_series.txt")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(raw)), "\n")
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	for _, s := range got {
		if !slices.Contains(want, s) {
			t.Errorf("/metrics has %q, not in %s", s, file)
		}
	}
}
