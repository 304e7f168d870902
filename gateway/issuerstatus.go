package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ra"
	"eacgate/store"
)

// issuerStatusTTL bounds how long the gateway trusts a read of an issuer's status: an
// operator's suspension or reinstatement, on this instance or another one on the database,
// takes effect for issuance within it. Requests in between cost no database read.
const issuerStatusTTL = 5 * time.Second

// issuerStatus caches whether this gateway's issuers (the CVCA, the DV under each of its
// certificates) may issue: not when an operator suspended or revoked the issuer's own
// certificate or its holder.
type issuerStatus struct {
	store  *store.Store
	logger *slog.Logger
	// ttl and now default to issuerStatusTTL and time.Now (tests set them).
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*statusEntry // CAR "/" CHR of the issuer's certificate
}

type statusEntry struct {
	err        error // the decision: nil (may issue) or why not
	until      time.Time
	refreshing bool
}

// withStatus makes iss ask the gateway's status cache before issuing.
func (g *Gateway) withStatus(iss *authority.Issuer) *authority.Issuer {
	cert := iss.Certificate()
	iss.Active = func() error { return g.issuerStatus.check(cert) }
	return iss
}

// check returns the cached decision on the issuer whose certificate is cert, reading it again
// when it is older than the TTL. While one caller reads, the others take the previous decision.
func (s *issuerStatus) check(cert *cvc.Certificate) error {
	key := cert.CAR + "/" + cert.CHR
	now := s.clock()
	s.mu.Lock()
	if s.entries == nil {
		s.entries = map[string]*statusEntry{}
	}
	e, ok := s.entries[key]
	if ok && (now.Before(e.until) || e.refreshing) {
		s.mu.Unlock()
		return e.err
	}
	if !ok {
		e = &statusEntry{}
		s.entries[key] = e
	}
	e.refreshing = true
	previous, known := e.err, ok
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var decision error
	reason, err := s.read(ctx, cert)
	if reason != "" {
		decision = fmt.Errorf("%w: %s", authority.ErrNotAccepted, reason)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e.refreshing = false
	if err != nil {
		s.log().Error("read the issuer's status", "issuer", cert.CHR, "err", err)
		if known {
			return previous // the last decision stands until a read succeeds
		}
		return fmt.Errorf("gateway: status of issuer %s: %w", cert.CHR, err)
	}
	if (decision == nil) != (previous == nil) && known {
		s.log().Warn("issuer status changed", "issuer", cert.CHR, "refused", decision)
	}
	e.err, e.until = decision, now.Add(s.lifetime())
	return decision
}

// read decides from the store: the issuer certificate's row (by CHR and CAR) must be valid,
// and its holder (the row's, or for a CVCA certificate without one a holder registered under
// the CVCA's name) active, with its newest certificate not suspended or revoked (the rule for
// applicants, ra.StoreRegistry.HolderByID). An issuer unknown to the store is active.
func (s *issuerStatus) read(ctx context.Context, cert *cvc.Certificate) (refused string, err error) {
	name := "DV"
	if cert.Role() == cvc.RoleCVCA {
		name = "CVCA"
	}
	rows, err := s.store.CertificatesByCHR(ctx, cert.CHR)
	if err != nil {
		return "", err
	}
	var holderID *int64
	for _, r := range rows {
		if r.CAR != cert.CAR {
			continue
		}
		if r.Status != store.CertValid {
			return fmt.Sprintf("issuer %s %s is %s (its certificate)", name, cert.CHR, r.Status), nil
		}
		holderID = r.HolderID
	}
	reg := ra.NewStoreRegistry(s.store)
	if holderID != nil {
		h, err := reg.HolderByID(ctx, *holderID)
		if errors.Is(err, ra.ErrUnknown) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		if h.Status != authority.StatusActive {
			return fmt.Sprintf("issuer %s %s is %s (its holder %s%s)", name, cert.CHR, h.Status, h.Country, h.Mnemonic), nil
		}
		return "", nil
	}
	ref, err := cvc.ParseReference(cert.CHR)
	if err != nil {
		return "", nil
	}
	h, err := s.store.HolderByName(ctx, ref.Country(), ref.Mnemonic())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	case h.Status != store.HolderActive:
		return fmt.Sprintf("issuer %s %s is %s (its holder %s%s)", name, cert.CHR, h.Status, h.Country, h.Mnemonic), nil
	}
	return "", nil
}

func (s *issuerStatus) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func (s *issuerStatus) lifetime() time.Duration {
	if s.ttl > 0 {
		return s.ttl
	}
	return issuerStatusTTL
}

func (s *issuerStatus) log() *slog.Logger {
	if s.logger != nil {
		return s.logger
	}
	return slog.Default()
}
