package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"eacgate/authority"
	"eacgate/callback"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
)

// modes reads Options.Processing into a per-role decision for the issuing services.
func (o Options) modes() (func(*ra.Holder, msg.Message) ra.Mode, error) {
	byRole := map[store.Role]ra.Mode{}
	for role, name := range o.Processing {
		r := store.Role(role)
		if r != store.RoleDVDomestic && r != store.RoleDVForeign && r != store.RoleTerminal {
			return nil, fmt.Errorf("gateway: processing: unknown role %q (dv_domestic, dv_foreign, terminal)", role)
		}
		m, err := ra.ParseMode(name)
		if err != nil {
			return nil, fmt.Errorf("gateway: processing.%s: %w", role, err)
		}
		byRole[r] = m
	}
	return func(h *ra.Holder, _ msg.Message) ra.Mode {
		return byRole[ra.RoleToStore(h.Role)]
	}, nil
}

// urlPolicy is the responseURL policy of Options.Callback: https (http only with
// allow_http), under one of allowed_url_prefixes when set, and, for callbacks to
// requester-supplied URLs, only public addresses unless allow_private_addresses or
// allowed_networks say otherwise (checked on the URL's IP literal at acceptance, and on
// the resolved address at every connection).
func (o Options) urlPolicy() (server.URLPolicy, error) {
	p := server.URLPolicy{AllowHTTP: o.Callback.AllowHTTP, AllowedPrefixes: o.Callback.AllowedURLPrefixes,
		Network: server.NetworkPolicy{AllowPrivate: o.Callback.AllowPrivateAddresses}}
	var errs []error
	for _, n := range o.Callback.AllowedNetworks {
		pre, err := netip.ParsePrefix(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("gateway: callback.allowed_networks: %w", err))
			continue
		}
		p.Network.Allowed = append(p.Network.Allowed, pre.Masked())
	}
	return p, errors.Join(errs...)
}

// checkResponseURL is the check of every operation that takes a responseURL (an invalid
// configuration refuses every URL; Worker reports it at start).
func (o Options) checkResponseURL() func(string) error {
	p, err := o.urlPolicy()
	if err != nil {
		return func(string) error { return err }
	}
	return p.Check
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
	policy, err := g.Options.urlPolicy()
	if err != nil {
		return nil, err
	}
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
	tlsCfg := server.BaseTLSConfig()
	tlsCfg.RootCAs, tlsCfg.GetClientCertificate = roots, g.Options.clientCertificate()
	transport := &http.Transport{
		TLSClientConfig: tlsCfg,
		// The dial guard: requester-supplied URLs never reach loopback, private or metadata
		// addresses (checked after resolution). No proxy: it would hide the address.
		DialContext:           policy.Network.DialContext(10*time.Second, 30*time.Second),
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	w := &callback.Worker{
		Store:       g.Store,
		Processor:   &callback.IssuerProcessor{Registry: ra.NewStoreRegistry(g.Store), Issuer: g.issuerFor, ByCAR: g.foreignIssuerFor},
		HTTP:        &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		Config:      o.Config,
		Country:     g.Options.Country,
		Logger:      g.logger.With("component", "callback"),
		CheckTarget: policy.Check,
	}
	if g.metrics != nil {
		g.metrics.AddGauges(func(context.Context) ([]server.Gauge, error) {
			st := w.Stats()
			return []server.Gauge{
				{Name: "eacgate_callback_processing_errors_total", Help: "Failures of our own (keystore, database) while processing outbox items; retried, never dead-lettered: alert when it rises.", Value: float64(st.ProcessingErrors), Counter: true},
				{Name: "eacgate_callback_delivery_failures_total", Help: "Failed callback delivery attempts.", Value: float64(st.DeliveryFailures), Counter: true},
				{Name: "eacgate_callback_claim_errors_total", Help: "Failed outbox queue polls (database errors).", Value: float64(st.ClaimErrors), Counter: true},
				{Name: "eacgate_callback_target_busy_total", Help: "Outbox items put back because their target had too many deliveries in flight.", Value: float64(st.TargetBusy), Counter: true},
			}, nil
		})
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
