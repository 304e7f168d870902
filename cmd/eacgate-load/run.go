package main

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/hsm"
	"eacgate/store"
)

// result is what a run reports (also as JSON with --json).
type result struct {
	Curve       string         `json:"curve"`
	Database    string         `json:"database"` // sqlite or postgres
	Keystore    string         `json:"keystore"` // soft, pkcs11 or unknown (not spawned)
	Instances   int            `json:"instances"`
	Terminals   int            `json:"terminals"`
	Concurrency int            `json:"concurrency"`
	CPUs        int            `json:"cpus"`
	Requests    int            `json:"requests"` // renewals answered (any code)
	OK          int            `json:"ok"`
	Codes       map[string]int `json:"codes"` // every answer and error, by return code
	Seconds     float64        `json:"seconds"`
	Throughput  float64        `json:"throughput"` // ok renewals per second
	P50ms       float64        `json:"p50_ms"`
	P99ms       float64        `json:"p99_ms"`
	Bound       float64        `json:"crypto_bound"` // requests/s: 1 sign + 2 verifies, all CPUs
	BoundSigner string         `json:"crypto_bound_signer"`
	Fraction    float64        `json:"fraction_of_bound"`
	RSS         *rssReport     `json:"rss,omitempty"`
	// PerGateway is each gateway's count of issued renewals and initial certificates, from
	// its own /metrics (spawned gateways).
	PerGateway  []int  `json:"per_gateway,omitempty"`
	Verified    string `json:"verified,omitempty"`
	VerifyError string `json:"verify_error,omitempty"`
}

// rssReport summarises the gateways' resident memory during the renewals.
type rssReport struct {
	SteadyMiB  float64   `json:"steady_mib"` // median of the samples after warm-up
	PeakMiB    float64   `json:"peak_mib"`
	WarmupMiB  float64   `json:"warmup_peak_mib"`
	GrowthMiB  float64   `json:"growth_mib"` // peak after warm-up minus warm-up peak
	LimitMiB   float64   `json:"limit_mib,omitempty"`
	Samples    []float64 `json:"samples_mib"` // summed over the instances
	SoakFailed bool      `json:"soak_failed,omitempty"`
}

// Passed reports whether the run passed: no failed request, the store check (if any) passed,
// and the RSS stayed within the soak bound.
func (r *result) Passed() bool {
	return r.OK > 0 && r.OK == r.Requests && r.VerifyError == "" && (r.RSS == nil || !r.RSS.SoakFailed)
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "eacgate-load: %s, %s, %s keys, %d gateway(s), %d terminals, %d in flight, %d CPUs\n",
		r.Curve, r.Database, r.Keystore, r.Instances, r.Terminals, r.Concurrency, r.CPUs)
	fmt.Fprintf(w, "  renewals:     %d answered, %d ok_cert_available in %.1f s\n", r.Requests, r.OK, r.Seconds)
	var codes []string
	for c, n := range r.Codes {
		if c != "ok_cert_available" {
			codes = append(codes, fmt.Sprintf("%s %d", c, n))
		}
	}
	slices.Sort(codes)
	if len(codes) == 0 {
		codes = []string{"none"}
	}
	fmt.Fprintf(w, "  errors:       %s\n", strings.Join(codes, ", "))
	fmt.Fprintf(w, "  throughput:   %.0f renewals/s\n", r.Throughput)
	fmt.Fprintf(w, "  latency:      p50 %.2f ms, p99 %.2f ms\n", r.P50ms, r.P99ms)
	if r.Bound > 0 {
		fmt.Fprintf(w, "  crypto bound: %.0f requests/s (1 sign + 2 verifies, %s, %d CPUs)\n", r.Bound, r.BoundSigner, r.CPUs)
		fmt.Fprintf(w, "  end-to-end:   %.1f%% of the crypto bound\n", 100*r.Fraction)
	}
	if r.RSS != nil {
		fmt.Fprintf(w, "  gateway RSS:  steady %.1f MiB, peak %.1f MiB, warm-up peak %.1f MiB, growth after warm-up %+.1f MiB",
			r.RSS.SteadyMiB, r.RSS.PeakMiB, r.RSS.WarmupMiB, r.RSS.GrowthMiB)
		if r.RSS.LimitMiB > 0 {
			verdict := "ok"
			if r.RSS.SoakFailed {
				verdict = "FAILED"
			}
			fmt.Fprintf(w, " (limit %.1f MiB: %s)", r.RSS.LimitMiB, verdict)
		}
		fmt.Fprintln(w)
	}
	if len(r.PerGateway) > 1 {
		fmt.Fprintf(w, "  per gateway:  %v certificates issued (their /metrics)\n", r.PerGateway)
	}
	if r.Verified != "" {
		fmt.Fprintf(w, "  database:     %s\n", r.Verified)
	}
	if r.VerifyError != "" {
		fmt.Fprintf(w, "  database:     FAILED: %s\n", r.VerifyError)
	}
}

// execute sets everything up, measures the crypto bound, drives the renewals and checks the
// database.
func execute(ctx context.Context, cfg config, log *slog.Logger) (*result, error) {
	res := &result{Curve: cfg.curve, Database: "sqlite", Keystore: "unknown", Instances: len(cfg.urls),
		Terminals: cfg.terminals, Concurrency: cfg.concurrency, CPUs: runtime.GOMAXPROCS(0)}
	dsn := cfg.db
	var pids []int
	var rootsFile string
	var boundKey hsm.Config
	if cfg.spawn {
		s, err := newSetup(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		defer s.close(log, cfg.keep)
		dsn, boundKey, res.Keystore, res.Instances = s.dsn, s.keys, cfg.keystore, cfg.instances
		// The bound is measured before the gateways run, with the DV's own key.
		if cfg.boundTime > 0 {
			if res.Bound, res.BoundSigner, err = cryptoBound(ctx, cfg.curve, &boundKey, cfg.boundTime); err != nil {
				return nil, err
			}
		}
		for range cfg.instances {
			p, err := s.start(ctx)
			if err != nil {
				return nil, err
			}
			cfg.urls = append(cfg.urls, p.base)
			pids = append(pids, p.cmd.Process.Pid)
		}
		rootsFile = filepath.Join(s.data, "tls.crt")
	} else {
		rootsFile = cfg.serverCA
		if cfg.pid > 0 {
			pids = []int{cfg.pid}
		}
	}
	if store.IsPostgresDSN(dsn) {
		res.Database = "postgres"
	}
	roots, err := serverPool(rootsFile)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dsn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	terms, err := newTerminals(cfg.terminals, roots, cfg.insecure)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, t := range terms {
			t.client.CloseIdleConnections()
			t.closeConns()
		}
	}()
	dvURLs := make([]string, len(cfg.urls))
	for i, u := range cfg.urls {
		dvURLs[i] = u + "/dv"
	}
	// GetCACertificates needs a registered caller: register first, under the country of the
	// DV's CHR, which discovery tells; a spawned gateway's is known.
	country := spawnCountry
	if !cfg.spawn {
		// The country is the DV certificate's; ask with an unregistered identity first
		// would be refused, so take it from the database: the CVCA certificates stored.
		if country, err = localCountry(ctx, st); err != nil {
			return nil, err
		}
	}
	if err := register(ctx, st, country, terms); err != nil {
		return nil, err
	}
	tg, err := discover(ctx, terms[0].client, dvURLs)
	if err != nil {
		return nil, err
	}
	res.Curve = tg.domain.Name()
	if !cfg.spawn && cfg.boundTime > 0 {
		if res.Bound, res.BoundSigner, err = cryptoBound(ctx, res.Curve, nil, cfg.boundTime); err != nil {
			return nil, err
		}
	}
	var tagb [3]byte
	_, _ = rand.Read(tagb[:])
	runTag := "load-" + hex.EncodeToString(tagb[:])
	setupStats := &stats{codes: map[string]int{}}
	log.Info("initial certificates", "terminals", len(terms), "gateways", len(dvURLs), "curve", res.Curve)
	if err := initial(ctx, tg, terms, country, runTag, cfg.concurrency, setupStats); err != nil {
		return nil, err
	}
	if cfg.requests > 0 {
		log.Info("making the renewal requests before the clock starts", "requests", cfg.requests)
		if err := pregenerate(tg, terms, country, cfg.requests, runtime.GOMAXPROCS(0)); err != nil {
			return nil, err
		}
	}
	st0 := &stats{codes: map[string]int{}}
	sampler := startRSS(pids, cfg.rssInterval)
	log.Info("driving renewals", "concurrency", cfg.concurrency, "duration", cfg.duration, "requests", cfg.requests)
	elapsed := drive(ctx, cfg, tg, terms, country, runTag, st0, log)
	samples := sampler.stop()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.Seconds = elapsed.Seconds()
	res.Codes = st0.codes
	for _, n := range st0.codes {
		res.Requests += n
	}
	res.OK = st0.codes["ok_cert_available"]
	res.Throughput = float64(res.OK) / elapsed.Seconds()
	res.P50ms, res.P99ms = percentile(st0.latencies, 0.50), percentile(st0.latencies, 0.99)
	if res.Bound > 0 {
		res.Fraction = res.Throughput / res.Bound
	}
	if len(pids) > 0 {
		res.RSS = rssSummary(samples, cfg)
	}
	if cfg.spawn {
		for _, u := range dvURLs {
			n, err := issuedBy(ctx, terms[0].client, strings.TrimSuffix(u, "/dv")+"/metrics")
			if err != nil {
				return nil, err
			}
			res.PerGateway = append(res.PerGateway, n)
		}
	}
	issued := append(slices.Clone(setupStats.issued), st0.issued...)
	if msg, err := verifyStore(ctx, st, terms, issued); err != nil {
		res.VerifyError = err.Error()
	} else {
		res.Verified = msg
	}
	return res, nil
}

// localCountry is the country of the gateway's CVCA, from the database.
func localCountry(ctx context.Context, st *store.Store) (string, error) {
	var chrs []string
	if err := st.DB().WithContext(ctx).Table("certificates").Where("role = ?", store.RoleCVCA).Order("id").Limit(1).Pluck("chr", &chrs).Error; err != nil {
		return "", fmt.Errorf("country: %w", err)
	}
	if len(chrs) == 0 {
		return "", errors.New("no CVCA certificate in the database: is --db the gateway's?")
	}
	ref, err := cvc.ParseReference(chrs[0])
	if err != nil {
		return "", fmt.Errorf("country of CVCA %q: %w", chrs[0], err)
	}
	return ref.Country(), nil
}

// percentile of the durations in milliseconds (nearest rank).
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return float64(s[i].Microseconds()) / 1000
}

// rssSampler samples the summed RSS of the gateway processes.
type rssSampler struct {
	stopc   chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	samples []float64 // MiB
}

func startRSS(pids []int, every time.Duration) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	if len(pids) == 0 {
		close(s.done)
		return s
	}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-s.stopc:
				s.sample(pids) // one at the end
				return
			case <-tick.C:
				s.sample(pids)
			}
		}
	}()
	return s
}

func (s *rssSampler) sample(pids []int) {
	var sum int64
	for _, pid := range pids {
		b, err := rssBytes(pid)
		if err != nil {
			return
		}
		sum += b
	}
	s.mu.Lock()
	s.samples = append(s.samples, float64(sum)/(1<<20))
	s.mu.Unlock()
}

func (s *rssSampler) stop() []float64 {
	select {
	case <-s.done:
	default:
		close(s.stopc)
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples)
}

// rssSummary splits the samples at the end of the warm-up and applies the soak bound: the
// peak after warm-up may exceed the warm-up peak by maxRSSGrowth of it, and always by
// rss-slack-mib (Go's heap breathes with the GC).
func rssSummary(samples []float64, cfg config) *rssReport {
	r := &rssReport{Samples: samples}
	if len(samples) == 0 {
		return r
	}
	warm := int(cfg.warmup / cfg.rssInterval)
	warm = max(1, min(warm, len(samples)-1))
	if len(samples) == 1 {
		warm = 1
	}
	r.WarmupMiB = slices.Max(samples[:warm])
	r.PeakMiB = slices.Max(samples)
	after := samples[warm:]
	if len(after) == 0 {
		after = samples
	}
	sorted := slices.Clone(after)
	slices.Sort(sorted)
	r.SteadyMiB = sorted[len(sorted)/2]
	r.GrowthMiB = slices.Max(after) - r.WarmupMiB
	if cfg.soak {
		r.LimitMiB = max(cfg.maxRSSGrowth*r.WarmupMiB, cfg.minRSSAllowed)
		r.SoakFailed = r.GrowthMiB > r.LimitMiB
	}
	return r
}

// cryptoBound measures requests per second if the gateway did nothing but the cryptography
// of a renewal: verify the inner signature, verify the outer signature, sign the
// certificate, on all CPUs. The signer is the DV key of the keystore (keys), or a software
// key on the curve.
func cryptoBound(ctx context.Context, curveName string, keys *hsm.Config, d time.Duration) (float64, string, error) {
	curve := ecc.CurveByName(curveName)
	if curve == nil {
		return 0, "", fmt.Errorf("unknown curve %q", curveName)
	}
	var signer crypto.Signer
	what := "software key (ecc)"
	if keys != nil {
		ks, err := hsm.Open(ctx, *keys)
		if err != nil {
			return 0, "", fmt.Errorf("crypto bound: %w", err)
		}
		defer ks.Close()
		s, err := ks.Signer(ctx, "dv")
		if err != nil {
			return 0, "", fmt.Errorf("crypto bound: %w", err)
		}
		signer, what = s, "DV key in the "+keys.Backend+" keystore"
		if keys.Backend == "" || keys.Backend == "soft" {
			what = "DV key in the soft keystore"
		}
	} else {
		k, err := ecc.GenerateKey(curve, rand.Reader)
		if err != nil {
			return 0, "", err
		}
		signer = k
	}
	// A terminal certificate (the outer key) and an authenticated renewal request.
	k0, err := ecc.GenerateKey(curve, rand.Reader)
	if err != nil {
		return 0, "", err
	}
	k1, err := ecc.GenerateKey(curve, rand.Reader)
	if err != nil {
		return 0, "", err
	}
	pub0, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, k0.Public(), false)
	pub1, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, k1.Public(), true)
	today := cvc.DateOf(time.Now())
	tmpl := cvc.CertificateTemplate{CAR: spawnDV, CHR: "UTLBOUND00001", PublicKey: pub0,
		CHAT: cvc.NewISCHAT(cvc.RoleTerminal, cvc.ISReadDG3), EffectiveDate: today, ExpirationDate: today.AddDays(29)}
	cur, err := cvc.Issue(tmpl, signer, cvc.ECDSA_SHA256)
	if err != nil {
		return 0, "", fmt.Errorf("crypto bound: %w", err)
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: spawnDV, CHR: "UTLBOUND00002"}, pub1, k1)
	if err == nil {
		req, err = req.Authenticate(cur.CHR, k0, cvc.ECDSA_SHA256)
	}
	if err != nil {
		return 0, "", fmt.Errorf("crypto bound: %w", err)
	}
	next := tmpl
	next.CHR, next.PublicKey = req.CHR, req.PublicKey.WithoutDomain()
	var n atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				err := req.VerifyInner(curve)
				if err == nil {
					err = req.VerifyOuterWith(cur, curve)
				}
				if err == nil {
					_, err = cvc.Issue(next, signer, cvc.ECDSA_SHA256)
				}
				if err != nil {
					errMu.Lock()
					firstErr = cmp.Or(firstErr, err)
					errMu.Unlock()
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, "", fmt.Errorf("crypto bound: %w", firstErr)
	}
	return float64(n.Load()) / time.Since(start).Seconds(), what, nil
}

// issuedBy reads a gateway's /metrics: RequestCertificate answers ok_cert_available at /dv.
func issuedBy(ctx context.Context, c *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	// client_golang writes the labels sorted by name and large counts as 1.2e+06.
	const series = `eacgate_soap_requests_total{code="ok_cert_available",endpoint="dv",operation="RequestCertificate"} `
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("metrics: %q: %w", line, err)
			}
			return int(n), nil
		}
	}
	return 0, nil
}
