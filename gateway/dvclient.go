package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
	"eacgate/trust"
)

// The DV as a client of a CVCA in another gateway (dv_client.cvca_url): its first
// certificate (eacgate init dv --cvca-url), renewals, and the CVCA certificates it serves to
// terminals, over TR-03129 with mutual TLS.

// remoteCVCA reports whether the DV's CVCA is reached over the network.
func (g *Gateway) remoteCVCA() bool { return g.Options.DVClient.CVCAURL != "" }

// callCVCA sends one TR-03129 request (CVCA protocol v1.1) to the CVCA.
func (g *Gateway) callCVCA(ctx context.Context, m msg.Message) (msg.Answer, error) {
	hc := g.cvcaHTTP
	if hc == nil {
		return msg.Answer{}, errors.New("gateway: no remote CVCA configured (dv_client.cvca_url)")
	}
	p := server.CVCAProtocols[0]
	body, err := server.EncodeRequest(p, m)
	if err != nil {
		return msg.Answer{}, err
	}
	return server.Call(ctx, hc, g.Options.DVClient.CVCAURL, p, m.Operation, body)
}

// FetchCVCACertificates asks the CVCA for its certificates (GetCACertificates) and stores
// the CVCA certificates of our country not yet known: the first root on trust of the
// authenticated TLS connection to the configured CVCA, later ones only as link certificates
// that verify against the stored chain. It returns how many were added.
func (g *Gateway) FetchCVCACertificates(ctx context.Context) (int, error) {
	a, err := g.callCVCA(ctx, msg.Message{Operation: "GetCACertificates"})
	if err != nil {
		return 0, err
	}
	if a.ReturnCode != authority.OKCertAvailable {
		return 0, fmt.Errorf("gateway: GetCACertificates answered %s", a.ReturnCode)
	}
	reg := trust.New(g.Store)
	added := 0
	for _, raw := range a.Certificates {
		c, err := cvc.ParseCertificate(raw)
		if err != nil || c.Role() != cvc.RoleCVCA || c.CHR[:2] != g.Options.Country {
			continue
		}
		trusted, pinned := trust.FirstRootTrust(c, g.Options.DVClient.CVCASHA256)
		ok, err := reg.AddCVCACertificate(ctx, c, trusted)
		if errors.Is(err, trust.ErrUnverified) {
			g.logger.Warn("CVCA certificate from the CVCA ignored", "chr", c.CHR, "sha256", trust.CertificateSHA256(c), "err", err)
			continue
		}
		if err != nil {
			return added, err
		}
		if ok {
			added++
			g.logger.Info("CVCA certificate stored", "chr", c.CHR, "sha256", trust.CertificateSHA256(c), "pinned", pinned)
		}
	}
	return added, nil
}

// InitDVRemote creates the DV of a gateway whose CVCA is elsewhere: the CVCA certificates
// are fetched, a key made (label Options.DVKey), and the first certificate requested
// synchronously. The CVCA must have registered this gateway's TLS certificate for the DV.
func (g *Gateway) InitDVRemote(ctx context.Context, chr string, spec hsm.KeySpec) (*cvc.Certificate, error) {
	o := g.Options
	if _, err := g.FetchCVCACertificates(ctx); err != nil {
		return nil, fmt.Errorf("gateway: CVCA certificates from %s: %w", o.DVClient.CVCAURL, err)
	}
	chain, err := g.cvcaPath(ctx, o.Country)
	if err != nil || len(chain) == 0 {
		return nil, fmt.Errorf("gateway: no CVCA certificate of %s from %s (%v)", o.Country, o.DVClient.CVCAURL, err)
	}
	cvca := chain[len(chain)-1]
	if spec.Algorithm == cvc.AlgorithmUnknown {
		spec = hsm.KeySpec{Algorithm: cvca.PublicKey.Algorithm}
		if d := cvc.Domain(chain); d != nil {
			spec.Curve = d.Name()
		}
	}
	key, err := g.Keys.Generate(ctx, o.DVKey, spec)
	if err != nil {
		return nil, err
	}
	h, err := g.Store.HolderByName(ctx, o.Country, o.DVMnemonic)
	if errors.Is(err, store.ErrNotFound) {
		h = &store.Holder{Country: o.Country, Mnemonic: o.DVMnemonic, Role: store.RoleDVDomestic, Status: store.HolderActive}
		err = g.Store.CreateHolder(ctx, h)
	}
	if err != nil {
		return nil, err
	}
	pub, err := cvc.NewPublicKey(key.Algorithm(), key.Public(), false)
	if err != nil {
		return nil, err
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: cvca.CHR, CHR: chr}, pub, key)
	if err != nil {
		return nil, err
	}
	a, err := g.callCVCA(ctx, msg.Message{Operation: "RequestCertificate", MessageID: "init-" + chr, CertReq: req.Raw})
	if err != nil {
		return nil, err
	}
	if a.ReturnCode != authority.OKCertAvailable || len(a.Certificates) == 0 {
		return nil, fmt.Errorf("gateway: the CVCA answered %s", a.ReturnCode)
	}
	cert, err := cvc.ParseCertificate(a.Certificates[0])
	if err != nil {
		return nil, err
	}
	if _, err := cvc.Verify(cert, cvc.VerifyOptions{Anchors: chain[:1], Intermediates: chain[1:]}); err != nil {
		return nil, fmt.Errorf("gateway: certificate from the CVCA: %w", err)
	}
	return cert, ra.NewStoreRegistry(g.Store).RecordCertificate(ctx, h.ID, cert)
}

// renewRemote sends the DV's renewal request to the remote CVCA. A synchronous answer is
// stored and put in use at once; an acknowledgement leaves the request outstanding until the
// CVCA's SendCertificates (to dv_client.response_url, our /dv) stores the certificate, which
// the next check picks up.
func (g *Gateway) renewRemote(ctx context.Context, holder *store.Holder, chr string, req []byte) (*cvc.Certificate, error) {
	m := msg.Message{Operation: "RequestCertificate", MessageID: "renew-" + chr + "-" + strconv.FormatInt(time.Now().UnixNano(), 36), CertReq: req}
	code, rows, err := g.requestRemote(ctx, holder, m)
	switch {
	case err != nil:
		return nil, err
	case code != authority.OKCertAvailable:
		g.logger.Info("DV renewal acknowledged; the certificate comes by callback", "chr", chr, "code", code)
		return nil, nil
	}
	cert, err := cvc.ParseCertificate(rows[0].Raw)
	if err != nil {
		return nil, err
	}
	return cert, g.loadDV(ctx)
}

// requestRemote sends a certificate request of the DV (its renewal, or RequestForeignCertificate
// for a foreign CVCA through the national SPOC) to the CVCA at dv_client.cvca_url, recorded
// first as an outgoing message. Certificates answered at once are checked against the
// request (ra.StoreRegistry.AnswerRows) and stored with the answer, and their rows are
// returned. An acknowledgement (ok_syntax, ok_reception_ack, ok_request_forwarded) leaves the
// message waiting for SendCertificates to dv_client.response_url, and is returned without an
// error; a refusal is stored and returned as an error.
func (g *Gateway) requestRemote(ctx context.Context, holder *store.Holder, m msg.Message) (authority.ReturnCode, []*store.Certificate, error) {
	o := g.Options.DVClient
	hid := holder.ID
	out := &store.Message{Originator: "self", MessageID: m.MessageID, Operation: m.Operation, Request: m.CertReq, HolderID: &hid,
		Protocol: server.CVCAProtocols[0].Namespace, Direction: store.Outgoing, State: store.MessageProcessing}
	// Callbacks are accepted from the CVCA registered here (role cvca, our country).
	cvcas, err := g.Store.ListHolders(ctx, store.HolderFilter{Role: store.RoleCVCA, Status: store.HolderActive, Country: g.Options.Country})
	if err != nil {
		return "", nil, err
	}
	if o.ResponseURL != "" && len(cvcas) > 0 {
		m.CallbackPossible, m.ResponseURL = true, o.ResponseURL
		out.Peer = ra.Originator(cvcas[0].ID)
	}
	if err := g.Store.AcceptMessage(ctx, out, nil); err != nil {
		return "", nil, err
	}
	a, err := g.callCVCA(ctx, m)
	if err != nil {
		_ = g.Store.UpdateMessage(ctx, out.ID, store.MessageFailed, string(authority.FailureNotForwarded), nil)
		return "", nil, err
	}
	switch a.ReturnCode {
	case authority.OKSyntax, authority.OKReceptionAck, authority.OKRequestForwarded:
		if out.Peer == "" {
			// Nobody may call back: the answer would never be taken.
			_ = g.Store.UpdateMessage(ctx, out.ID, store.MessageFailed, string(a.ReturnCode), nil)
			return a.ReturnCode, nil, fmt.Errorf("gateway: the CVCA answered %s %s, but no callback is possible (dv_client.response_url and a registered CVCA)", m.Operation, a.ReturnCode)
		}
		return a.ReturnCode, nil, nil
	case authority.OKCertAvailable:
	default:
		_ = g.Store.AnswerMessage(ctx, out.ID, string(a.ReturnCode), nil)
		return a.ReturnCode, nil, fmt.Errorf("gateway: the CVCA refused %s: %s", m.Operation, a.ReturnCode)
	}
	rows, result, err := ra.NewStoreRegistry(g.Store).AnswerRows(ctx, holder.ID, m.CertReq, a.Certificates, time.Now())
	if errors.Is(err, trust.ErrAnswerUnverified) {
		_ = g.Store.AnswerMessage(ctx, out.ID, string(authority.FailureSyntax), nil)
		return a.ReturnCode, nil, fmt.Errorf("gateway: the CVCA's answer to %s: %w", m.Operation, err)
	}
	if err != nil {
		return "", nil, err
	}
	if err := g.Store.AnswerMessage(ctx, out.ID, string(a.ReturnCode), result, rows...); err != nil {
		return "", nil, err
	}
	return a.ReturnCode, rows, nil
}
