// Package dvclient is the DV as a client of CVCAs: "get me a certificate from a CVCA" behind
// one interface (CVCA) with its implementations (the CVCA in this process, a remote CVCA over
// TR-03129, foreign CVCAs through this gateway's SPOC), the DV's issuers (its current
// certificate and its foreign chains) and the scheduler that renews them.
package dvclient

import (
	"context"
	"fmt"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/msg"
	"eacgate/store"
	"eacgate/trust"
)

// CVCA is where the DV gets a certificate from. The scheduler asks it in this order: is an
// earlier request still waiting (Pending), which CVCA certificates does a new one address
// (Chain), then sends it (Request); so no key is made for a request that cannot go out.
type CVCA interface {
	// FetchCACertificates stores the CVCA certificates the CVCA serves that are new here,
	// and returns how many were added (0 where the certificates are already local).
	FetchCACertificates(ctx context.Context) (int, error)
	// Pending reports whether an earlier request of the DV (holderID) to country's CVCA
	// still waits for its answer, so that no second one is sent meanwhile.
	Pending(ctx context.Context, holderID int64, country string, now time.Time) (bool, error)
	// Chain returns country's CVCA certificates a new request addresses, oldest first (the
	// newest is its CAR and gives the DV key's curve). Empty: the DV's current chain.
	Chain(ctx context.Context, country string) ([]*cvc.Certificate, error)
	// Request sends the DV's request. A certificate issued at once is stored and returned; a
	// nil certificate with an OK code is an acknowledgement (the certificate comes later by
	// SendCertificates); a refusal is an error.
	Request(ctx context.Context, r Request) (authority.ReturnCode, *cvc.Certificate, error)
}

// Request is a certificate request of the DV.
type Request struct {
	Holder  *store.Holder    // the DV
	Current *cvc.Certificate // the DV certificate that authenticates the request
	Message msg.Message      // RequestCertificate or RequestForeignCertificate
}

// Unavailable is the CVCA of a DV that has none for the purpose (no local CVCA and no
// dv_client.cvca_url; no SPOC for foreign certificates): every request fails with Err.
type Unavailable struct{ Err error }

// FetchCACertificates has nothing to fetch.
func (Unavailable) FetchCACertificates(context.Context) (int, error) { return 0, nil }

// Pending fails with u.Err.
func (u Unavailable) Pending(context.Context, int64, string, time.Time) (bool, error) {
	return false, u.Err
}

// Chain fails with u.Err.
func (u Unavailable) Chain(context.Context, string) ([]*cvc.Certificate, error) { return nil, u.Err }

// Request fails with u.Err.
func (u Unavailable) Request(context.Context, Request) (authority.ReturnCode, *cvc.Certificate, error) {
	return "", nil, u.Err
}

// cvcaPath returns a country's stored CVCA certificates (self-signed and link), oldest first
// (see trust.Store.Chain).
func cvcaPath(ctx context.Context, st *store.Store, country string) ([]*cvc.Certificate, error) {
	chain, err := trust.New(st).Chain(ctx, country)
	if err != nil {
		return nil, fmt.Errorf("dvclient: CVCA certificates of %s: %w", country, err)
	}
	return chain, nil
}
