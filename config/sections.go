package config

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"eacgate/callback"
	"eacgate/dvclient"
	"eacgate/hsm"
	"eacgate/server"
	"eacgate/store"
)

// DefaultPeerTimeout bounds one call to a peer (a partner SPOC, a remote CVCA) unless its
// section sets another timeout.
const DefaultPeerTimeout = 30 * time.Second

// CommonPolicyOptions say how strictly the EU Common Certificate Policy (TR-03139) binds the
// configuration.
type CommonPolicyOptions struct {
	// AllowOutsideTR03139 accepts validity_days outside TR-03139 4.7 (DV 2 weeks to 3
	// months, IS 1 day to 1 month) and eacgate init's --years outside the CVCA's 6 months to
	// 3 years: for test PKIs whose certificates must expire within minutes or days. Every
	// start logs a warning while it is set.
	AllowOutsideTR03139 bool `yaml:"allow_outside_tr03139"`
}

// CallbackOptions configure asynchronous processing and callback delivery.
type CallbackOptions struct {
	callback.Config `yaml:",inline"`
	// CAFile is a PEM bundle of CAs trusted for the receivers' TLS server certificates, in
	// addition to the system's.
	CAFile string `yaml:"ca_file"`
	// AllowHTTP lets requesters name plain http responseURLs (test setups only).
	AllowHTTP bool `yaml:"allow_http"`
	// AllowedURLPrefixes, when set, restricts responseURLs to these prefixes (for example
	// the partners' https://host:port/ addresses).
	AllowedURLPrefixes []string `yaml:"allowed_url_prefixes"`
	// AllowPrivateAddresses lets callbacks to responseURLs connect to loopback, private,
	// link-local and other non-public addresses (refused by default; test setups).
	AllowPrivateAddresses bool `yaml:"allow_private_addresses"`
	// AllowedNetworks are CIDRs callbacks may connect to although not public (for example a
	// receivers' network 10.20.0.0/16).
	AllowedNetworks []string `yaml:"allowed_networks"`
	// HolderQueueQuota bounds a holder's unfinished asynchronous requests; beyond it new ones
	// get failure_request_not_accepted (default 100, negative: no bound).
	HolderQueueQuota int `yaml:"holder_queue_quota"`
}

// URLPolicy is the responseURL policy of the section: https (http only with allow_http),
// under one of allowed_url_prefixes when set, and, for callbacks to requester-supplied
// URLs, only public addresses unless allow_private_addresses or allowed_networks say
// otherwise (checked on the URL's IP literal at acceptance, and on the resolved address at
// every connection). An error names every allowed_networks entry that is not a CIDR.
func (o CallbackOptions) URLPolicy() (server.URLPolicy, error) {
	p := server.URLPolicy{AllowHTTP: o.AllowHTTP, AllowedPrefixes: o.AllowedURLPrefixes,
		Network: server.NetworkPolicy{AllowPrivate: o.AllowPrivateAddresses}}
	var errs []error
	for _, n := range o.AllowedNetworks {
		pre, err := netip.ParsePrefix(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("callback.allowed_networks: %w", err))
			continue
		}
		p.Network.Allowed = append(p.Network.Allowed, pre.Masked())
	}
	return p, errors.Join(errs...)
}

// CheckResponseURL is the check of every operation that takes a responseURL; with an
// invalid policy it refuses every URL with the policy's error.
func (o CallbackOptions) CheckResponseURL() func(string) error {
	p, err := o.URLPolicy()
	if err != nil {
		return func(string) error { return err }
	}
	return p.Check
}

// LimitOptions bound what callers can make the process hold. Zero values take the defaults.
type LimitOptions struct {
	// MaxConnections is the number of connections served at once (default 1024); further
	// clients wait in the listen backlog.
	MaxConnections int `yaml:"max_connections"`
	// MaxHeaderBytes bounds a request's header (default 16 KiB; SOAP and admin requests
	// need a few hundred bytes).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MemoryLimitMiB is the Go runtime's soft memory limit (default 1024; the GOMEMLIMIT
	// environment variable overrides it): near it the collector works harder instead of
	// the process growing, whatever GOGC says.
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
}

// Defaults fills in the defaults of unset limits (Config.WithDefaults calls it).
func (o LimitOptions) Defaults() LimitOptions {
	if o.MaxConnections <= 0 {
		o.MaxConnections = 1024
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 16 << 10
	}
	if o.MemoryLimitMiB <= 0 {
		o.MemoryLimitMiB = 1024
	}
	return o
}

// MetricsOptions say where /metrics is served and who may read it.
type MetricsOptions struct {
	// Listen, when set, serves /metrics on this address (plain HTTP, for a Prometheus on
	// the host or its network; for example 127.0.0.1:9464) instead of on the gateway's
	// listener.
	Listen string `yaml:"listen"`
	// Token, when set, is the bearer token a scraper must send (Authorization: Bearer ...).
	Token hsm.Secret `yaml:"token"`
}

// RetentionOptions say how long rows that grow with traffic are kept, in days; 0 (the
// default) keeps them. TR-03139 asks for request records to be archived, so set these only
// where records are archived elsewhere.
type RetentionOptions struct {
	// MessagesDays: finished requests and their finished callback deliveries.
	MessagesDays int `yaml:"messages_days"`
	// EMCANoncesDays: nonces of emCA API requests (replay protection: a request older
	// than this could be replayed).
	EMCANoncesDays int `yaml:"emca_nonces_days"`
}

// Enabled reports whether anything is ever deleted.
func (o RetentionOptions) Enabled() bool { return o != RetentionOptions{} }

// At is the store's retention at time now: the cutoffs before which rows go.
func (o RetentionOptions) At(now time.Time) store.Retention {
	var r store.Retention
	if o.MessagesDays > 0 {
		r.MessagesBefore = now.AddDate(0, 0, -o.MessagesDays)
	}
	if o.EMCANoncesDays > 0 {
		r.NoncesBefore = now.AddDate(0, 0, -o.EMCANoncesDays)
	}
	return r
}

// DVClientOptions configure the DV as a client of its CVCA: automatic renewal of its own
// certificate.
type DVClientOptions struct {
	// RenewBefore: the DV requests a new certificate when its current one expires within
	// this (default 720h, 30 days).
	RenewBefore time.Duration `yaml:"renew_before"`
	// CheckInterval is how often the certificate is looked at (default 1h).
	CheckInterval time.Duration `yaml:"check_interval"`
	// MinInterval: at most one renewal per this (default 24h), so that a validity shorter
	// than RenewBefore does not make the DV renew on every check.
	MinInterval time.Duration `yaml:"min_interval"`
	// Foreign lists the countries whose CVCAs the DV gets certificates from, through this
	// gateway's SPOC; they are renewed like the domestic one.
	Foreign []string `yaml:"foreign"`
	// Disabled turns automatic renewal off.
	Disabled bool `yaml:"disabled"`
	// CVCAURL is the CVCA endpoint (/cvca) of another gateway that certifies this DV; empty:
	// the CVCA of this gateway. CVCACAFile holds the CAs trusted for its TLS certificate
	// (default the system's), Timeout bounds each call (default DefaultPeerTimeout).
	CVCAURL    string        `yaml:"cvca_url"`
	CVCACAFile string        `yaml:"cvca_ca_file"`
	Timeout    time.Duration `yaml:"timeout"`
	// CVCASHA256 pins the remote CVCA's root (SHA-256 of its CV certificate, hex); without
	// it the first root is taken on trust of the TLS connection and logged with its SHA-256.
	CVCASHA256 []string `yaml:"cvca_sha256"`
	// ResponseURL is this gateway's /dv address, where the remote CVCA may answer renewals
	// later (SendCertificates); callbacks are accepted from the CVCA registered here as a
	// holder with role cvca. Empty: renewals are requested synchronously.
	ResponseURL string `yaml:"response_url"`
}

// WithDefaults fills in the defaults of unset durations (Config.WithDefaults calls it; so
// may callers given a section on its own).
func (o DVClientOptions) WithDefaults() DVClientOptions {
	s := o.Schedule().WithDefaults()
	o.RenewBefore, o.CheckInterval, o.MinInterval = s.RenewBefore, s.CheckInterval, s.MinInterval
	if o.Timeout <= 0 {
		o.Timeout = DefaultPeerTimeout
	}
	return o
}

// Schedule is the renewal schedule the DV client runs by.
func (o DVClientOptions) Schedule() dvclient.Options {
	return dvclient.Options{RenewBefore: o.RenewBefore, CheckInterval: o.CheckInterval, MinInterval: o.MinInterval,
		Foreign: o.Foreign, Disabled: o.Disabled}
}

// DefaultCheckpointInterval is how often the audit log is checkpointed by default: events
// newer than the last checkpoint could be cut from the log's tail unseen.
const DefaultCheckpointInterval = time.Minute

// AuditOptions place the audit key and the head file, both outside the database (see
// package auditlog), and set how often the log is checkpointed.
type AuditOptions struct {
	// KeyFile holds the secret the events' MACs and the checkpoint signatures derive from
	// (default DATA/audit.key, created owner-only at first start: back it up).
	KeyFile string `yaml:"key_file"`
	// HeadFile holds the newest signed checkpoint (default DATA/audit.head).
	HeadFile string `yaml:"head_file"`
	// CheckpointInterval: how often the log is verified and a checkpoint signed (default 1m).
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
}

func (o AuditOptions) withDefaults(dataDir string) AuditOptions {
	if o.KeyFile == "" {
		o.KeyFile = filepath.Join(dataDir, "audit.key")
	}
	if o.HeadFile == "" {
		o.HeadFile = filepath.Join(dataDir, "audit.head")
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	return o
}

// validate reports a checkpoint interval below a second and a head file that is the key file.
func (o AuditOptions) validate() error {
	var errs []error
	if o.CheckpointInterval < 0 || o.CheckpointInterval > 0 && o.CheckpointInterval < time.Second {
		errs = append(errs, fmt.Errorf("audit.checkpoint_interval: %v: at least 1s", o.CheckpointInterval))
	}
	if o.KeyFile != "" && filepath.Clean(o.KeyFile) == filepath.Clean(o.HeadFile) {
		errs = append(errs, fmt.Errorf("audit.head_file: %s is the key file", o.HeadFile))
	}
	return errors.Join(errs...)
}
