// Command eacgate-load drives authenticated RequestCertificate renewals against a running
// eacgate (or gateways it starts itself) over HTTPS with TLS client certificates, and
// reports throughput, latency, errors by return code and the gateway's memory. In the same
// run it measures the crypto bound of this machine (one signature and two verifications per
// request on the same curve) and prints the end-to-end throughput as a fraction of it.
//
//	eacgate-load --spawn --curve brainpoolP256r1 --requests 3000          # benchmark
//	eacgate-load --spawn --soak --duration 10m                           # memory soak
//	eacgate-load --spawn --instances 2 --db postgres://...               # two gateways, one database
//	eacgate-load --url https://gw:8443 --db postgres://... --server-ca tls.crt
//
// See README.md, "Load generator".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// config is the parsed command line.
type config struct {
	spawn     bool
	eacgate   string // the eacgate binary (spawn)
	instances int
	urls      []string // gateway base URLs (not spawning)
	serverCA  string
	insecure  bool
	pid       int // gateway process to sample RSS of (not spawning)

	curve    string
	db       string // DSN: the gateway's database (spawn) or where to register holders
	keystore string // soft or pkcs11 (spawn)
	module   string
	token    string
	pinEnv   string

	terminals   int
	concurrency int
	duration    time.Duration
	requests    int // > 0: this many renewals, generated before the clock starts

	boundTime time.Duration

	soak          bool
	rssInterval   time.Duration
	warmup        time.Duration
	maxRSSGrowth  float64 // fraction of the warm-up RSS
	minRSSAllowed float64 // MiB of growth always tolerated

	jsonOut bool
	keep    bool // keep the temp directory (spawn)
}

const usageText = `usage: eacgate-load (--spawn [--instances N] | --url URL[,URL...] --db DSN --server-ca FILE) [options]

Registers terminals with TLS client certificates, gets each an initial certificate, then
drives authenticated renewals (a new key per request, the outer signature by the current
certificate) for --duration, or --requests renewals made before the clock starts. Reports
throughput, p50/p99 latency, errors by return code, the gateway's RSS (spawned, or --pid),
and the crypto bound of this machine. Exit status 1 when a request failed, the database
check found lost or doubled certificates, or (--soak) the RSS grew beyond the bound.

`

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("eacgate-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText); fs.PrintDefaults() }
	fs.BoolVar(&c.spawn, "spawn", false, "start eacgate serve in a temporary directory (init, holders, gateway)")
	fs.StringVar(&c.eacgate, "eacgate", "", "eacgate binary for --spawn (default: eacgate beside this program, else in PATH)")
	fs.IntVar(&c.instances, "instances", 1, "gateway processes to start (--spawn; more than one needs a postgres:// --db)")
	urls := fs.String("url", "", "gateway base URL(s), comma-separated, e.g. https://127.0.0.1:8443 (without --spawn)")
	fs.StringVar(&c.serverCA, "server-ca", "", "PEM file trusted for the gateway's TLS certificate (without --spawn)")
	fs.BoolVar(&c.insecure, "insecure", false, "do not verify the gateway's TLS certificate (without --spawn)")
	fs.IntVar(&c.pid, "pid", 0, "gateway process ID whose RSS is sampled (without --spawn)")
	fs.StringVar(&c.curve, "curve", "brainpoolP256r1", "curve of the spawned CVCA (P-256, brainpoolP256r1, ...); without --spawn it is read from the gateway's chain")
	fs.StringVar(&c.db, "db", "", "database DSN: the spawned gateways' (default: SQLite in the temp dir), or the gateway's, to register terminals and check the result")
	fs.StringVar(&c.keystore, "keystore", "soft", "CA keystore of the spawned gateway: soft or pkcs11")
	fs.StringVar(&c.module, "pkcs11-module", "/usr/lib/softhsm/libsofthsm2.so", "PKCS#11 library (--keystore pkcs11)")
	fs.StringVar(&c.token, "pkcs11-token", "", "initialised token label (--keystore pkcs11)")
	fs.StringVar(&c.pinEnv, "pkcs11-pin-env", "EACGATE_PIN", "environment variable holding the token's user PIN (--keystore pkcs11)")
	fs.IntVar(&c.terminals, "terminals", 0, "terminals (TLS identities) to register (default: --concurrency)")
	fs.IntVar(&c.concurrency, "concurrency", 4*runtime.GOMAXPROCS(0), "requests in flight")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to drive renewals (with --requests: the upper bound)")
	fs.IntVar(&c.requests, "requests", 0, "renewals to send, made before the clock starts (0: made on the fly for --duration)")
	fs.DurationVar(&c.boundTime, "bound-time", 2*time.Second, "time spent measuring the crypto bound (0: skip)")
	fs.BoolVar(&c.soak, "soak", false, "soak: sample RSS every --rss-interval and fail if it grows beyond the bound after --warmup")
	fs.DurationVar(&c.rssInterval, "rss-interval", 5*time.Second, "RSS sampling interval")
	fs.DurationVar(&c.warmup, "warmup", 0, "soak warm-up, excluded from the growth check (default: a fifth of --duration)")
	fs.Float64Var(&c.maxRSSGrowth, "max-rss-growth", 0.25, "soak: tolerated RSS growth after warm-up, as a fraction of the warm-up peak")
	fs.Float64Var(&c.minRSSAllowed, "rss-slack-mib", 16, "soak: RSS growth in MiB always tolerated")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as one JSON object instead of text")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory of --spawn")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() != 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, u := range strings.Split(*urls, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			c.urls = append(c.urls, u)
		}
	}
	switch {
	case c.spawn && len(c.urls) > 0:
		return c, errors.New("--spawn and --url exclude each other")
	case !c.spawn && len(c.urls) == 0:
		return c, errors.New("need --spawn or --url")
	case !c.spawn && c.db == "":
		return c, errors.New("--url needs --db (terminals are registered in the gateway's database)")
	case !c.spawn && c.serverCA == "" && !c.insecure:
		return c, errors.New("--url needs --server-ca FILE (or --insecure)")
	case c.instances < 1 || (c.instances > 1 && !c.spawn):
		return c, errors.New("--instances: at least 1, and only with --spawn")
	case c.instances > 1 && !strings.HasPrefix(c.db, "postgres"):
		return c, errors.New("--instances > 1 needs a postgres:// --db shared by the gateways")
	case c.keystore != "soft" && c.keystore != "pkcs11":
		return c, fmt.Errorf("--keystore %q: soft or pkcs11", c.keystore)
	case c.keystore == "pkcs11" && c.token == "":
		return c, errors.New("--keystore pkcs11 needs --pkcs11-token (an initialised token)")
	case c.concurrency < 1 || c.concurrency > 4096:
		return c, errors.New("--concurrency: 1 to 4096")
	case c.duration <= 0:
		return c, errors.New("--duration must be positive")
	}
	if c.terminals == 0 {
		c.terminals = c.concurrency
	}
	if c.terminals < c.concurrency || c.terminals > 9999 {
		return c, errors.New("--terminals: at least --concurrency, at most 9999")
	}
	if c.warmup == 0 {
		c.warmup = c.duration / 5
	}
	return c, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the program; it returns the exit status (0 ok, 1 failed, 2 usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "eacgate-load: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	res, err := execute(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "eacgate-load: %v\n", err)
		return 1
	}
	if cfg.jsonOut {
		enc := json.NewEncoder(stdout)
		_ = enc.Encode(res)
	} else {
		res.print(stdout)
	}
	if !res.Passed() {
		return 1
	}
	return 0
}
