package gateway

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"strconv"
	"time"

	"eacgate/authority"
	"eacgate/server"
	"eacgate/store"
)

// timedSigner measures each signature of a CA key for /metrics.
type timedSigner struct {
	crypto.Signer
	label   string
	metrics *server.Metrics
}

func (s timedSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	start := time.Now()
	sig, err := s.Signer.Sign(rand, digest, opts)
	s.metrics.ObserveSign(s.label, time.Since(start))
	return sig, err
}

// timed wraps a CA key so that its signatures are measured (label: the key's role label).
func (g *Gateway) timed(label string, key crypto.Signer) crypto.Signer {
	return timedSigner{Signer: key, label: label, metrics: g.metrics}
}

// gauges computes the store-backed gauges of /metrics: the outbox's depth and age, and
// the certificates expiring soon.
func (g *Gateway) gauges(ctx context.Context) ([]server.Gauge, error) {
	st, err := g.Store.OutboxStatistics(ctx)
	if err != nil {
		return nil, err
	}
	const depth = "eacgate_outbox_items"
	const depthHelp = "Outbox items (callbacks, forwardings) by state: held waits for an operator, pending for a worker, dead for an operator's retry."
	out := []server.Gauge{
		{Name: depth, Help: depthHelp, Labels: [][2]string{{"state", "held"}}, Value: float64(st.Held)},
		{Name: depth, Help: depthHelp, Labels: [][2]string{{"state", "pending"}}, Value: float64(st.Pending)},
		{Name: depth, Help: depthHelp, Labels: [][2]string{{"state", "dead"}}, Value: float64(st.Dead)},
	}
	age := 0.0
	if !st.OldestPending.IsZero() {
		age = time.Since(st.OldestPending).Seconds()
	}
	out = append(out, server.Gauge{Name: "eacgate_outbox_oldest_pending_age_seconds", Help: "Age of the oldest pending outbox item (0 when none).", Value: age})
	if g.Store.Dialect() == store.DialectSQLite {
		groups, requests := g.Store.GroupCommitStats()
		out = append(out,
			server.Gauge{Name: "eacgate_store_group_commits_total", Help: "SQLite commits of synchronous requests (each with one fsync).", Value: float64(groups), Counter: true},
			server.Gauge{Name: "eacgate_store_group_committed_requests_total", Help: "Synchronous requests written by those commits (divided by the commits: the mean group size).", Value: float64(requests), Counter: true})
	}
	now := time.Now()
	for _, days := range []int{7, 30} {
		byRole, err := g.Store.CountExpiring(ctx, now, now.UTC().Truncate(24*time.Hour).AddDate(0, 0, days+1))
		if err != nil {
			return nil, err
		}
		for _, role := range []store.Role{store.RoleCVCA, store.RoleDVDomestic, store.RoleDVForeign, store.RoleTerminal} {
			out = append(out, server.Gauge{Name: "eacgate_certificates_expiring", Help: "Valid certificates expiring within the given number of days, by role.",
				Labels: [][2]string{{"role", string(role)}, {"within_days", strconv.Itoa(days)}}, Value: float64(byRole[role])})
		}
	}
	return append(out, g.issuerExpiry(now)...), nil
}

// issuerExpiry gives the seconds until each certificate this gateway issues under expires
// (the end of its expiration day): the CVCA's, the DV's domestic and foreign ones. These
// are the expiries an operator must never miss.
func (g *Gateway) issuerExpiry(now time.Time) []server.Gauge {
	const name = "eacgate_issuer_certificate_expiry_seconds"
	const help = "Seconds until a certificate this gateway issues under expires (end of its expiration day), by issuer and CHR."
	var out []server.Gauge
	add := func(kind string, is *authority.Issuer) {
		if is == nil {
			return
		}
		c := is.Certificate()
		out = append(out, server.Gauge{Name: name, Help: help, Labels: [][2]string{{"issuer", kind}, {"chr", c.CHR}},
			Value: c.ExpirationDate.Time().Add(24 * time.Hour).Sub(now).Seconds()})
	}
	add("cvca", g.CurrentCVCA())
	add("dv", g.CurrentDV())
	for _, is := range g.dv.ForeignIssuers() {
		add("dv_foreign", is)
	}
	return out
}

// tlsExpiry gives the seconds until the TLS certificate the gateway serves (and presents as
// client to partners) expires: a separate collector from gauges, so that a failing database
// does not hide it. Asked of IdentityFunc at each scrape, it follows a reloaded certificate.
// None on plain HTTP.
func (g *Gateway) tlsExpiry(context.Context) ([]server.Gauge, error) {
	var cert *tls.Certificate
	switch {
	case g.Options.IdentityFunc != nil:
		cert = g.Options.IdentityFunc()
	case g.Options.Identity != nil:
		cert = g.Options.Identity
	}
	if cert == nil || len(cert.Certificate) == 0 {
		return nil, nil
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("gateway: TLS certificate: %w", err)
		}
	}
	return []server.Gauge{{Name: "eacgate_tls_certificate_expiry_seconds",
		Help:  "Seconds until the TLS certificate the gateway serves (and presents as client to partners and callback receivers) expires (its NotAfter).",
		Value: time.Until(leaf.NotAfter).Seconds()}}, nil
}
