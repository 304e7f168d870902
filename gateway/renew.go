package gateway

import (
	"context"

	"eacgate/authority"
)

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
