package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"eacgate/internal/pgtest"
	"eacgate/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// eacgateBinary builds cmd/eacgate once per test run.
func eacgateBinary(t *testing.T) string { return testenv.GoBinary(t, "./cmd/eacgate") }

// runLoad runs the load generator in-process and decodes its JSON result.
func runLoad(t *testing.T, args ...string) (*result, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"--spawn", "--eacgate", eacgateBinary(t), "--json"}, args...), &stdout, &stderr)
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("exit %d, output %q: %v\n%s", code, stdout.String(), err, stderr.String())
	}
	var text bytes.Buffer
	res.print(&text)
	t.Logf("%s", text.String())
	if code != 0 {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return &res, code
}

// The soak in its short form: renewals on the fly for 20 s (EACGATE_SOAK_DURATION for the
// long run), RSS sampled every 2 s. Pass/fail is about correctness and memory growth,
// never about speed.
func TestSoak(t *testing.T) {
	d := 20 * time.Second
	if v := os.Getenv("EACGATE_SOAK_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	} else if testing.Short() {
		d = 8 * time.Second
	}
	res, code := runLoad(t, "--soak", "--duration", d.String(), "--rss-interval", "2s", "--curve", "P-256",
		"--concurrency", "4", "--bound-time", "200ms")
	if code != 0 || !res.Passed() {
		t.Fatalf("soak failed (exit %d)", code)
	}
	if res.OK == 0 || res.Codes["ok_cert_available"] != res.Requests || res.Verified == "" {
		t.Fatalf("renewals: %+v", res)
	}
	if res.RSS == nil || len(res.RSS.Samples) < int(d/(2*time.Second))-1 || res.RSS.SteadyMiB <= 0 {
		t.Fatalf("RSS not sampled: %+v", res.RSS)
	}
	if res.RSS.LimitMiB <= 0 || res.RSS.GrowthMiB > res.RSS.LimitMiB {
		t.Fatalf("RSS grew %.1f MiB after warm-up, limit %.1f MiB", res.RSS.GrowthMiB, res.RSS.LimitMiB)
	}
}

// Two gateway processes on one PostgreSQL database with a shared software keystore:
// renewals alternate between them; every request is answered once, every certificate is
// stored once (no CHR twice), and both gateways issued.
func TestTwoInstancesOnePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	res, code := runLoad(t, "--instances", "2", "--db", dsn, "--curve", "brainpoolP256r1",
		"--concurrency", "6", "--terminals", "12", "--requests", "600", "--duration", "2m", "--bound-time", "0")
	if code != 0 || !res.Passed() {
		t.Fatalf("failed (exit %d): %+v", code, res)
	}
	if res.OK != 600 || res.Database != "postgres" || res.Instances != 2 {
		t.Fatalf("want 600 renewals on postgres over 2 gateways: %+v", res)
	}
	if len(res.PerGateway) != 2 || res.PerGateway[0] == 0 || res.PerGateway[1] == 0 {
		t.Fatalf("requests not spread over both gateways: %v", res.PerGateway)
	}
	if total := res.PerGateway[0] + res.PerGateway[1]; total != 600+12 {
		t.Fatalf("gateways issued %d certificates, want %d", total, 600+12)
	}
}

func TestPercentileAndRSSBound(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(ds, 0.5); p != 50 {
		t.Fatalf("p50 %v", p)
	}
	if p := percentile(ds, 0.99); p != 99 {
		t.Fatalf("p99 %v", p)
	}
	cfg := config{soak: true, warmup: 10 * time.Second, rssInterval: 5 * time.Second, maxRSSGrowth: 0.25, minRSSAllowed: 16}
	flat := rssSummary([]float64{100, 110, 108, 112, 109}, cfg)
	if flat.SoakFailed || flat.WarmupMiB != 110 || flat.GrowthMiB != 2 {
		t.Fatalf("flat: %+v", flat)
	}
	leak := rssSummary([]float64{100, 110, 130, 150, 170}, cfg)
	if !leak.SoakFailed || leak.LimitMiB != 27.5 {
		t.Fatalf("leak not caught: %+v", leak)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--spawn", "--url", "https://x"},
		{"--url", "https://x"},
		{"--spawn", "--instances", "2"},
		{"--spawn", "--keystore", "pkcs11"},
		{"--spawn", "--concurrency", "8", "--terminals", "4"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, &stderr, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
