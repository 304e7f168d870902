package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"eacgate/config"
	"eacgate/cvc"
	"eacgate/gateway"
	"eacgate/ops"
	"eacgate/server"
	"eacgate/store"
)

// serveGCPercent is the collector's target of eacgate serve when GOGC is not set.
const serveGCPercent = 400

const serveUsage = `usage: eacgate serve [--config FILE] [--data DIR] [--db DSN] [--listen ADDR] [--plain-http]

Runs the gateway. Without --config: the embedded default (SQLite, software keystore, demo
CVCA and DV in DATA).
`

func runServe(ctx context.Context, c cli) int {
	fs := newFlagSet(c, "eacgate serve", serveUsage)
	var of optionFlags
	of.register(fs)
	of.registerListen(fs)
	plain := fs.Bool("plain-http", false, "serve plain HTTP instead of mutual TLS (local demos only: callers cannot be identified)")
	if code, done := parseFlags(c, fs, c.args); done {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(c.stderr, "eacgate serve: unexpected argument %q\n\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if os.Getenv("GOGC") == "" {
		// The gateway's live heap is small (about 10 MiB) and its garbage is per-request
		// short-lived: collecting at 5x the live heap instead of 2x costs a few MiB of RSS
		// and halves the collector's share of the CPU under load. GOGC overrides it.
		debug.SetGCPercent(serveGCPercent)
	}
	log := slog.New(slog.NewJSONHandler(c.stderr, nil))
	opts, err := of.options(fs, log)
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate serve: %v\n", err)
		return 2
	}
	if *plain {
		listenSet := false
		fs.Visit(func(fl *flag.Flag) { listenSet = listenSet || fl.Name == "listen" })
		opts.Listen = plainListen(opts.Listen, listenSet)
		warnPlain(log, opts.Listen)
	}
	limits := opts.Limits
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft ceiling: with GOGC at 400 the heap could otherwise grow to five times the
		// live data under a burst before the collector runs.
		debug.SetMemoryLimit(int64(limits.MemoryLimitMiB) << 20)
	}
	inner, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate serve: %v\n", err)
		return 1
	}
	ln := server.LimitListener(inner, limits.MaxConnections)
	defer ln.Close()
	scheme := "https"
	var tlsConfig *tls.Config
	if *plain {
		scheme = "http"
	} else {
		host, _, _ := net.SplitHostPort(ln.Addr().String())
		if _, err := server.LoadOrCreateTLSCertificate(opts.TLSCert, opts.TLSKey, []string{host, "localhost"}); err != nil {
			fmt.Fprintf(c.stderr, "eacgate serve: %v\n", err)
			return 1
		}
		// The certificate follows the files (changed files, SIGHUP), as server certificate
		// and as the client identity of callbacks, SPOC and remote-CVCA traffic.
		reloader, err := server.NewCertReloader(opts.TLSCert, opts.TLSKey, log)
		if err != nil {
			fmt.Fprintf(c.stderr, "eacgate serve: %v\n", err)
			return 1
		}
		tlsConfig = reloader.TLSConfig()
		opts.IdentityFunc = reloader.Certificate
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		hupCtx, hupStop := context.WithCancel(ctx)
		defer hupStop()
		go func() {
			for {
				select {
				case <-hup:
					if err := reloader.Reload(); err == nil {
						log.Info("SIGHUP: TLS certificate reloaded", "cert", opts.TLSCert)
					}
				case <-hupCtx.Done():
					return
				}
			}
		}()
	}
	g, err := gateway.Open(ctx, opts)
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate serve: %v\n", err)
		return 1
	}
	defer g.Close()
	// Unlocking a software keystore runs Argon2id over 64 MiB; hand that memory back now
	// rather than carrying it as RSS for the life of the process (eacgate-load measured
	// 155 MiB steady instead of 40).
	debug.FreeOSMemory()
	data := &g.DataDir
	srv := &http.Server{Handler: g.Handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig: tlsConfig, MaxHeaderBytes: limits.MaxHeaderBytes}
	if addr := g.Options.Metrics.Listen; addr != "" {
		stopMetrics, err := serveMetrics(g, addr, log)
		if err != nil {
			fmt.Fprintf(c.stderr, "eacgate serve: %v\n", err)
			return 1
		}
		defer stopMetrics()
	}
	worker, err := g.Worker()
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate serve: %v\n", err)
		return 1
	}
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		dvDone, cvcaDone, pruneDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
		go func() { defer close(dvDone); g.RunDVClient(workCtx) }()
		go func() { defer close(cvcaDone); g.RunCVCAWatch(workCtx) }()
		go func() { defer close(pruneDone); g.RunRetention(workCtx) }()
		auditDone := make(chan struct{})
		go func() { defer close(auditDone); g.RunAuditCheckpoints(workCtx) }()
		worker.Run(workCtx)
		<-dvDone
		<-cvcaDone
		<-pruneDone
		<-auditDone
	}()
	base := scheme + "://" + ln.Addr().String()
	fmt.Fprintf(c.stdout, "eacgate is serving (data in %s)\n", *data)
	if cvca := g.CurrentCVCA(); cvca != nil {
		fmt.Fprintf(c.stdout, "  CVCA endpoint (for DVs):       %s/cvca   WSDL: %s/cvca?wsdl   (%s)\n", base, base, cvca.Certificate().CHR)
	}
	if dv := g.CurrentDV(); dv != nil {
		fmt.Fprintf(c.stdout, "  DV endpoint (for terminals):   %s/dv     WSDL: %s/dv?wsdl   (%s)\n", base, base, dv.Certificate().CHR)
	}
	if g.Options.SPOC.Enabled() {
		fmt.Fprintf(c.stdout, "  SPOC endpoint (CSN 36 9791):   %s/spoc   WSDL: %s/spoc?wsdl   (partners:", base, base)
		for _, p := range g.Options.SPOC.Partners {
			fmt.Fprintf(c.stdout, " %s", p.Country)
		}
		fmt.Fprintln(c.stdout, ")")
	}
	consoleURL := base + "/console/"
	if g.Console != nil {
		stopConsole, url, err := serveConsole(g, tlsConfig, scheme, log)
		if err != nil {
			fmt.Fprintf(c.stderr, "eacgate serve: %v\n", err)
			stopWork()
			<-workDone
			return 1
		}
		defer stopConsole()
		consoleURL = url
	}
	if !g.Options.Console.Disabled {
		fmt.Fprintf(c.stdout, "  Web console (operators):       %s   (sign in with an operator token: eacgate operator add)\n", consoleURL)
	}
	if !*plain {
		fmt.Fprintf(c.stdout, "  TLS certificate: %s (reloaded when it changes or on SIGHUP); register clients with 'eacgate holder add %s --tls-cert FILE ...'\n", opts.TLSCert, of.selection(fs, *data))
	}
	errc := make(chan error, 1)
	go func() {
		if *plain {
			errc <- srv.Serve(ln)
		} else {
			errc <- srv.ServeTLS(ln, "", "")
		}
	}()
	select {
	case err := <-errc:
		fmt.Fprintf(c.stderr, "eacgate serve: %v\n", err)
		stopWork()
		<-workDone
		return 1
	case <-ctx.Done():
	}
	// Stop taking requests (those in progress finish), then let the callback workers finish
	// or return their items to the queue.
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := 0
	if err := srv.Shutdown(shutdown); err != nil {
		fmt.Fprintf(c.stderr, "eacgate serve: shutdown: %v\n", err)
		code = 1
	}
	stopWork()
	<-workDone
	return code
}

const holderUsage = `add --country CC --mnemonic M --role ROLE --tls-cert FILE [--ip CIDR,...] [--token-file F]
       eacgate holder list
       eacgate holder show --country CC --mnemonic M
       eacgate holder suspend|reinstate|revoke --country CC --mnemonic M --reason TEXT [--token-file F]
       eacgate holder countries --country CC --mnemonic M [--set ZZ,FR | --clear]
       eacgate holder rights --country CC --mnemonic M [--set dg3[,dg4] | --clear]

Registering a DV (or a CVCA or SPOC holder), reinstating one and revoking any holder are
critical tasks; suspension and terminals' registration run at once.` + twoPersonHelp

func runHolder(ctx context.Context, c cli) int {
	var country, mnemonic, role, tlsCert, ipRanges, reason, countries, rights string
	var clearCountries, clearRights bool
	st, _, code := storeCommand(ctx, c, "holder", holderUsage, func(sub string, fs *flag.FlagSet) {
		if sub == "list" {
			return
		}
		fs.StringVar(&country, "country", "", "country code (2 letters)")
		fs.StringVar(&mnemonic, "mnemonic", "", "holder mnemonic (CHR = country + mnemonic + 5-character sequence)")
		switch sub {
		case "add":
			fs.StringVar(&role, "role", "", "dv_domestic, dv_foreign, terminal, spoc or cvca")
			fs.StringVar(&tlsCert, "tls-cert", "", "the holder's TLS client certificate (PEM); its SHA-256 identifies the caller")
			fs.StringVar(&ipRanges, "ip", "", "comma-separated CIDR ranges the holder may connect from (default any)")
		case "suspend", "reinstate", "revoke":
			fs.StringVar(&reason, "reason", "", "why (recorded in the audit log)")
		case "countries":
			fs.StringVar(&countries, "set", "", "comma-separated foreign countries the domestic DV may ask certificates of (replaces the list)")
			fs.BoolVar(&clearCountries, "clear", false, "allow the DV no foreign country")
		case "rights":
			fs.StringVar(&rights, "set", "", "comma-separated data groups (dg3, dg4) the holder's certificates may grant, within its issuer's")
			fs.BoolVar(&clearRights, "clear", false, "grant the issuer's rights unchanged")
		}
	})
	if st == nil {
		return code
	}
	defer st.Close()
	switch c.args[0] {
	case "suspend":
		return holderSetStatus(ctx, c, st, country, mnemonic, store.HolderSuspended, reason)
	case "reinstate":
		return holderSetStatus(ctx, c, st, country, mnemonic, store.HolderActive, reason)
	case "revoke":
		return holderSetStatus(ctx, c, st, country, mnemonic, store.HolderRevoked, reason)
	case "show":
		return holderShow(ctx, c, st, country, mnemonic)
	case "countries":
		return holderCountries(ctx, c, st, country, mnemonic, countries, clearCountries)
	case "rights":
		return holderRights(ctx, c, st, country, mnemonic, rights, clearRights)
	case "list":
		hs, err := st.ListHolders(ctx, store.HolderFilter{})
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCOUNTRY\tMNEMONIC\tROLE\tSTATUS\tTLS FINGERPRINT")
		for _, h := range hs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Country, h.Mnemonic, h.Role, h.Status, h.TLSFingerprint)
		}
		tw.Flush()
		return 0
	}
	if country == "" || mnemonic == "" || tlsCert == "" {
		fmt.Fprintln(c.stderr, "holder add needs --country CC --mnemonic M --role ROLE --tls-cert FILE")
		return 2
	}
	r := store.Role(role)
	if !r.Valid() {
		fmt.Fprintf(c.stderr, "--role %q: want dv_domestic, dv_foreign, terminal, spoc (a foreign SPOC) or cvca (a CVCA that calls back)\n", role)
		return 2
	}
	fp, err := certFingerprint(tlsCert)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	ranges, err := store.NormalizeIPRanges(ipRanges)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 2
	}
	h := &store.Holder{Country: country, Mnemonic: mnemonic, Role: r, Status: store.HolderActive, TLSFingerprint: fp, IPRanges: ranges}
	if ops.CriticalHolderRole(r) { // two persons (eacgate proposal)
		p, code := runCritical(ctx, c, st, ops.ActionHolderRegister, ops.HolderRegistration{Country: country, Mnemonic: mnemonic, Role: r,
			TLSFingerprint: fp, IPRanges: ranges})
		if p == nil {
			return code
		}
		h = p.Output.(*store.Holder)
		fmt.Fprintf(c.stdout, "registered holder %d: %s%s (%s), TLS fingerprint %s\n", h.ID, h.Country, h.Mnemonic, h.Role, fp)
		return 0
	}
	if err := cliOps(c, st).RegisterHolder(ctx, cliActor(), h); err != nil {
		fmt.Fprintf(c.stderr, "eacgate holder add: %s\n", errText(err))
		if errors.As(err, new(*cvc.NameError)) {
			return 2 // TR-03139 3.1
		}
		return 1
	}
	fmt.Fprintf(c.stdout, "registered holder %d: %s%s (%s), TLS fingerprint %s\n", h.ID, h.Country, h.Mnemonic, h.Role, fp)
	return 0
}

// findHolder looks a holder up by name; nil and the exit code (said on stderr) if there is
// none or the store fails.
func findHolder(ctx context.Context, c cli, st *store.Store, country, mnemonic string) (*store.Holder, int) {
	h, err := st.HolderByName(ctx, country, mnemonic)
	if errors.Is(err, store.ErrNotFound) {
		fmt.Fprintf(c.stderr, "no holder %s%s (see 'eacgate holder list')\n", country, mnemonic)
		return nil, 1
	}
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return nil, 1
	}
	return h, 0
}

// holderShow prints a holder and its certificates.
func holderShow(ctx context.Context, c cli, st *store.Store, country, mnemonic string) int {
	if country == "" || mnemonic == "" {
		fmt.Fprintln(c.stderr, "holder show needs --country CC --mnemonic M")
		return 2
	}
	h, code := findHolder(ctx, c, st, country, mnemonic)
	if h == nil {
		return code
	}
	certs, err := st.ListCertificatesOfHolder(ctx, h.ID)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	ips := h.IPRanges
	if ips == "" {
		ips = "any"
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "holder:\t%s%s (ID %d)\n", h.Country, h.Mnemonic, h.ID)
	fmt.Fprintf(tw, "role:\t%s\n", h.Role)
	fmt.Fprintf(tw, "status:\t%s\n", h.Status)
	fmt.Fprintf(tw, "TLS fingerprint:\t%s\n", h.TLSFingerprint)
	fmt.Fprintf(tw, "IP ranges:\t%s\n", ips)
	fmt.Fprintf(tw, "registered:\t%s\n", h.CreatedAt.UTC().Format(time.RFC3339))
	tw.Flush()
	fmt.Fprintf(c.stdout, "\ncertificates (%d):\n", len(certs))
	printCertificates(ctx, c.stdout, st, certs)
	return 0
}

// certFingerprint is the hex SHA-256 of the first certificate in a PEM file, which must be
// usable as a TLS client certificate now (server.CheckClientCertificate).
func certFingerprint(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return "", errors.New(path + ": no PEM certificate")
		}
		if blk.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return "", fmt.Errorf("%s: %w", path, err)
			}
			if err := server.CheckClientCertificate(cert, time.Now()); err != nil {
				return "", fmt.Errorf("%s: %w", path, err)
			}
			sum := sha256.Sum256(blk.Bytes)
			return hex.EncodeToString(sum[:]), nil
		}
	}
}

// holderSetStatus suspends, reinstates or revokes a holder (identified by country and
// mnemonic), effective for its next request, and records it in the audit log.
func holderSetStatus(ctx context.Context, c cli, st *store.Store, country, mnemonic string, status store.HolderStatus, reason string) int {
	if country == "" || mnemonic == "" || reason == "" {
		fmt.Fprintln(c.stderr, "needs --country CC --mnemonic M --reason TEXT")
		return 2
	}
	h, code := findHolder(ctx, c, st, country, mnemonic)
	if h == nil {
		return code
	}
	if task := map[store.HolderStatus]ops.Action{store.HolderActive: ops.ActionHolderReinstate, store.HolderRevoked: ops.ActionHolderRevoke}[status]; task != "" &&
		(status == store.HolderRevoked || ops.CriticalHolderRole(h.Role)) { // two persons (eacgate proposal)
		p, code := runCritical(ctx, c, st, task, ops.NewHolderStatusChange(h, reason))
		if p != nil {
			fmt.Fprintf(c.stdout, "holder %s%s is now %s\n", country, mnemonic, status)
		}
		return code
	}
	svc := cliOps(c, st)
	set := map[store.HolderStatus]func(context.Context, ops.Actor, int64, string) (*store.Holder, error){
		store.HolderSuspended: svc.SuspendHolder, store.HolderActive: svc.ReinstateHolder, store.HolderRevoked: svc.RevokeHolder,
	}[status]
	if _, err := set(ctx, cliActor(), h.ID, reason); err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	fmt.Fprintf(c.stdout, "holder %s%s is now %s\n", country, mnemonic, status)
	return 0
}

// optionFlags are the flags that select a gateway: a configuration file and overrides.
type optionFlags struct {
	config, data, db, listen string
}

func (f *optionFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "YAML configuration (see README, Configuration); none: the embedded default")
	fs.StringVar(&f.data, "data", config.Config{}.WithDefaults().DataDir, "data directory (SQLite database, software keystore, TLS certificate)")
	fs.StringVar(&f.db, "db", "", "database: SQLite file or postgres:// DSN (default DATA/eacgate.db)")
}

// registerListen adds --listen, which only serve has.
func (f *optionFlags) registerListen(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", config.Config{}.WithDefaults().Listen, "address to listen on")
}

// options loads the configuration (or the embedded default, which creates a demo PKI) and
// applies the flags given explicitly on top.
func (f *optionFlags) options(fs *flag.FlagSet, log *slog.Logger) (config.Config, error) {
	opts := config.Config{Demo: true}
	if f.config != "" {
		var err error
		if opts, err = config.Load(f.config); err != nil {
			return opts, err
		}
	}
	set := flagsSet(fs)
	if set["data"] || opts.DataDir == "" {
		opts.DataDir = f.data
	}
	if set["db"] {
		opts.DSN = f.db
	}
	if fs.Lookup("listen") != nil && (set["listen"] || opts.Listen == "") {
		opts.Listen = f.listen
	}
	// The defaults are config's (set once there); the logger stays as given (nil: the
	// command logs nothing).
	opts = opts.WithDefaults()
	opts.Logger = log
	if log != nil {
		for _, w := range opts.PolicyWarnings() {
			log.Warn(w)
		}
	}
	return opts, nil
}

// selection is the flags that select the same gateway again, for the commands serve
// suggests: --config (and --db, --data when given), else --data DIR (and --db).
func (f *optionFlags) selection(fs *flag.FlagSet, dataDir string) string {
	set := flagsSet(fs)
	var parts []string
	if f.config != "" {
		parts = append(parts, "--config "+f.config)
	}
	if f.config == "" || set["data"] {
		parts = append(parts, "--data "+dataDir)
	}
	if set["db"] {
		parts = append(parts, "--db "+f.db)
	}
	return strings.Join(parts, " ")
}

// flagsSet is the names of the flags given on the command line.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	return set
}

// plainListen is where --plain-http listens: on loopback unless --listen was given on the
// command line (a configuration file's listen address is for the TLS listener), since
// plain HTTP cannot identify callers.
func plainListen(listen string, explicit bool) string {
	if explicit {
		return listen
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" {
		port = "8443"
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// warnPlain says what plain HTTP gives up, louder when it is reachable from elsewhere.
func warnPlain(log *slog.Logger, listen string) {
	host, _, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || host == "localhost" {
		log.Warn("plain HTTP: callers cannot be identified, every SOAP operation is refused to them; for local demos only", "listen", listen)
		return
	}
	log.Warn("plain HTTP on an address reachable from other hosts: anyone there can reach the gateway unencrypted and unidentified; use TLS", "listen", listen)
}

// serveMetrics serves /metrics on its own plain-HTTP listener until the returned stop.
// serveConsole serves the web console on console.listen, with the main listener's TLS
// settings (client certificates requested, for operators who sign in with theirs).
func serveConsole(g *gateway.Gateway, tlsConfig *tls.Config, scheme string, log *slog.Logger) (stop func(), consoleURL string, err error) {
	ln, err := net.Listen("tcp", g.Options.Console.Listen)
	if err != nil {
		return nil, "", fmt.Errorf("console listener: %w", err)
	}
	srv := &http.Server{Handler: g.Console, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10, TLSConfig: tlsConfig,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	limited := server.LimitListener(ln, 64)
	go func() {
		if tlsConfig == nil {
			_ = srv.Serve(limited)
		} else {
			_ = srv.ServeTLS(limited, "", "")
		}
	}()
	consoleURL = scheme + "://" + ln.Addr().String() + "/console/"
	log.Info("web console served on its own listener", "url", consoleURL)
	return func() { _ = srv.Close() }, consoleURL, nil
}

func serveMetrics(g *gateway.Gateway, addr string, log *slog.Logger) (stop func(), err error) {
	h, err := g.MetricsHandler()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 8 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { _ = srv.Serve(server.LimitListener(ln, 16)) }()
	log.Info("metrics served", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { _ = srv.Close() }, nil
}
