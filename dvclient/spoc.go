package dvclient

import (
	"context"
	"fmt"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/store"
)

// Forwarder is the national side of this gateway's SPOC (spoc.Forwarder), which sits above
// this package.
type Forwarder interface {
	// Forward sends a request of a domestic holder to the foreign CVCA its CAR names.
	Forward(ctx context.Context, h *ra.Holder, m msg.Message) msg.Answer
	// FetchCACertificates stores country's CVCA certificates new here.
	FetchCACertificates(ctx context.Context, country string) (int, error)
}

// ViaSPOC reaches foreign CVCAs through this gateway's SPOC: the request goes through the
// national rules and out to the partner SPOC; its answer (at once or by the partner's later
// SendCertificates) is stored with the DV by the forwarder.
type ViaSPOC struct {
	Forwarder Forwarder
	// Outgoing names the peer the forwarder records requests to country under (spoc.Outgoing).
	Outgoing func(country string) string
	Store    *store.Store
}

// FetchCACertificates has nothing to fetch for all countries at once: Chain fetches the
// certificates of the country asked for.
func (ViaSPOC) FetchCACertificates(context.Context) (int, error) { return 0, nil }

// Pending reports whether an earlier request to country still waits for the partner's answer.
func (s ViaSPOC) Pending(ctx context.Context, holderID int64, country string, _ time.Time) (bool, error) {
	n, err := s.Store.PendingOutgoing(ctx, holderID, s.Outgoing(country))
	return n > 0, err
}

// Chain fetches country's CVCA certificates from its SPOC and returns the stored ones.
func (s ViaSPOC) Chain(ctx context.Context, country string) ([]*cvc.Certificate, error) {
	if _, err := s.Forwarder.FetchCACertificates(ctx, country); err != nil {
		return nil, fmt.Errorf("dvclient: CA certificates of %s: %w", country, err)
	}
	chain, err := cvcaPath(ctx, s.Store, country)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("dvclient: no CVCA certificate of %s", country)
	}
	return chain, nil
}

// Request forwards the request; the certificate comes with the answer stored by the
// forwarder, so none is returned.
func (s ViaSPOC) Request(ctx context.Context, r Request) (authority.ReturnCode, *cvc.Certificate, error) {
	h := &ra.Holder{ID: r.Holder.ID, Country: r.Holder.Country, Mnemonic: r.Holder.Mnemonic, Role: cvc.RoleDVDomestic,
		Status: authority.HolderStatus(r.Holder.Status)}
	a := s.Forwarder.Forward(ctx, h, r.Message)
	if !a.ReturnCode.OK() {
		return a.ReturnCode, nil, fmt.Errorf("dvclient: %s to %s: %s", r.Message.Operation, r.Message.ForeignCAR, a.ReturnCode)
	}
	return a.ReturnCode, nil, nil
}
