package gateway

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"eacgate/authority"
	"eacgate/callback"
	"eacgate/server"
	"eacgate/store"
)

// modes reads Options.Processing into a per-role decision for the issuing services.
func (o Options) modes() (func(*server.Holder, server.Message) server.Mode, error) {
	byRole := map[store.Role]server.Mode{}
	for role, name := range o.Processing {
		r := store.Role(role)
		if r != store.RoleDVDomestic && r != store.RoleDVForeign && r != store.RoleTerminal {
			return nil, fmt.Errorf("gateway: processing: unknown role %q (dv_domestic, dv_foreign, terminal)", role)
		}
		m, err := server.ParseMode(name)
		if err != nil {
			return nil, fmt.Errorf("gateway: processing.%s: %w", role, err)
		}
		byRole[r] = m
	}
	return func(h *server.Holder, _ server.Message) server.Mode {
		return byRole[server.RoleToStore(h.Role)]
	}, nil
}

// checkResponseURL is the responseURL policy of Options.Callback.
// checkResponseURL is the responseURL policy of Options.Callback: https (http only with
// allow_http), and, when allowed_url_prefixes is set, under one of them, so that requesters
// cannot make the gateway post to arbitrary addresses.
func (o Options) checkResponseURL() func(string) error {
	scheme := server.CheckHTTPS
	if o.Callback.AllowHTTP {
		scheme = server.CheckHTTPOrHTTPS
	}
	prefixes := o.Callback.AllowedURLPrefixes
	return func(u string) error {
		if err := scheme(u); err != nil {
			return err
		}
		if len(prefixes) > 0 && !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(u, p) }) {
			return fmt.Errorf("responseURL %q is not under callback.allowed_url_prefixes", u)
		}
		return nil
	}
}

// issuerFor returns the issuer answering requests that came in protocol namespace ns.
func (g *Gateway) issuerFor(ns string) *authority.Issuer {
	for _, p := range slices.Concat(server.CVCAProtocols, server.SPOCProtocols) {
		if p.Namespace == ns {
			return g.CurrentCVCA()
		}
	}
	for _, p := range server.DVProtocols {
		if p.Namespace == ns {
			return g.CurrentDV()
		}
	}
	return nil
}

// foreignIssuerFor returns the issuer of another chain a request that came in protocol
// namespace ns names as CAR: the DV's foreign-chain issuers and a DV certificate renewed elsewhere for terminal requests, a CVCA key
// newer than the one in use for DV requests; or nil.
func (g *Gateway) foreignIssuerFor(ns, car string) *authority.Issuer {
	for _, p := range slices.Concat(server.CVCAProtocols, server.SPOCProtocols) {
		if p.Namespace == ns {
			return g.cvcaByCAR(car)
		}
	}
	for _, p := range server.DVProtocols {
		if p.Namespace == ns {
			return g.dvByCAR(car)
		}
	}
	return nil
}

// Worker returns the outbox worker of this gateway. clientCert, if not nil, is presented to
// receivers that ask for a TLS client certificate (normally the gateway's own server
// certificate, which partners register).
func (g *Gateway) Worker() (*callback.Worker, error) {
	o := g.Options.Callback
	// Receivers' certificates: the system's roots, callback.ca_file, and the partner SPOCs'
	// CAs (answers to foreign SPOCs go to their configured URLs).
	var files []string
	if o.CAFile != "" {
		files = append(files, o.CAFile)
	}
	for _, p := range g.Options.SPOC.Partners {
		if p.CAFile != "" {
			files = append(files, p.CAFile)
		}
	}
	roots, err := server.CertPool(true, files...)
	if err != nil {
		return nil, fmt.Errorf("gateway: callback trust: %w", err)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, GetClientCertificate: g.Options.clientCertificate()}
	transport := &http.Transport{
		TLSClientConfig:       tlsCfg,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	w := &callback.Worker{
		Store:     g.Store,
		Processor: &callback.IssuerProcessor{Registry: &server.StoreRegistry{Store: g.Store}, Issuer: g.issuerFor, ByCAR: g.foreignIssuerFor},
		HTTP:      &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		Config:    o.Config,
		Country:   g.Options.Country,
		Logger:    g.logger.With("component", "callback"),
	}
	if g.forwarder != nil {
		w.Forwards = g.forwarder
		// Answers to partner SPOCs go over that partner's client: its CA, its server usage.
		partners := map[string]*http.Client{}
		for _, p := range g.Options.SPOC.Partners {
			partners[p.URL] = g.forwarder.Clients[p.Country]
		}
		w.ClientFor = func(url string) *http.Client { return partners[url] }
	}
	return w, nil
}
