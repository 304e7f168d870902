package dvclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/ra"
	"eacgate/store"
)

// InProcess is the CVCA of this gateway: the DV's requests are issued by its issuer
// directly, recorded and audited.
type InProcess struct {
	// CVCA returns the CVCA issuer in use (after rollovers).
	CVCA   func() *authority.Issuer
	Store  *store.Store
	Logger *slog.Logger
}

// FetchCACertificates has nothing to fetch: the CVCA's certificates are stored here.
func (InProcess) FetchCACertificates(context.Context) (int, error) { return 0, nil }

// Pending is always false: the local CVCA answers at once.
func (InProcess) Pending(context.Context, int64, string, time.Time) (bool, error) { return false, nil }

// Chain returns the path of the CVCA issuer in use; a suspended CVCA would refuse, so it
// fails then (no key is made for nothing: its label would block the renewal after the
// reinstatement).
func (l InProcess) Chain(context.Context, string) ([]*cvc.Certificate, error) {
	iss := l.CVCA()
	if iss == nil {
		return nil, errors.New("dvclient: the local CVCA is not set up")
	}
	if iss.Active != nil {
		if err := iss.Active(); err != nil {
			return nil, err
		}
	}
	return iss.Path, nil
}

// Request issues the certificate and stores it with the DV in one transaction with its
// audit events: ca.issue (our CVCA's signature) and dv.renew (the DV's renewal).
func (l InProcess) Request(ctx context.Context, r Request) (authority.ReturnCode, *cvc.Certificate, error) {
	cvcaIss := l.CVCA()
	if cvcaIss == nil {
		return "", nil, errors.New("dvclient: the local CVCA is not set up")
	}
	h := r.Holder
	cert, err := cvcaIss.Issue(r.Message.CertReq, authority.Applicant{Country: h.Country, Mnemonic: h.Mnemonic,
		Role: cvc.RoleDVDomestic, Status: authority.HolderStatus(h.Status), Current: r.Current})
	if err != nil {
		return "", nil, err
	}
	by := cvca.Ceremony{Actor: "dv-client"}
	d := by.Details(cert, h.Country+h.Mnemonic, nil)
	d.Requester, d.MessageID, d.Previous = h.Country+h.Mnemonic, r.Message.MessageID, r.Current.CHR
	issued, err := by.Event(cvca.EventIssue, d)
	if err != nil {
		return "", nil, err
	}
	renewed := store.AuditEvent{Actor: "dv-client", Action: "dv.renew", Target: cert.CHR,
		Source: "local", Outcome: "ok", Details: fmt.Sprintf(`{"previous":%q}`, r.Current.CHR)}
	err = cvca.StoreAudited(ctx, l.Store, "store DV certificate "+cert.CHR, func(tx *store.Store) error {
		return ra.NewStoreRegistry(tx).RecordCertificate(ctx, h.ID, cert)
	}, issued, renewed)
	if err != nil {
		return "", nil, fmt.Errorf("dvclient: record DV certificate %s: %w", cert.CHR, err)
	}
	return authority.OKCertAvailable, cert, nil
}

func logger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.Default()
}
