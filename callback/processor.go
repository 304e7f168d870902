package callback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
	"eacgate/trust"
)

// IssuerProcessor decides asynchronous certificate requests with the issuer of the
// interface they came in (the CVCA for /cvca, the DV for /dv), checking the holder and the
// request again at processing time: a holder suspended after the acknowledgement is refused.
type IssuerProcessor struct {
	Registry *ra.StoreRegistry
	// Issuer returns the issuer for a request that came in namespace ns (nil: none).
	Issuer func(ns string) *authority.Issuer
	// ByCAR, when set, returns another chain's issuer for requests that came in namespace ns
	// and name one of its certificates as inner CAR (see ra.IssuingService.ByCAR).
	ByCAR func(ns, car string) *authority.Issuer
}

// Process implements Processor.
func (p *IssuerProcessor) Process(ctx context.Context, m *store.Message) (authority.ReturnCode, *store.Certificate, error) {
	if m.Operation != "RequestCertificate" || m.HolderID == nil {
		return authority.FailureRequestNotAccepted, nil, nil
	}
	issuer := p.Issuer(m.Protocol)
	if issuer == nil {
		return "", nil, fmt.Errorf("callback: no issuer for protocol %q", m.Protocol)
	}
	h, err := p.Registry.HolderByID(ctx, *m.HolderID)
	if errors.Is(err, ra.ErrUnknown) {
		return authority.FailureRequestNotAccepted, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	if m.Protocol == server.SPOCProtocols[0].Namespace {
		// A foreign DV's request relayed by its SPOC: its outer signature is checked again
		// (TR-03139 Table 2 step 9), the authenticating certificate may have expired since.
		code, err := p.verifyForeign(ctx, h, m, issuer.Now)
		if code != "" || err != nil {
			return code, nil, err
		}
	}
	var byCAR func(string) *authority.Issuer
	if p.ByCAR != nil {
		byCAR = func(car string) *authority.Issuer { return p.ByCAR(m.Protocol, car) }
	}
	choice, err := ra.ChooseIssuer(ctx, p.Registry, h, issuer, byCAR, m.Request)
	if err != nil {
		return "", nil, err
	}
	cert, err := choice.Issue(m.Request)
	if err != nil {
		code := authority.CodeFor(err)
		if code == authority.FailureInternalError {
			return "", nil, err
		}
		return code, nil, nil
	}
	row, err := p.Registry.CertificateRow(ctx, h.ID, cert)
	if err != nil {
		return "", nil, err
	}
	row.Issued = issuance(h, m)
	// The database refuses a repeated CHR or key when the answer is stored; refusing here
	// answers the requester instead of failing the item (a concurrent request that stores
	// first still makes that fail, and the retry is refused here).
	exists, err := p.Registry.Store.CertificateExists(ctx, row.CAR, row.CHR, row.KeySHA256)
	if err != nil {
		return "", nil, err
	}
	if exists {
		return authority.FailureRequestNotAccepted, nil, nil
	}
	return authority.OKCertAvailable, row, nil
}

// authenticatedBy tells the issuer which verified certificate authenticated foreign DV h's
// request: its domestic CVCA's for an initial request, else the certificate of ours it
// signed a renewal with (any still valid one, not only the newest).
func authenticatedBy(h *ra.Holder, verified *cvc.Certificate) {
	if verified.Role() == cvc.RoleCVCA {
		h.ForeignCVCA = verified
	} else {
		h.Current = verified
	}
}

// verifyForeign checks the outer signature of foreign DV h's request m (see
// trust.Store.VerifyForeignRequest) and sets h.ForeignCVCA for an initial one, at the time of the issuer's clock. A refusal is
// its code, audited; an error is internal.
func (p *IssuerProcessor) verifyForeign(ctx context.Context, h *ra.Holder, m *store.Message, clock func() time.Time) (authority.ReturnCode, error) {
	req, err := cvc.ParseRequest(m.Request)
	if err != nil {
		return authority.FailureSyntax, nil
	}
	now := time.Now()
	if clock != nil {
		now = clock() // the issuer's
	}
	issued, err := p.Registry.ValidCertificates(ctx, h.ID, now)
	if err != nil {
		return "", fmt.Errorf("callback: %w", err)
	}
	verified, err := trust.New(p.Registry.Store).VerifyForeignRequest(ctx, req, h.Country, issued, now)
	if err == nil {
		authenticatedBy(h, verified)
		return "", nil
	}
	code := authority.CodeFor(err)
	if code == authority.FailureInternalError {
		return "", err
	}
	details, _ := json.Marshal(map[string]string{"messageID": m.MessageID, "code": string(code), "reason": err.Error()})
	if _, aerr := p.Registry.Store.AppendAudit(ctx, store.AuditEvent{Actor: "callback", Action: "foreign_request.refused",
		Target: req.CHR, Source: "spoc", Outcome: string(code), Details: string(details)}); aerr != nil {
		return "", fmt.Errorf("callback: audit refused foreign request: %w", aerr)
	}
	return code, nil
}

// issuance describes to the audit the certificate signed for queued request m of holder h
// (stored with its ca.issue event, see store.Issuance). The caller's address was not kept
// with the request: the event's source is empty.
func issuance(h *ra.Holder, m *store.Message) *store.Issuance {
	if m.Protocol == server.SPOCProtocols[0].Namespace {
		h.Caller = "spoc:" + h.Country // relayed by the DV's own SPOC
	}
	is := ra.IssuanceFor(h, m.MessageID)
	if m.Approval == store.ApprovalApproved {
		is.ApprovedBy = m.DecidedBy
	}
	return is
}
