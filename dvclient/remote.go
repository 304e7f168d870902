package dvclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
	"eacgate/trust"
)

// Remote is a CVCA in another gateway (dv_client.cvca_url), reached over TR-03129 (CVCA
// protocol v1.1) with mutual TLS: the DV's own CVCA, and through it (as the national SPOC)
// foreign CVCAs.
type Remote struct {
	URL string
	// HTTP is the client towards the CVCA (our TLS identity, the CVCA's trust), built once
	// by the caller.
	HTTP *http.Client
	// Store holds the DV, its outgoing messages and the CVCA certificates.
	Store *store.Store
	// Country is the DV's and its CVCA's country.
	Country string
	// Pins are the SHA-256 of the CVCA's root certificate (dv_client.cvca_sha256); none: the
	// first root is taken on trust of the TLS connection.
	Pins []string
	// ResponseURL is where the CVCA may answer later (dv_client.response_url); empty: only
	// synchronous answers are possible.
	ResponseURL string
	Logger      *slog.Logger
	Now         func() time.Time // default time.Now
}

func (r *Remote) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// call sends one TR-03129 request to the CVCA.
func (r *Remote) call(ctx context.Context, m msg.Message) (msg.Answer, error) {
	p := server.CVCAProtocols[0]
	body, err := server.EncodeRequest(p, m)
	if err != nil {
		return msg.Answer{}, fmt.Errorf("dvclient: encode %s: %w", m.Operation, err)
	}
	return server.Call(ctx, r.HTTP, r.URL, p, m.Operation, body)
}

// FetchCACertificates asks the CVCA for its certificates (GetCACertificates) and stores
// the CVCA certificates of our country not yet known: the first root on trust of the
// authenticated TLS connection to the configured CVCA (or of a pin), later ones only as link
// certificates that verify against the stored chain. It returns how many were added.
func (r *Remote) FetchCACertificates(ctx context.Context) (int, error) {
	a, err := r.call(ctx, msg.Message{Operation: "GetCACertificates"})
	if err != nil {
		return 0, err
	}
	if a.ReturnCode != authority.OKCertAvailable {
		return 0, fmt.Errorf("dvclient: GetCACertificates answered %s", a.ReturnCode)
	}
	return trust.New(r.Store).AddFromPeer(ctx, r.Country, a.Certificates, r.Pins, logger(r.Logger))
}

// Pending reports whether a request sent within the last day still waits for the CVCA's
// callback: for our country a renewal (RequestCertificate), for another one a
// RequestForeignCertificate naming a CVCA of that country.
func (r *Remote) Pending(ctx context.Context, holderID int64, country string, now time.Time) (bool, error) {
	op := "RequestForeignCertificate"
	if country == r.Country {
		op = "RequestCertificate"
	}
	pending, err := r.Store.PendingOutgoingRequests(ctx, holderID, server.CVCAProtocols[0].Namespace, op, now.Add(-24*time.Hour))
	if err != nil {
		return false, err
	}
	if country == r.Country {
		return len(pending) > 0, nil
	}
	for _, m := range pending {
		if req, err := cvc.ParseRequest(m.Request); err == nil && strings.HasPrefix(req.CAR, country) {
			return true, nil
		}
	}
	return false, nil
}

// Chain returns the stored CVCA certificates of country (fetched by FetchCACertificates for
// ours; a foreign CVCA's are added by the operator).
func (r *Remote) Chain(ctx context.Context, country string) ([]*cvc.Certificate, error) {
	chain, err := cvcaPath(ctx, r.Store, country)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 && country != r.Country {
		return nil, fmt.Errorf("dvclient: no CVCA certificate of %s stored: add it with 'eacgate trust add --sha256 ...'", country)
	}
	return chain, nil
}

// Request sends a certificate request of the DV (its renewal, or RequestForeignCertificate
// for a foreign CVCA through the national SPOC), recorded first as an outgoing message.
// Certificates answered at once are checked against the request (ra.StoreRegistry.AnswerRows)
// and stored with the answer. An acknowledgement (ok_syntax, ok_reception_ack,
// ok_request_forwarded) leaves the message waiting for SendCertificates to ResponseURL, and
// is returned without an error; a refusal is stored and returned as an error.
func (r *Remote) Request(ctx context.Context, req Request) (authority.ReturnCode, *cvc.Certificate, error) {
	code, rows, err := r.request(ctx, req.Holder, req.Message)
	if err != nil || code != authority.OKCertAvailable {
		return code, nil, err
	}
	cert, err := cvc.ParseCertificate(rows[0].Raw)
	if err != nil {
		return code, nil, fmt.Errorf("dvclient: certificate from the CVCA: %w", err)
	}
	return code, cert, nil
}

func (r *Remote) request(ctx context.Context, holder *store.Holder, m msg.Message) (authority.ReturnCode, []*store.Certificate, error) {
	hid := holder.ID
	out := &store.Message{Originator: "self", MessageID: m.MessageID, Operation: m.Operation, Request: m.CertReq, HolderID: &hid,
		Protocol: server.CVCAProtocols[0].Namespace, Direction: store.Outgoing, State: store.MessageProcessing}
	// Callbacks are accepted from the CVCA registered here (role cvca, our country).
	cvcas, err := r.Store.ListHolders(ctx, store.HolderFilter{Role: store.RoleCVCA, Status: store.HolderActive, Country: r.Country})
	if err != nil {
		return "", nil, err
	}
	if r.ResponseURL != "" && len(cvcas) > 0 {
		m.CallbackPossible, m.ResponseURL = true, r.ResponseURL
		out.Peer = ra.Originator(cvcas[0].ID)
	}
	if err := r.Store.AcceptMessage(ctx, out, nil); err != nil {
		return "", nil, err
	}
	a, err := r.call(ctx, m)
	if err != nil {
		_ = r.Store.UpdateMessage(ctx, out.ID, store.MessageFailed, string(authority.FailureNotForwarded), nil)
		return "", nil, err
	}
	switch a.ReturnCode {
	case authority.OKSyntax, authority.OKReceptionAck, authority.OKRequestForwarded:
		if out.Peer == "" {
			// Nobody may call back: the answer would never be taken.
			_ = r.Store.UpdateMessage(ctx, out.ID, store.MessageFailed, string(a.ReturnCode), nil)
			return a.ReturnCode, nil, fmt.Errorf("dvclient: the CVCA answered %s %s, but no callback is possible (dv_client.response_url and a registered CVCA)", m.Operation, a.ReturnCode)
		}
		return a.ReturnCode, nil, nil
	case authority.OKCertAvailable:
	default:
		_ = r.Store.AnswerMessage(ctx, out.ID, string(a.ReturnCode), nil)
		return a.ReturnCode, nil, fmt.Errorf("dvclient: the CVCA refused %s: %s", m.Operation, a.ReturnCode)
	}
	rows, result, err := ra.NewStoreRegistry(r.Store).AnswerRows(ctx, holder.ID, m.CertReq, a.Certificates, r.now())
	if errors.Is(err, trust.ErrAnswerUnverified) {
		_ = r.Store.AnswerMessage(ctx, out.ID, string(authority.FailureSyntax), nil)
		return a.ReturnCode, nil, fmt.Errorf("dvclient: the CVCA's answer to %s: %w", m.Operation, err)
	}
	if err != nil {
		return "", nil, err
	}
	if err := r.storeAnswer(ctx, holder, m.MessageID, out.ID, string(a.ReturnCode), result, rows); err != nil {
		return "", nil, err
	}
	return a.ReturnCode, rows, nil
}

// storeAnswer stores the CVCA's answer to message id with the certificates it brought, each
// recorded as certificate.received (signed by a CVCA elsewhere) in the same transaction.
func (r *Remote) storeAnswer(ctx context.Context, holder *store.Holder, messageID string, id int64, code string, result []byte, rows []*store.Certificate) error {
	if len(rows) == 0 {
		return r.Store.AnswerMessage(ctx, id, code, result)
	}
	by := cvca.Ceremony{Actor: "dv-client", Source: r.URL}
	var events []store.AuditEvent
	for _, row := range rows {
		cert, err := cvc.ParseCertificate(row.Raw)
		if err != nil {
			return fmt.Errorf("dvclient: certificate from the CVCA: %w", err)
		}
		d := by.Details(cert, holder.Country+holder.Mnemonic, nil)
		d.Requester, d.MessageID = holder.Country+holder.Mnemonic, messageID
		ev, err := by.Event(cvca.EventReceived, d)
		if err != nil {
			return err
		}
		events = append(events, ev)
	}
	return cvca.StoreAudited(ctx, r.Store, "store the CVCA's answer", func(tx *store.Store) error {
		return tx.AnswerMessage(ctx, id, code, result, rows...)
	}, events...)
}
