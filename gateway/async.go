package gateway

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"eacgate/authority"
	"eacgate/callback"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
)

// modes is Options.Processing as the issuing services' per-role decision.
func (g *Gateway) modes() (func(*ra.Holder, msg.Message) ra.Mode, error) {
	byRole, err := g.Options.ProcessingModes()
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return func(h *ra.Holder, _ msg.Message) ra.Mode {
		return byRole[store.RoleOf(h.Role)]
	}, nil
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
			return g.cvca.ByCAR(car)
		}
	}
	for _, p := range server.DVProtocols {
		if p.Namespace == ns {
			return g.dvByCAR(car)
		}
	}
	return nil
}

// Worker returns the outbox worker of this gateway. Its deliveries present the gateway's
// TLS identity (Options.ClientCertificate, the server certificate partners register) to
// receivers that ask for a client certificate.
func (g *Gateway) Worker() (*callback.Worker, error) {
	o := g.Options.Callback
	policy, err := o.URLPolicy()
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
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
	// The dial guard: requester-supplied URLs never reach loopback, private or metadata
	// addresses (checked after resolution). Each delivery is bounded by callback.call_timeout.
	hc, err := server.NewPeerClient(server.PeerClientOptions{Name: "callback receiver", Identity: g.Options.ClientCertificate(),
		Roots: roots, Network: &policy.Network})
	if err != nil {
		return nil, fmt.Errorf("gateway: callback client: %w", err)
	}
	w := &callback.Worker{
		Store:       g.Store,
		Processor:   &callback.IssuerProcessor{Registry: ra.NewStoreRegistry(g.Store), Issuer: g.issuerFor, ByCAR: g.foreignIssuerFor},
		HTTP:        hc,
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
