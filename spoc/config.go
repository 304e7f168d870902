// Package spoc is the Single Point of Contact of a country's EAC PKI: it forwards national
// DVs' RequestForeignCertificate to foreign SPOCs (CSN 36 9791 RequestCertificate) and relays
// the answers, synchronous or by SendCertificates later; and it answers foreign SPOCs'
// requests for their DVs with the national CVCA.
package spoc

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"eacgate/server"
)

// The extended key usages of CSN 36 9791 for SPOC-to-SPOC TLS.
var (
	OIDTLSClient = server.OIDCSNTLSClient
	OIDTLSServer = server.OIDCSNTLSServer
)

// Partner is one foreign SPOC of the routing table.
type Partner struct {
	Country string `yaml:"country"` // ISO 3166-1 alpha-2, the first two characters of its CVCA's CHR
	// URL is the partner's SPOC endpoint: requests for its CVCA go there, and so do the
	// answers to its requests that come later (CSN 36 9791 has no responseURL).
	URL string `yaml:"url"`
	// CAFile is a PEM bundle trusted for the partner's TLS server certificate (default:
	// the system's roots).
	CAFile  string        `yaml:"ca_file"`
	Timeout time.Duration `yaml:"timeout"` // per call (default 30s)
	// CVCASHA256 pins the partner's CVCA root: the SHA-256 (hex) of its CV certificate,
	// exchanged through diplomatic channels. Without it the first root the partner sends is
	// taken on trust of the mutual TLS connection (and logged with its SHA-256 to compare).
	CVCASHA256 []string `yaml:"cvca_sha256"`
}

// Config is the SPOC role's configuration (the YAML key spoc).
type Config struct {
	Partners []Partner `yaml:"partners"`
	// ForeignDVs: "auto" (default) registers a foreign DV on its SPOC's first request for
	// it; "registered" accepts only DVs an operator registered (holder add --role dv_foreign).
	ForeignDVs string `yaml:"foreign_dvs"`
	// RequireEKU demands the CSN 36 9791 extended key usages on partners' TLS certificates
	// (client usage on their requests, server usage on their endpoints). Default true.
	RequireEKU *bool `yaml:"require_eku"`
}

// Enabled reports whether the SPOC role is configured.
func (c Config) Enabled() bool { return len(c.Partners) > 0 }

func (c Config) requireEKU() bool { return c.RequireEKU == nil || *c.RequireEKU }

// Validate checks the routing table.
func (c Config) Validate() error {
	seen := map[string]bool{}
	for _, p := range c.Partners {
		if len(p.Country) != 2 || p.URL == "" {
			return fmt.Errorf("spoc: partner %+v: need a two-letter country and a url", p)
		}
		if seen[p.Country] {
			return fmt.Errorf("spoc: partner %s listed twice", p.Country)
		}
		seen[p.Country] = true
	}
	switch c.ForeignDVs {
	case "", "auto", "registered":
	default:
		return fmt.Errorf("spoc: foreign_dvs %q: auto or registered", c.ForeignDVs)
	}
	return nil
}

// Partner returns the routing entry of a country.
func (c Config) Partner(country string) (Partner, bool) {
	i := slices.IndexFunc(c.Partners, func(p Partner) bool { return p.Country == country })
	if i < 0 {
		return Partner{}, false
	}
	return c.Partners[i], true
}

// HasEKU reports whether cert carries the extended key usage oid.
func HasEKU(cert *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	return slices.ContainsFunc(cert.UnknownExtKeyUsage, oid.Equal)
}

// Clients builds one HTTP client per partner: mutual TLS with our certificate (own is
// asked at every handshake; nil: none), the partner's trust anchors, its timeout, and the
// server EKU check when required.
func (c Config) Clients(own func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) (map[string]*http.Client, error) {
	out := map[string]*http.Client{}
	for _, p := range c.Partners {
		// The partner's CA when configured, else the system's roots.
		var files []string
		if p.CAFile != "" {
			files = append(files, p.CAFile)
		}
		roots, err := server.CertPool(p.CAFile == "", files...)
		if err != nil {
			return nil, fmt.Errorf("spoc: partner %s: %w", p.Country, err)
		}
		cfg := server.BaseTLSConfig()
		cfg.RootCAs, cfg.GetClientCertificate = roots, own
		if c.requireEKU() {
			country := p.Country
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 || !HasEKU(cs.PeerCertificates[0], OIDTLSServer) {
					return fmt.Errorf("spoc: %s's TLS certificate lacks the CSN 36 9791 server usage", country)
				}
				return nil
			}
		}
		timeout := p.Timeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		out[p.Country] = &http.Client{
			Timeout: timeout,
			Transport: &http.Transport{
				TLSClientConfig:     cfg,
				DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
				TLSHandshakeTimeout: 10 * time.Second,
				MaxIdleConnsPerHost: 4,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return out, nil
}

// ErrNoPartner is returned for a country without a routing entry.
var ErrNoPartner = errors.New("spoc: no partner for this country")
