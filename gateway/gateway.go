// Package gateway assembles a running eacgate from its parts: the store, the keystore, the
// CVCA and DV issuers and their SOAP endpoints. With no configuration it builds the embedded
// default: a SQLite file and a software keystore in a data directory, and a demo CVCA and DV
// created on first start.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/server"
	"eacgate/store"
)

// Options configure a gateway. Zero values mean the embedded defaults.
type Options struct {
	DataDir string // default "eacgate-data"
	DSN     string // default DataDir/eacgate.db (SQLite); a postgres:// DSN for PostgreSQL
	Country string // default "UT" (the demo country)
	Logger  *slog.Logger
}

// Gateway is an assembled gateway.
type Gateway struct {
	Store    *store.Store
	Keys     hsm.Keystore
	CVCA     *authority.Issuer
	DV       *authority.Issuer
	Handler  http.Handler
	DataDir  string
	country  string
	logger   *slog.Logger
	closeFns []func() error
}

// Key labels and references of the embedded demo PKI.
const (
	cvcaKeyLabel = "cvca"
	dvKeyLabel   = "dv"
	dvMnemonic   = "DVDEMO"
)

// Open opens (and on first start creates) the gateway in opts.DataDir.
func Open(ctx context.Context, opts Options) (*Gateway, error) {
	if opts.DataDir == "" {
		opts.DataDir = "eacgate-data"
	}
	if opts.Country == "" {
		opts.Country = "UT"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DSN == "" {
		opts.DSN = filepath.Join(opts.DataDir, "eacgate.db")
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: data directory: %w", err)
	}
	g := &Gateway{DataDir: opts.DataDir, country: opts.Country, logger: opts.Logger}
	st, err := store.Open(ctx, opts.DSN, opts.Logger)
	if err != nil {
		return nil, err
	}
	g.Store = st
	g.closeFns = append(g.closeFns, st.Close)
	pass, err := keystorePassphrase(opts.DataDir)
	if err != nil {
		g.Close()
		return nil, err
	}
	ks, err := hsm.OpenSoft(hsm.SoftConfig{Dir: filepath.Join(opts.DataDir, "keys"), Passphrase: pass, Logger: opts.Logger})
	if err != nil {
		g.Close()
		return nil, err
	}
	g.Keys = ks
	g.closeFns = append(g.closeFns, ks.Close)
	if err := g.setUpIssuers(ctx); err != nil {
		g.Close()
		return nil, err
	}
	g.Handler = g.routes()
	return g, nil
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

// keystorePassphrase takes the passphrase from EACGATE_KEYSTORE_PASSPHRASE, or from
// DATA/keystore.pass, which the embedded default creates (mode 0600) on first start. A
// passphrase file next to the keys only guards against stolen key files without it; a
// production setup uses PKCS#11 or a passphrase from the environment.
func keystorePassphrase(dir string) (hsm.Secret, error) {
	if os.Getenv("EACGATE_KEYSTORE_PASSPHRASE") != "" {
		return hsm.Secret{Env: "EACGATE_KEYSTORE_PASSPHRASE"}, nil
	}
	path := filepath.Join(dir, "keystore.pass")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return hsm.Secret{}, err
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
			return hsm.Secret{}, fmt.Errorf("gateway: keystore passphrase: %w", err)
		}
	}
	return hsm.Secret{File: path}, nil
}

// setUpIssuers loads the CVCA and DV, creating the demo ones on first start.
func (g *Gateway) setUpIssuers(ctx context.Context) error {
	chain, err := g.Store.CVCAChain(ctx, g.country)
	if err != nil {
		return err
	}
	if len(chain) == 0 {
		if err := g.createDemoCVCA(ctx); err != nil {
			return err
		}
		if chain, err = g.Store.CVCAChain(ctx, g.country); err != nil {
			return err
		}
	}
	var path []*cvc.Certificate
	for _, c := range chain {
		cert, err := cvc.ParseCertificate(c.Raw)
		if err != nil {
			return fmt.Errorf("gateway: stored CVCA certificate %s: %w", c.CHR, err)
		}
		path = append(path, cert)
	}
	cvcaKey, err := g.Keys.Signer(ctx, cvcaKeyLabel)
	if err != nil {
		return err
	}
	policy := authority.DefaultPolicy()
	g.CVCA = &authority.Issuer{Path: path, Signer: cvcaKey, Policy: policy}

	dvHolder, err := g.Store.HolderByName(ctx, g.country, dvMnemonic)
	if errors.Is(err, store.ErrNotFound) {
		if err := g.createDemoDV(ctx); err != nil {
			return err
		}
		dvHolder, err = g.Store.HolderByName(ctx, g.country, dvMnemonic)
	}
	if err != nil {
		return err
	}
	reg := &server.StoreRegistry{Store: g.Store}
	dvCert, err := reg.CurrentCertificate(ctx, dvHolder.ID)
	if err != nil {
		return fmt.Errorf("gateway: the DV has no current certificate: %w", err)
	}
	dvKey, err := g.Keys.Signer(ctx, dvKeyLabel)
	if err != nil {
		return err
	}
	g.DV = &authority.Issuer{Path: append(append([]*cvc.Certificate{}, path...), dvCert), Signer: dvKey, Policy: policy}
	return nil
}

func (g *Gateway) createDemoCVCA(ctx context.Context) error {
	key, err := g.Keys.Generate(ctx, cvcaKeyLabel, hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP256r1"})
	if err != nil {
		return err
	}
	today := cvc.DateOf(time.Now())
	cert, err := authority.NewCVCA(authority.CVCASpec{
		CHR: g.country + "CVCA00001", Algorithm: cvc.ECDSA_SHA256,
		CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3|cvc.ISReadDG4), Effective: today, Expiration: today.AddDays(3 * 365),
	}, key)
	if err != nil {
		return err
	}
	g.logger.Info("created demo CVCA", "chr", cert.CHR)
	return g.Store.AddCertificate(ctx, &store.Certificate{CHR: cert.CHR, CAR: cert.CAR, Role: store.RoleCVCA,
		NotBefore: cert.EffectiveDate.Time(), NotAfter: cert.ExpirationDate.Time(), Status: store.CertValid, Raw: cert.Raw})
}

func (g *Gateway) createDemoDV(ctx context.Context) error {
	key, err := g.Keys.Generate(ctx, dvKeyLabel, hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP256r1"})
	if err != nil {
		return err
	}
	h := &store.Holder{Country: g.country, Mnemonic: dvMnemonic, Role: store.RoleDVDomestic, Status: store.HolderActive}
	if err := g.Store.CreateHolder(ctx, h); err != nil {
		return err
	}
	pub, err := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	if err != nil {
		return err
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: g.CVCA.Certificate().CHR, CHR: g.country + dvMnemonic + "00001"}, pub, key)
	if err != nil {
		return err
	}
	cert, err := g.CVCA.Issue(req.Raw, authority.Applicant{Country: g.country, Mnemonic: dvMnemonic, Role: cvc.RoleDVDomestic, Status: authority.StatusActive})
	if err != nil {
		return err
	}
	g.logger.Info("created demo DV", "chr", cert.CHR)
	reg := &server.StoreRegistry{Store: g.Store}
	return reg.RecordCertificate(ctx, h.ID, cert)
}

// chain returns the certificates GetCACertificates answers with.
func (g *Gateway) chain(issuer *authority.Issuer) func(context.Context) ([][]byte, error) {
	return func(context.Context) ([][]byte, error) {
		out := make([][]byte, len(issuer.Path))
		for i, c := range issuer.Path {
			out[i] = c.Raw
		}
		return out, nil
	}
}

func (g *Gateway) routes() http.Handler {
	reg := &server.StoreRegistry{Store: g.Store}
	mux := http.NewServeMux()
	mux.Handle("/cvca", &server.Endpoint{Protocols: server.CVCAProtocols, Logger: g.logger,
		Service: &server.IssuingService{Issuer: g.CVCA, Registry: reg, Chain: g.chain(g.CVCA), Logger: g.logger}})
	mux.Handle("/dv", &server.Endpoint{Protocols: server.DVProtocols, Logger: g.logger,
		Service: &server.IssuingService{Issuer: g.DV, Registry: reg, Chain: g.chain(g.DV), Logger: g.logger}})
	return mux
}
