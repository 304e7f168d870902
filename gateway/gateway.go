// Package gateway assembles a running eacgate from its parts: the store, the keystore, the
// CVCA and DV issuers and their SOAP endpoints. With no configuration it builds the embedded
// default: a SQLite file and a software keystore in a data directory, and a demo CVCA and DV
// created on first start.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"eacgate/admin"
	"eacgate/admin/console"
	"eacgate/auditlog"
	"eacgate/authority"
	"eacgate/callback"
	"eacgate/config"
	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/dvclient"
	"eacgate/hsm"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/spoc"
	"eacgate/store"
)

// Options configure a gateway: the configuration file's schema, defaults and validation
// live in package config.
type Options = config.Config

// Gateway is an assembled gateway.
type Gateway struct {
	Store   *store.Store
	Keys    hsm.Keystore
	CVCA    *authority.Issuer
	DV      *authority.Issuer
	Handler http.Handler
	// Console is the web console's handler when console.listen gives it a listener of its
	// own (nil: it is part of Handler, at /console/, or disabled).
	Console  http.Handler
	DataDir  string
	Options  Options
	logger   *slog.Logger
	closeFns []func() error
	// cvca is the CVCA's keys and certificates: its issuer in use after key rollovers.
	cvca *cvca.Authority
	// dv is the DV as a client of its CVCAs: its issuers and their renewal.
	dv *dvclient.Client
	// dvRemote is the CVCA at dv_client.cvca_url (nil without one, or dvRemoteErr when its
	// HTTP client cannot be built).
	dvRemote    *dvclient.Remote
	dvRemoteErr error
	// forwarder is the SPOC's national side (nil without the SPOC role).
	forwarder *spoc.Forwarder
	metrics   *server.Metrics
	// instance names this process to the other instances on the database (leases).
	instance string
	// readyLast is the last readiness result (see readiness); readyProbe replaces the
	// database write probe (tests).
	readyLast  atomic.Pointer[readyResult]
	readyProbe func(ctx context.Context, owner string, now time.Time) error
	// keyWrapper wraps the emCA clients' keys (see APIKeyWrapper).
	keyWrapper *lazyKeyWrapper
	// issuerStatus: whether an operator suspended an issuer of ours (see withStatus).
	issuerStatus issuerStatus
	// Audit is the keyed audit log: checkpoints, verification, export (see useAuditKey).
	Audit *auditlog.Log
}

// Open opens the gateway: store, keystore, and the issuers found in the store. With
// opts.Demo it creates the demo CVCA and DV on first start.
func Open(ctx context.Context, opts Options) (*Gateway, error) {
	g, err := OpenStores(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := g.setUpIssuers(ctx); err != nil {
		g.Close()
		return nil, err
	}
	if err := admin.PrepareKeys(ctx, g.Store, g.APIKeyWrapper(), g.logger); err != nil {
		g.Close()
		return nil, err
	}
	if g.Handler, err = g.routes(); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// OpenStores opens only the store and the keystore (for eacgate init and the operator
// commands).
func OpenStores(ctx context.Context, opts Options) (*Gateway, error) {
	opts = opts.WithDefaults()
	if err := privateDir(opts.DataDir, opts.Logger); err != nil {
		return nil, err
	}
	g := &Gateway{DataDir: opts.DataDir, Options: opts, logger: opts.Logger, metrics: server.NewMetrics(opts.Logger), instance: newInstanceID()}
	st, err := store.Open(ctx, opts.DSN, opts.Logger)
	if err != nil {
		return nil, err
	}
	g.Store = st
	g.issuerStatus.store, g.issuerStatus.logger = st, opts.Logger
	g.closeFns = append(g.closeFns, st.Close)
	if err := g.useAuditKey(ctx); err != nil {
		g.Close()
		return nil, err
	}
	// The partner registry joins the YAML routing table (see spoc.Config.WithRegistered).
	registered, err := st.ListPartners(ctx)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("gateway: partner registry: %w", err)
	}
	g.Options.SPOC = g.Options.SPOC.WithRegistered(registered, config.DefaultPeerTimeout)
	kc := opts.Keystore
	if kc == nil {
		pass, err := keystorePassphrase(opts.DataDir, opts.Demo || opts.GenerateKeystorePassphrase, opts.Logger)
		if err != nil {
			g.Close()
			return nil, err
		}
		kc = &hsm.Config{Backend: "soft", Soft: hsm.SoftConfig{Dir: filepath.Join(opts.DataDir, "keys"), Passphrase: pass}}
	}
	kcfg := *kc
	kcfg.Soft.Logger, kcfg.PKCS11.Logger = opts.Logger, opts.Logger
	ks, err := hsm.Open(ctx, kcfg)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.Keys = ks
	g.closeFns = append(g.closeFns, ks.Close)
	g.newDVClient()
	g.newCVCA()
	return g, nil
}

// cvcaHTTPClient builds the HTTP client towards the remote CVCA (dv_client): our TLS
// identity, the CVCA's trust anchors (cvca_ca_file, else the system's), its timeout.
func (g *Gateway) cvcaHTTPClient() (*http.Client, error) {
	o := g.Options.DVClient
	var files []string
	if o.CVCACAFile != "" {
		files = append(files, o.CVCACAFile)
	}
	roots, err := server.CertPool(o.CVCACAFile == "", files...)
	if err != nil {
		return nil, fmt.Errorf("gateway: dv_client.cvca_ca_file: %w", err)
	}
	hc, err := server.NewPeerClient(server.PeerClientOptions{Name: "CVCA " + o.CVCAURL, Identity: g.Options.ClientCertificate(),
		Roots: roots, Timeout: o.Timeout})
	if err != nil {
		return nil, fmt.Errorf("gateway: dv_client: %w", err)
	}
	return hc, nil
}

// newInstanceID names this gateway process: host, process ID and a random suffix.
func newInstanceID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Close releases the store and the keystore.
func (g *Gateway) Close() error {
	var errs []error
	for i := len(g.closeFns) - 1; i >= 0; i-- {
		errs = append(errs, g.closeFns[i]())
	}
	g.closeFns = nil
	return errors.Join(errs...)
}

// privateDir creates the data directory owner-only (0700), or narrows an existing one that
// group or others may enter: it holds the database, the software keystore and the TLS key.
func privateDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("gateway: data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("gateway: data directory: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("gateway: data directory %s is open to other users and cannot be restricted: %w", dir, err)
		}
		log.Warn("data directory was open to other users; now owner-only (0700)", "dir", dir, "was", fi.Mode().Perm().String())
	}
	return nil
}

// errNoPassphrase explains how to give the software keystore its passphrase.
var errNoPassphrase = errors.New("gateway: the software keystore needs a passphrase: set EACGATE_KEYSTORE_PASSPHRASE, " +
	"or configure keystore: {backend: soft, soft: {dir: DIR, passphrase: {env: NAME} or {file: PATH outside the data directory}}}, " +
	"or a PKCS#11 keystore (keystore: {backend: pkcs11, ...}); test setups may set generate_keystore_passphrase: true")

// keystorePassphrase takes the passphrase from EACGATE_KEYSTORE_PASSPHRASE, or from
// DATA/keystore.pass, which is created (mode 0600) on first start only when generate is set
// (the embedded default). A passphrase file next to the keys only guards against stolen key
// files without it, so a configured gateway refuses to make one, and using one that exists
// is logged at every start.
func keystorePassphrase(dir string, generate bool, log *slog.Logger) (hsm.Secret, error) {
	if os.Getenv("EACGATE_KEYSTORE_PASSPHRASE") != "" {
		return hsm.Secret{Env: "EACGATE_KEYSTORE_PASSPHRASE"}, nil
	}
	path := filepath.Join(dir, "keystore.pass")
	_, err := os.Stat(path)
	switch {
	case err == nil:
	case !errors.Is(err, os.ErrNotExist):
		return hsm.Secret{}, fmt.Errorf("gateway: keystore passphrase: %w", err)
	case !generate:
		return hsm.Secret{}, errNoPassphrase
	default:
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return hsm.Secret{}, err
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
			return hsm.Secret{}, fmt.Errorf("gateway: keystore passphrase: %w", err)
		}
	}
	log.Warn("the software keystore's passphrase is in a file beside the keys: anyone who can read the data directory can use the CA keys "+
		"(for demos and tests; production: EACGATE_KEYSTORE_PASSPHRASE, keystore.soft.passphrase, or PKCS#11)", "file", path)
	return hsm.Secret{File: path}, nil
}

// setUpIssuers loads the CVCA and the DV from the store and the keystore (creating the demo
// ones first with Options.Demo). A gateway may have either role or both.
func (g *Gateway) setUpIssuers(ctx context.Context) error {
	o := g.Options
	iss, err := g.cvca.Open(ctx, o.Demo)
	switch {
	case errors.Is(err, hsm.ErrKeyNotFound):
		g.logger.Warn("CVCA certificates stored but not the key of the newest: the CVCA endpoint is off", "err", err)
	case err != nil:
		return err
	case iss != nil:
		g.useCVCA(iss)
	}

	_, err = g.Store.HolderByName(ctx, o.Country, o.DVMnemonic)
	if errors.Is(err, store.ErrNotFound) && o.Demo && g.CVCA != nil {
		if _, err := g.InitDV(ctx, cvca.DemoCeremony, o.Country+o.DVMnemonic+"00001", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP256r1"}); err != nil {
			return err
		}
		_, err = g.Store.HolderByName(ctx, o.Country, o.DVMnemonic)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		if err := g.loadDV(ctx); err != nil {
			return err
		}
	}
	if g.CVCA == nil && g.DV == nil {
		return errors.New("gateway: neither a CVCA nor a DV is set up: run 'eacgate init cvca' or 'eacgate init dv' first")
	}
	return nil
}

// loadDV sets up the DV issuers from the store (see dvclient.Client.Load); the first one
// is also g.DV.
func (g *Gateway) loadDV(ctx context.Context) error {
	err := g.dv.Load(ctx)
	if g.DV == nil {
		g.DV = g.dv.Current()
	}
	return err
}

func (g *Gateway) routes() (http.Handler, error) {
	reg := ra.NewStoreRegistry(g.Store, ra.WithQueueQuota(g.Options.Callback.HolderQueueQuota))
	mode, err := g.modes()
	if err != nil {
		return nil, err
	}
	receiver := &callback.Receiver{Store: g.Store, Registry: reg, Logger: g.logger}
	metrics := g.metrics
	metrics.AddGauges(g.gauges)
	metrics.AddGauges(g.tlsExpiry)
	mux := http.NewServeMux()
	var cvcaService *ra.IssuingService
	if g.CVCA != nil {
		cvcaService = &ra.IssuingService{IssuerFunc: g.CurrentCVCA, ByCAR: g.cvca.ByCAR, Registry: reg, Chain: g.cvca.Chain, Logger: g.logger,
			Mode: mode, CheckResponseURL: g.Options.Callback.CheckResponseURL(), Receiver: receiver.Handle}
		mux.Handle("/cvca", &server.Endpoint{Protocols: server.CVCAProtocols, Logger: g.logger, Name: "cvca", Metrics: metrics, Service: cvcaService})
	}
	if g.Options.SPOC.Enabled() {
		if err := g.Options.SPOC.Validate(); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		clients, err := g.Options.SPOC.Clients(g.Options.ClientCertificate())
		if err != nil {
			return nil, err
		}
		fwd := &spoc.Forwarder{Country: g.Options.Country, Config: g.Options.SPOC, Clients: clients, Store: g.Store, Registry: reg,
			CheckResponseURL: g.Options.Callback.CheckResponseURL(), Logger: g.logger.With("component", "spoc")}
		g.forwarder = fwd
		g.useSPOC(fwd)
		if g.CVCA != nil {
			fwd.Domestic = func() []*cvc.Certificate { return g.CurrentCVCA().Path }
			fwd.CVCA = g.CurrentCVCA
			cvcaService.Foreign = fwd.Forward
		} else {
			// A SPOC without a CVCA still takes its DVs' foreign requests at /cvca.
			mux.Handle("/cvca", &server.Endpoint{Protocols: server.CVCAProtocols, Logger: g.logger, Name: "cvca", Metrics: metrics,
				Service: &ra.IssuingService{Registry: reg, Logger: g.logger, Foreign: fwd.Forward, Receiver: receiver.Handle}})
		}
		svc := &spoc.Service{Config: g.Options.SPOC, Store: g.Store, Registry: reg, CVCA: cvcaService, Forwarder: fwd,
			Logger: g.logger.With("component", "spoc")}
		if g.CVCA != nil {
			svc.Chain = g.cvca.Chain
		}
		mux.Handle("/spoc", &server.Endpoint{Protocols: server.SPOCProtocols, Logger: g.logger, Name: "spoc", Metrics: metrics, Service: svc})
	}
	if g.DV != nil {
		mux.Handle("/dv", &server.Endpoint{Protocols: server.DVProtocols, Logger: g.logger, Name: "dv", Metrics: metrics,
			Service: &ra.IssuingService{IssuerFunc: g.CurrentDV, ByCAR: g.dvByCAR, Registry: reg, Logger: g.logger,
				Chain:              g.dv.Chains,
				DocumentSignerList: g.documentSignerList, Mode: mode, CheckResponseURL: g.Options.Callback.CheckResponseURL(), Receiver: receiver.Handle}})
	}
	adminHandler := &admin.Handler{Store: g.Store, Country: g.Options.Country, Logger: g.logger.With("component", "admin"),
		EMCA: g.Options.EMCA, Keys: g.APIKeyWrapper(), Audit: g.Audit, TwoPerson: g.Options.TwoPerson, KeyOps: g.KeyOperations()}
	if one := g.Options.TwoPerson.SinglePersonTasks(); len(one) > 0 {
		g.logger.Warn("two-person principle off: these critical tasks run with one person (two_person.quorum: 1)", "tasks", one)
	}
	if g.forwarder != nil {
		adminHandler.Partners = g.forwarder // notifications to partner SPOCs (a nil *Forwarder would not be a nil interface)
		adminHandler.FetchPartnerCA = g.forwarder.FetchCACertificates
	}
	adminAPI := adminHandler.Routes()
	mux.Handle("/admin/", adminAPI)
	mux.Handle("/emCAServices/", adminAPI)
	if !g.Options.Console.Disabled {
		web := &console.Handler{Store: g.Store, Country: g.Options.Country, DVMnemonic: g.Options.DVMnemonic, Logger: g.logger.With("component", "console"),
			Options: g.Options.Console, Audit: g.Audit, TwoPerson: g.Options.TwoPerson, KeyOps: g.KeyOperations()}
		if g.forwarder != nil {
			web.Partners = g.forwarder
		}
		h, err := web.Routes()
		if err != nil {
			return nil, fmt.Errorf("gateway: console: %w", err)
		}
		if g.Options.Console.Listen != "" {
			g.Console = withRequestLog(g.logger, h)
		} else {
			mux.Handle("/console/", h)
			mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
		}
	}
	if g.Options.Metrics.Listen == "" {
		mh, err := g.metricsHandler()
		if err != nil {
			return nil, err
		}
		mux.Handle("/metrics", mh)
	}
	mux.HandleFunc("/healthz", health)
	mux.HandleFunc("/readyz", g.ready)
	return withRequestLog(g.logger, mux), nil
}

var oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}

// documentSignerList reads the list file; it must be a CMS ContentInfo of type SignedData.
func (g *Gateway) documentSignerList(context.Context) ([]byte, error) {
	b, err := os.ReadFile(g.Options.DocumentSignerList)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ra.ErrUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: document signer list: %w", err)
	}
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if rest, err := asn1.Unmarshal(b, &ci); err != nil || len(rest) != 0 || !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("gateway: %s is not a CMS SignedData", g.Options.DocumentSignerList)
	}
	return b, nil
}
