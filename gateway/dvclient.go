package gateway

import (
	"context"
	"errors"
	"fmt"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/dvclient"
	"eacgate/hsm"
	"eacgate/spoc"
)

// Wiring of the DV as a client of its CVCAs (package dvclient): which CVCA issues the DV's
// own certificates (the CVCA of this gateway, or one at dv_client.cvca_url) and which one
// its foreign certificates (through this gateway's SPOC, or the national SPOC at
// dv_client.cvca_url).

// errNoCVCA is the DV's renewal without a CVCA to ask.
var errNoCVCA = errors.New("gateway: the DV has no CVCA (set dv_client.cvca_url)")

// errNoForeignRoute is a foreign certificate of the DV without a way to the foreign CVCA.
var errNoForeignRoute = errors.New("gateway: foreign certificates for the DV need the SPOC role in this gateway or the national CVCA/SPOC at dv_client.cvca_url")

// newDVClient builds the DV client; its CVCAs are the remote one at dv_client.cvca_url, or
// none until setUpIssuers and routes find the local CVCA and the SPOC.
func (g *Gateway) newDVClient() {
	o := g.Options
	g.dv = &dvclient.Client{Store: g.Store, Keys: g.Keys, Country: o.Country, Mnemonic: o.DVMnemonic, KeyLabel: o.DVKey,
		Policy: o.Policy(), Schedule: o.DVClient.Schedule(), Instance: g.instance, Logger: g.logger,
		Wrap: func(iss *authority.Issuer, label string) *authority.Issuer {
			iss.Signer = g.timed(label, iss.Signer)
			return g.withStatus(iss)
		},
		Domestic: dvclient.Unavailable{Err: errNoCVCA}, Foreign: dvclient.Unavailable{Err: errNoForeignRoute}}
	if o.DVClient.CVCAURL == "" {
		return
	}
	hc, err := g.cvcaHTTPClient()
	if err != nil {
		g.dvRemoteErr = err
		g.dv.Domestic, g.dv.Foreign = dvclient.Unavailable{Err: err}, dvclient.Unavailable{Err: err}
		return
	}
	g.dvRemote = &dvclient.Remote{URL: o.DVClient.CVCAURL, HTTP: hc, Store: g.Store, Country: o.Country,
		Pins: o.DVClient.CVCASHA256, ResponseURL: o.DVClient.ResponseURL, Logger: g.logger}
	g.dv.Domestic, g.dv.Foreign = g.dvRemote, g.dvRemote
}

// useLocalCVCA makes the CVCA of this gateway issue the DV's own certificates.
func (g *Gateway) useLocalCVCA() {
	g.dv.Domestic = dvclient.InProcess{CVCA: g.CurrentCVCA, Store: g.Store, Logger: g.logger}
}

// useSPOC makes this gateway's SPOC carry the DV's requests to foreign CVCAs.
func (g *Gateway) useSPOC(fwd *spoc.Forwarder) {
	g.dv.Foreign = dvclient.ViaSPOC{Forwarder: fwd, Outgoing: spoc.Outgoing, Store: g.Store}
}

// remote returns the CVCA at dv_client.cvca_url.
func (g *Gateway) remote() (*dvclient.Remote, error) {
	switch {
	case g.dvRemoteErr != nil:
		return nil, g.dvRemoteErr
	case g.dvRemote == nil:
		return nil, errors.New("gateway: no remote CVCA: dv_client.cvca_url is not set")
	}
	return g.dvRemote, nil
}

// FetchCVCACertificates stores the certificates of the CVCA at dv_client.cvca_url that are
// new here (see dvclient.Remote.FetchCACertificates) and returns how many were added.
func (g *Gateway) FetchCVCACertificates(ctx context.Context) (int, error) {
	r, err := g.remote()
	if err != nil {
		return 0, err
	}
	return r.FetchCACertificates(ctx)
}

// InitDVRemote creates the DV of a gateway whose CVCA is at dv_client.cvca_url, audited
// with by's participants (see dvclient.Client.InitRemote).
func (g *Gateway) InitDVRemote(ctx context.Context, by cvca.Ceremony, chr string, spec hsm.KeySpec) (*cvc.Certificate, error) {
	r, err := g.remote()
	if err != nil {
		return nil, err
	}
	return g.dv.InitRemote(ctx, r, by, chr, spec)
}

// InitDV creates the DV: a new key (label Options.DVKey), the DV holder, and its first
// certificate from this gateway's CVCA, audited with by's participants (see
// dvclient.Client.InitLocal).
func (g *Gateway) InitDV(ctx context.Context, by cvca.Ceremony, chr string, spec hsm.KeySpec) (*cvc.Certificate, error) {
	if g.CVCA == nil {
		iss, err := g.cvca.Load(ctx)
		if err != nil || iss == nil {
			return nil, fmt.Errorf("gateway: no local CVCA to certify the DV (run 'eacgate init cvca', or request from the CVCA with 'eacgate init dv --out'): %v", err)
		}
		g.useCVCA(iss)
	}
	return g.dv.InitLocal(ctx, g.CVCA, by, chr, spec)
}
