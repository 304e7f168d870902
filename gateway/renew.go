package gateway

import (
	"context"
	"time"

	"eacgate/authority"
	"eacgate/dvclient"
)

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
	// (default the system's), Timeout bounds each call (default 30s).
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

// dvOptions are the dvclient options of the dv_client settings.
func dvOptions(o DVClientOptions) dvclient.Options {
	return dvclient.Options{RenewBefore: o.RenewBefore, CheckInterval: o.CheckInterval, MinInterval: o.MinInterval,
		Foreign: o.Foreign, Disabled: o.Disabled}
}

// CurrentDV returns the DV issuer in use (the newest certificate after automatic renewals),
// nil when the gateway has no DV.
func (g *Gateway) CurrentDV() *authority.Issuer {
	if cur := g.dv.Current(); cur != nil {
		return cur
	}
	return g.DV
}

// dvByCAR serves as the DV endpoint's ByCAR (see dvclient.Client.ByCAR).
func (g *Gateway) dvByCAR(car string) *authority.Issuer { return g.dv.ByCAR(car) }

// RunDVClient renews the DV's certificates by dv_client until ctx ends (see
// dvclient.Client.Run).
func (g *Gateway) RunDVClient(ctx context.Context) { g.dv.Run(ctx) }
