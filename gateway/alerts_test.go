package gateway

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"eacgate/internal/testenv"
	"eacgate/msg"
	"eacgate/server"
)

// The Prometheus rules in deploy/alerts.yml name only series and labels /metrics exposes.
func TestAlertRulesUseExposedMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	// With a TLS certificate, whose expiry is a series.
	g := openWithIdentity(t, func() *tls.Certificate { return selfSigned(t, time.Now().AddDate(1, 0, 0)) })
	// The callback workers' counters exist once serve has made its worker.
	if _, err := g.Worker(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler)
	defer srv.Close()
	// One SOAP request, so that the request counters have a series.
	body, err := server.EncodeRequest(server.CVCAProtocols[0], msg.Message{Operation: "GetCACertificates"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Post(srv.URL+"/cvca", "text/xml; charset=utf-8", bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metric := regexp.MustCompile(`eacgate_[a-z_]+`)
	label := regexp.MustCompile(`([a-z_]+)=~?"`)
	n := 0
	for _, grp := range rules.Groups {
		for _, r := range grp.Rules {
			n++
			names := metric.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("%s: no eacgate series in %q", r.Alert, r.Expr)
			}
			for _, name := range names {
				if !strings.Contains(string(exposed), "# TYPE "+name+" ") {
					t.Errorf("%s: /metrics has no %s", r.Alert, name)
				}
			}
			for _, l := range label.FindAllStringSubmatch(r.Expr, -1) {
				if !strings.Contains(string(exposed), l[1]+`="`) {
					t.Errorf("%s: no series on /metrics has the label %s", r.Alert, l[1])
				}
			}
		}
	}
	if n < 5 {
		t.Fatalf("%d rules", n)
	}
}
