// Package config is eacgate's configuration: the schema of the YAML file (eacgate serve
// --config), its defaults, set in one place (WithDefaults), and its validation, which reports
// every problem of a file at once (Validate). Sections owned by the packages they configure
// (spoc.Config, callback.Config, hsm.Config, admin.EMCAOptions, console.Options) are embedded as they are.
package config

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"

	"eacgate/admin"
	"eacgate/admin/console"
	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/ops"
	"eacgate/ra"
	"eacgate/spoc"
	"eacgate/store"
)

// Config configures a gateway; it is also the YAML configuration file (eacgate serve
// --config). Zero values mean the embedded defaults (see WithDefaults).
type Config struct {
	DataDir string `yaml:"data"`   // default "eacgate-data"
	DSN     string `yaml:"db"`     // default DataDir/eacgate.db (SQLite); a postgres:// DSN for PostgreSQL
	Listen  string `yaml:"listen"` // default 127.0.0.1:8443 (used by eacgate serve)
	// TLSCert and TLSKey are the PEM files of the gateway's TLS server certificate (default
	// DataDir/tls.crt and tls.key, a self-signed pair created on first start when neither
	// exists). eacgate serve reloads them when they change and on SIGHUP.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	Country string `yaml:"country"` // the CVCA's country; default "UT" (the demo country)
	// Keystore holds the CA keys. Nil: a software keystore in DataDir/keys whose passphrase
	// is EACGATE_KEYSTORE_PASSPHRASE (see GenerateKeystorePassphrase).
	Keystore *hsm.Config `yaml:"keystore"`
	// GenerateKeystorePassphrase lets a gateway without a keystore section and without
	// EACGATE_KEYSTORE_PASSPHRASE create DataDir/keystore.pass on first start (test setups:
	// the CA keys are then protected by file permissions only). The embedded default (Demo)
	// does so always.
	GenerateKeystorePassphrase bool `yaml:"generate_keystore_passphrase"`
	// CVCAKey and DVKey are the key labels (default "cvca" and "dv"); DVMnemonic is the
	// DV's holder mnemonic (default "DVDEMO").
	CVCAKey    string `yaml:"cvca_key"`
	DVKey      string `yaml:"dv_key"`
	DVMnemonic string `yaml:"dv_mnemonic"`
	// Demo creates a demo CVCA and DV on first start when none exist: the embedded default
	// (eacgate serve without --config). A configured gateway is set up with eacgate init.
	Demo bool `yaml:"-"`
	// DocumentSignerList is the file holding the current document signer list, a CMS
	// SignedData (DER) made by the national PKD tooling, served by GetDocumentSignerList;
	// default DataDir/document-signer-list.p7s. It is read on every request, so replacing
	// the file takes effect at once.
	DocumentSignerList string `yaml:"document_signer_list"`
	// Validity: certificate validity in days per role (defaults: authority.DefaultPolicy,
	// DV 90, foreign DV 30, terminal 30), within TR-03139 4.7 (DV 14 to 90, terminal 1 to
	// 30) unless CommonPolicy.AllowOutsideTR03139.
	Validity ValidityDays `yaml:"validity_days"`
	// CommonPolicy: how strictly the EU Common Certificate Policy (TR-03139) binds the
	// configuration.
	CommonPolicy CommonPolicyOptions `yaml:"policy"`
	// Processing says per applicant role (dv_domestic, dv_foreign, terminal) how requests
	// are processed: sync (default), async (senders offering a callback are answered by
	// SendCertificates) or approval (an operator approves each request; senders that cannot
	// take a callback get failure_synchronous_processing_not_possible).
	Processing map[string]string `yaml:"processing"`
	// EMCA bounds the emCA endpoints' password checks (concurrency, lockout).
	EMCA admin.EMCAOptions `yaml:"emca"`
	// Limits bound connections, header size and memory.
	Limits LimitOptions `yaml:"limits"`
	// Metrics: where /metrics is served and who may read it.
	Metrics MetricsOptions `yaml:"metrics"`
	// Retention: how long finished requests and emCA nonces are kept (default: always).
	Retention RetentionOptions `yaml:"retention"`
	// Audit: the audit key outside the database and the signed checkpoints of the log.
	Audit AuditOptions `yaml:"audit"`
	// Callback tunes the outbox workers and the deliveries to responseURLs.
	Callback CallbackOptions `yaml:"callback"`
	// DVClient: automatic renewal of the DV's own certificate.
	DVClient DVClientOptions `yaml:"dv_client"`
	// SPOC enables the SPOC role: the routing table of foreign SPOCs.
	SPOC spoc.Config `yaml:"spoc"`
	// TwoPerson: how many distinct persons each critical task needs (default 2) and how long
	// a proposal can be approved (default 24 h).
	TwoPerson ops.TwoPerson `yaml:"two_person"`
	// Console: the operators' web console at /console/ (session timeouts, an optional
	// listener of its own).
	Console console.Options `yaml:"console"`
	// Identity is the gateway's TLS certificate, presented as client certificate to
	// foreign SPOCs, a remote CVCA and callback receivers (nil on plain HTTP).
	Identity *tls.Certificate `yaml:"-"`
	// IdentityFunc, when set, is asked for that certificate at every TLS handshake instead
	// (eacgate serve: the certificate of the TLS reloader, so that a renewed TLS certificate
	// is presented to partners without a restart).
	IdentityFunc func() *tls.Certificate `yaml:"-"`
	Logger       *slog.Logger            `yaml:"-"`
}

// ValidityDays is the certificate validity in days per role; 0 takes the default.
type ValidityDays struct {
	DVDomestic int `yaml:"dv_domestic"`
	DVForeign  int `yaml:"dv_foreign"`
	Terminal   int `yaml:"terminal"`
}

// Load reads a YAML configuration file; unknown keys are an error, and so is every problem
// Validate finds (all of them reported together). Defaults are not filled in: flags may
// still override the file (see WithDefaults).
func Load(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// WithDefaults returns c with every unset option at its default: the one place the
// gateway's defaults are set (sections with a defaults method are filled in by it, from
// here). Applying it twice changes nothing.
func (c Config) WithDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = "eacgate-data"
	}
	if c.Country == "" {
		c.Country = "UT"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DSN == "" {
		c.DSN = filepath.Join(c.DataDir, "eacgate.db")
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8443"
	}
	if c.TLSCert == "" {
		c.TLSCert = filepath.Join(c.DataDir, "tls.crt")
	}
	if c.TLSKey == "" {
		c.TLSKey = filepath.Join(c.DataDir, "tls.key")
	}
	if c.CVCAKey == "" {
		c.CVCAKey = "cvca"
	}
	if c.DVKey == "" {
		c.DVKey = "dv"
	}
	if c.DVMnemonic == "" {
		c.DVMnemonic = "DVDEMO"
	}
	if c.DocumentSignerList == "" {
		c.DocumentSignerList = filepath.Join(c.DataDir, "document-signer-list.p7s")
	}
	c.Limits = c.Limits.Defaults()
	if c.Console.IdleTimeout == 0 {
		c.Console.IdleTimeout = console.DefaultIdleTimeout
	}
	if c.Console.AbsoluteTimeout == 0 {
		c.Console.AbsoluteTimeout = console.DefaultAbsoluteTimeout
	}
	c.Audit = c.Audit.withDefaults(c.DataDir)
	c.DVClient = c.DVClient.WithDefaults()
	if len(c.SPOC.Partners) > 0 {
		c.SPOC.Partners = slices.Clone(c.SPOC.Partners)
		for i := range c.SPOC.Partners {
			if c.SPOC.Partners[i].Timeout <= 0 {
				c.SPOC.Partners[i].Timeout = DefaultPeerTimeout
			}
		}
	}
	return c
}

// ClientCertificate returns the tls.Config.GetClientCertificate of the gateway's outgoing
// connections (IdentityFunc, else Identity), or nil without an identity.
func (c Config) ClientCertificate() func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	switch {
	case c.IdentityFunc != nil:
		f := c.IdentityFunc
		return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return f(), nil }
	case c.Identity != nil:
		id := c.Identity
		return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return id, nil }
	}
	return nil
}

// Policy is the issuing policy: authority.DefaultPolicy with the configured validities.
func (c Config) Policy() authority.Policy {
	p := authority.DefaultPolicy()
	for role, days := range map[cvc.Role]int{cvc.RoleDVDomestic: c.Validity.DVDomestic, cvc.RoleDVForeign: c.Validity.DVForeign, cvc.RoleTerminal: c.Validity.Terminal} {
		if days > 0 {
			p.Validity[role] = days
		}
	}
	return p
}

// ProcessingModes reads Processing: the mode of each applicant role named (the others are
// synchronous).
func (c Config) ProcessingModes() (map[store.Role]ra.Mode, error) {
	byRole := map[store.Role]ra.Mode{}
	var errs []error
	for _, role := range slices.Sorted(maps.Keys(c.Processing)) {
		r := store.Role(role)
		if r != store.RoleDVDomestic && r != store.RoleDVForeign && r != store.RoleTerminal {
			errs = append(errs, fmt.Errorf("processing: unknown role %q (dv_domestic, dv_foreign, terminal)", role))
			continue
		}
		m, err := ra.ParseMode(c.Processing[role])
		if err != nil {
			errs = append(errs, fmt.Errorf("processing.%s: %w", role, err))
			continue
		}
		byRole[r] = m
	}
	return byRole, errors.Join(errs...)
}
