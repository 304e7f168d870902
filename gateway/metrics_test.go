package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"eacgate/msg"
	"eacgate/server"
)

// scrape serves g, makes one SOAP request (so that the request series exist) and returns
// /metrics.
func scrape(t *testing.T, g *Gateway) string {
	t.Helper()
	srv := httptest.NewServer(g.Handler)
	defer srv.Close()
	body, err := server.EncodeRequest(server.CVCAProtocols[0], msg.Message{Operation: "GetCACertificates"})
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
	g := openWithIdentity(t, func() *tls.Certificate { return selfSigned(t, time.Now().AddDate(0, 0, 90)) })
	if _, err := g.Worker(); err != nil { // registers the callback workers' counters
		t.Fatal(err)
	}
	got := seriesOf(scrape(t, g), "eacgate_")
	file := filepath.Join("testdata", "metrics_series.txt")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := append(strings.Split(strings.TrimSpace(string(raw)), "\n"),
		"# HELP eacgate_tls_certificate_expiry_seconds Seconds until the TLS certificate the gateway serves (and presents as client to partners and callback receivers) expires (its NotAfter).",
		"# TYPE eacgate_tls_certificate_expiry_seconds gauge",
		"eacgate_tls_certificate_expiry_seconds{}")
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

// openWithIdentity opens a demo gateway whose TLS certificate is identity's.
func openWithIdentity(t *testing.T, identity func() *tls.Certificate) *Gateway {
	t.Helper()
	g, err := Open(context.Background(), Options{DataDir: t.TempDir(), Demo: true, IdentityFunc: identity})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// selfSigned is a TLS certificate valid until notAfter (Leaf not set, as for a certificate
// built by hand).
func selfSigned(t *testing.T, notAfter time.Time) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsExpiryOf is the value of eacgate_tls_certificate_expiry_seconds in days.
func tlsExpiryOf(t *testing.T, exposition string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^eacgate_tls_certificate_expiry_seconds (\S+)$`).FindStringSubmatch(exposition)
	if m == nil {
		t.Fatalf("no eacgate_tls_certificate_expiry_seconds in\n%s", exposition)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v / 86400
}

// /metrics gives the time left on the TLS certificate served now: after a reload (the
// reloader's certificate changes), the new one's.
func TestMetricsTLSCertificateExpiry(t *testing.T) {
	var current atomic.Pointer[tls.Certificate]
	current.Store(selfSigned(t, time.Now().AddDate(0, 0, 20)))
	g := openWithIdentity(t, current.Load)
	if d := tlsExpiryOf(t, scrape(t, g)); d <= 19 || d > 20 {
		t.Errorf("expires in %.2f days, want 20", d)
	}
	current.Store(selfSigned(t, time.Now().AddDate(0, 0, 400)))
	if d := tlsExpiryOf(t, scrape(t, g)); d <= 399 || d > 400 {
		t.Errorf("after the reload: expires in %.2f days, want 400", d)
	}
}
