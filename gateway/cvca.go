package gateway

import (
	"context"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/hsm"
)

// Wiring of the CVCA role (package cvca): its keys and certificates in this gateway's store
// and keystore, its issuers readied like every issuer here (timed signer, suspension).

// newCVCA builds the CVCA of Options.Country; its issuer is loaded by setUpIssuers.
func (g *Gateway) newCVCA() {
	o := g.Options
	var partners []cvca.Partner
	for _, p := range o.SPOC.Partners {
		partners = append(partners, cvca.Partner{Country: p.Country, URL: p.URL})
	}
	g.cvca = &cvca.Authority{Store: g.Store, Keys: g.Keys, Country: o.Country, KeyLabel: o.CVCAKey, Policy: o.Policy(),
		Partners: partners, Logger: g.logger,
		Wrap: func(iss *authority.Issuer, label string) *authority.Issuer {
			iss.Signer = g.timed(label, iss.Signer)
			return g.withStatus(iss)
		}}
}

// CurrentCVCA returns the CVCA issuer in use: the key of the newest CVCA certificate, which a
// rollover (RolloverCVCA, possibly by another process on the database) replaces while the
// gateway serves. Nil without the CVCA role.
func (g *Gateway) CurrentCVCA() *authority.Issuer {
	if g.cvca != nil {
		if cur := g.cvca.Current(); cur != nil {
			return cur
		}
	}
	return g.CVCA
}

// useCVCA makes iss, loaded by the CVCA, this gateway's CVCA issuer.
func (g *Gateway) useCVCA(iss *authority.Issuer) {
	g.CVCA = iss
	g.useLocalCVCA()
}

// InitCVCA creates the country's CVCA, audited with by's participants (see
// cvca.Authority.Init): the entry point of eacgate init cvca and of an approved proposal.
func (g *Gateway) InitCVCA(ctx context.Context, by cvca.Ceremony, chr string, spec hsm.KeySpec, years int) (*cvc.Certificate, error) {
	return g.cvca.Init(ctx, by, chr, spec, years)
}

// RolloverCVCA moves the CVCA to a new key with a link certificate and notifies the SPOC
// partners, audited with by's participants (see cvca.Authority.Rollover): the entry point of
// eacgate cvca rollover and of an approved proposal.
func (g *Gateway) RolloverCVCA(ctx context.Context, by cvca.Ceremony, chr string, spec hsm.KeySpec, years int) (*cvc.Certificate, error) {
	return g.cvca.Rollover(ctx, by, chr, spec, years)
}

// RunCVCAWatch takes up CVCA rollovers made elsewhere while the gateway serves, until ctx
// ends (see cvca.Authority.Watch).
func (g *Gateway) RunCVCAWatch(ctx context.Context) { g.cvca.Watch(ctx) }

// everyInterval calls fn every interval until ctx ends.
func everyInterval(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
