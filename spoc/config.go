// Package spoc is the Single Point of Contact of a country's EAC PKI: it forwards national
// DVs' RequestForeignCertificate to foreign SPOCs (CSN 36 9791 RequestCertificate) and relays
// the answers, synchronous or by SendCertificates later; and it answers foreign SPOCs'
// requests for their DVs with the national CVCA.
package spoc

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"eacgate/server"
	"eacgate/store"
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
	Timeout time.Duration `yaml:"timeout"` // per call (default config.DefaultPeerTimeout, 30s)
	// CVCASHA256 pins the partner's CVCA root: the SHA-256 (hex) of its CV certificate,
	// exchanged through diplomatic channels. Without it the first root the partner sends is
	// taken on trust of the mutual TLS connection (and logged with its SHA-256 to compare).
	CVCASHA256 []string `yaml:"cvca_sha256"`
	// CAPEM is the SPOC root of a partner registered in the partner registry and absent
	// from the YAML (see WithRegistered): its TLS server certificate's only trust anchor.
	CAPEM []byte `yaml:"-"`
}

// Config is the SPOC role's configuration (the YAML key spoc).
type Config struct {
	Partners []Partner `yaml:"partners"`
	// ForeignDVs: "auto" (default) registers a foreign DV on its SPOC's first request for
	// it; "registered" accepts only DVs an operator registered (holder add --role dv_foreign).
	ForeignDVs string `yaml:"foreign_dvs"`
	// ForeignCountries: "listed" (default) lets a domestic DV ask only the foreign countries
	// the RA operator listed for it (eacgate holder countries; TR-03139 4.4.2.1: the RA
	// decides which DVs may request from which countries), so a DV without a list may ask
	// none; "any" lets every active domestic DV ask every partner country.
	ForeignCountries string `yaml:"foreign_countries"`
	// RequireEKU demands the CSN 36 9791 extended key usages on partners' TLS certificates
	// (client usage on their requests, server usage on their endpoints). Default true.
	RequireEKU *bool `yaml:"require_eku"`
}

// The values of Config.ForeignCountries.
const (
	ForeignCountriesListed = "listed"
	ForeignCountriesAny    = "any"
)

// Enabled reports whether the SPOC role is configured.
func (c Config) Enabled() bool { return len(c.Partners) > 0 }

func (c Config) requireEKU() bool { return c.RequireEKU == nil || *c.RequireEKU }

// Validate checks the routing table and reports every problem found, joined.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range c.Partners {
		if len(p.Country) != 2 || p.URL == "" {
			errs = append(errs, fmt.Errorf("spoc: partner %d (%q): need a two-letter country and a url", i+1, p.Country))
		}
		if p.URL != "" {
			if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				errs = append(errs, fmt.Errorf("spoc: partner %s: url %q: need http(s)://host/path", p.Country, p.URL))
			}
		}
		if seen[p.Country] {
			errs = append(errs, fmt.Errorf("spoc: partner %s listed twice", p.Country))
		}
		seen[p.Country] = true
		if p.Timeout < 0 {
			errs = append(errs, fmt.Errorf("spoc: partner %s: negative timeout %v", p.Country, p.Timeout))
		}
		for _, pin := range p.CVCASHA256 {
			if b, err := hex.DecodeString(strings.TrimSpace(pin)); err != nil || len(b) != sha256.Size {
				errs = append(errs, fmt.Errorf("spoc: partner %s: cvca_sha256 %q is not a hex SHA-256", p.Country, pin))
			}
		}
	}
	switch c.ForeignDVs {
	case "", "auto", "registered":
	default:
		errs = append(errs, fmt.Errorf("spoc: foreign_dvs %q: auto or registered", c.ForeignDVs))
	}
	switch c.ForeignCountries {
	case "", ForeignCountriesListed, ForeignCountriesAny:
	default:
		errs = append(errs, fmt.Errorf("spoc: foreign_countries %q: listed or any", c.ForeignCountries))
	}
	return errors.Join(errs...)
}

// WithRegistered merges the partner registry into the routing table: a YAML entry stays as
// it is (the registry adds its status, rights and DV list, looked up per request); a
// registered partner without one gets an entry with its registered URL and SPOC root, and
// timeout. Suspended partners keep their entry: their status is checked at each request.
func (c Config) WithRegistered(registered []store.Partner, timeout time.Duration) Config {
	out := c
	out.Partners = slices.Clone(c.Partners)
	for _, p := range registered {
		if _, ok := c.Partner(p.Country); !ok {
			out.Partners = append(out.Partners, Partner{Country: p.Country, URL: p.URL, CAPEM: p.SPOCRoot, Timeout: timeout})
		}
	}
	return out
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

// Clients builds one HTTP client per partner (server.NewPeerClient): mutual TLS with our
// certificate (own is asked at every handshake; nil: none), the partner's trust anchors,
// its timeout (0: none besides the transport's bounds; config.Config.WithDefaults sets
// one), and the server EKU check when required.
func (c Config) Clients(own func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) (map[string]*http.Client, error) {
	out := map[string]*http.Client{}
	for _, p := range c.Partners {
		// The partner's CA when configured, else the system's roots.
		var files []string
		if p.CAFile != "" {
			files = append(files, p.CAFile)
		}
		registeredRoot := p.CAFile == "" && len(p.CAPEM) > 0
		roots, err := server.CertPool(p.CAFile == "" && !registeredRoot, files...)
		if err == nil && registeredRoot && !roots.AppendCertsFromPEM(p.CAPEM) {
			err = errors.New("the registered SPOC root is not a PEM certificate")
		}
		if err != nil {
			return nil, fmt.Errorf("spoc: partner %s: %w", p.Country, err)
		}
		o := server.PeerClientOptions{Name: "SPOC " + p.Country, Identity: own, Roots: roots, Timeout: p.Timeout}
		if c.requireEKU() {
			o.RequireEKU, o.EKUName = OIDTLSServer, "CSN 36 9791 server"
		}
		hc, err := server.NewPeerClient(o)
		if err != nil {
			return nil, fmt.Errorf("spoc: partner %s: %w", p.Country, err)
		}
		out[p.Country] = hc
	}
	return out, nil
}

// ErrNoPartner is returned for a country without a routing entry.
var ErrNoPartner = errors.New("spoc: no partner for this country")
