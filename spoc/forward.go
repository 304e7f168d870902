package spoc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
	"eacgate/trust"
)

// Forwarder is the national side of the SPOC: RequestForeignCertificate from the country's
// own DVs, checked against the national rules and forwarded to the foreign SPOC.
type Forwarder struct {
	Country  string // our country
	Config   Config
	Clients  map[string]*http.Client // per partner country (Config.Clients)
	Store    *store.Store
	Registry *ra.StoreRegistry
	// Domestic returns the issuer chain of our CVCA (for the DV certificate's domain
	// parameters and chain); nil when not known.
	Domestic func() []*cvc.Certificate
	// CVCA returns our CVCA's issuer in use (its current certificate and the key in the
	// keystore or HSM), which countersigns a DV's initial foreign requests (TR-03139 Table 2
	// step 7); nil, or a nil issuer: initial requests are refused.
	CVCA func() *authority.Issuer
	// CheckResponseURL is the responseURL policy (the one of RequestCertificate: see
	// server.URLPolicy); nil: server.URLPolicy{}.Check (https, public addresses).
	CheckResponseURL func(string) error
	Logger           *slog.Logger
	// Now is the clock (default time.Now): validity of outer signatures and answers.
	Now func() time.Time
}

func (f *Forwarder) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Forwarder) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

// Outgoing is the peer name of requests forwarded to a country's SPOC.
func Outgoing(country string) string { return "spoc:" + country }

// Forward handles RequestForeignCertificate from national DV h. The national rules
// (TR-03139 Table 2 steps 5-7): h is a registered, active domestic DV allowed to ask that
// country (Config.ForeignCountries); the foreign country is in the routing table; the
// request is its own (CHR), its inner signature is valid. Its outer signature is either by
// h's still valid certificate from that country (a successive request: forwarded as is) or,
// when h holds none, by h's current domestic certificate (an initial request: our CVCA
// replaces that outer signature by its own, an audited use of the CVCA key). The request is
// recorded before it leaves, and the foreign answer relayed: ok_cert_available with the certificates when the foreign SPOC
// answers at once, ok_request_forwarded when it will answer later (SendCertificates, passed
// on to h's responseURL).
func (f *Forwarder) Forward(ctx context.Context, h *ra.Holder, m msg.Message) msg.Answer {
	log := f.logger().With("op", m.Operation, "messageID", m.MessageID, "holder", h.Country+h.Mnemonic, "foreignCAR", m.ForeignCAR)
	req, initial, code := f.check(ctx, log, h, m)
	if code != "" {
		return msg.Answer{ReturnCode: code}
	}
	if m.CallbackPossible {
		// The answer may go to this URL later (a callback): it passes the same policy as
		// RequestCertificate's, or the request is refused like an unusable asynchronous one.
		check := f.CheckResponseURL
		if check == nil {
			check = server.URLPolicy{}.Check
		}
		if err := check(m.ResponseURL); err != nil {
			log.Info("foreign request refused: responseURL not allowed", "responseURL", m.ResponseURL, "err", err)
			return msg.Answer{ReturnCode: authority.FailureSyntax}
		}
	}
	country := m.ForeignCAR[:2]
	hid := h.ID
	in := &store.Message{Originator: ra.Originator(h.ID), MessageID: m.MessageID, Operation: m.Operation, Request: m.CertReq,
		HolderID: &hid, Protocol: m.Namespace, ResponseURL: m.ResponseURL, State: store.MessageProcessing}
	if !m.CallbackPossible {
		in.ResponseURL = ""
	}
	if err := f.Store.AcceptMessage(ctx, in, nil); err != nil {
		if errors.Is(err, store.ErrDuplicateMessage) {
			return f.previous(ctx, log, h, m)
		}
		log.Error("record request", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	out := &store.Message{Originator: "self", MessageID: newMessageID(), Operation: "RequestCertificate", Request: m.CertReq,
		HolderID: &hid, Protocol: server.SPOCProtocols[0].Namespace, Direction: store.Outgoing, Peer: Outgoing(country),
		ParentID: &in.ID, State: store.MessageProcessing}
	if initial {
		if code := f.countersign(ctx, log, h, req, out); code != "" {
			return f.answer(ctx, log, in.ID, code)
		}
	} else if err := f.Store.AcceptMessage(ctx, out, nil); err != nil {
		log.Error("record forwarded request", "err", err)
		return f.answer(ctx, log, in.ID, authority.FailureInternalError)
	}
	a, err := f.call(ctx, country, msg.Message{Operation: "RequestCertificate", CallerID: f.Country, MessageID: out.MessageID, CertReq: out.Request})
	if err != nil && in.ResponseURL != "" {
		// The DV takes a callback: the forwarding is retried by the outbox workers, and
		// the answer reaches the DV later.
		log.Warn("foreign SPOC unreachable; forwarding queued", "country", country, "err", err)
		p, _ := f.Config.Partner(country)
		err := f.Store.EnqueueOutbox(ctx, &store.OutboxItem{Kind: store.OutboxForward, MessageRowID: &out.ID, TargetURL: p.URL})
		if err == nil {
			err = f.Store.UpdateMessage(ctx, in.ID, store.MessageProcessing, string(authority.OKRequestForwarded), nil)
		}
		if err != nil {
			log.Error("queue forwarding", "err", err)
			return f.answer(ctx, log, in.ID, authority.FailureNotForwarded)
		}
		return msg.Answer{ReturnCode: authority.OKRequestForwarded}
	}
	if err != nil {
		log.Warn("foreign SPOC unreachable", "country", country, "err", err)
		_ = f.Store.UpdateMessage(ctx, out.ID, store.MessageFailed, string(authority.FailureNotForwarded), nil)
		return f.answer(ctx, log, in.ID, authority.FailureNotForwarded)
	}
	return f.settle(ctx, log.With("forwardedAs", out.MessageID, "foreignAnswer", a.ReturnCode), out, in, a)
}

// settle records the foreign SPOC's answer to forwarded request out and relays it to the
// national request in: stored, and, when in is answered later than its own HTTP exchange,
// delivered to its responseURL by the outbox workers.
func (f *Forwarder) settle(ctx context.Context, log *slog.Logger, out, in *store.Message, a msg.Answer) msg.Answer {
	var deliver *store.OutboxItem
	if in.ReturnCode == string(authority.OKRequestForwarded) && in.ResponseURL != "" {
		deliver = &store.OutboxItem{Kind: store.OutboxProcess, TargetURL: in.ResponseURL}
	}
	switch a.ReturnCode {
	case authority.OKReceptionAck:
		if err := f.Store.UpdateMessage(ctx, out.ID, store.MessageProcessing, string(a.ReturnCode), nil); err != nil {
			log.Error("record acknowledgement", "err", err)
		}
		if err := f.Store.UpdateMessage(ctx, in.ID, store.MessageProcessing, string(authority.OKRequestForwarded), nil); err != nil {
			log.Error("record forwarding", "err", err)
		}
		log.Info("request forwarded; the foreign SPOC answers later")
		return msg.Answer{ReturnCode: authority.OKRequestForwarded}
	case authority.OKCertAvailable:
		rows, result, err := f.AnswerRows(ctx, out, a.Certificates)
		if errors.Is(err, trust.ErrAnswerUnverified) {
			log.Warn("foreign certificates refused: not relayed", "err", err)
			_ = f.Store.RelayAnswer(ctx, out.ID, string(authority.FailureSyntax), in.ID, string(authority.FailureRequestNotAcceptedForeign), nil, nil, deliver)
			return msg.Answer{ReturnCode: authority.FailureRequestNotAcceptedForeign}
		}
		if err != nil {
			log.Error("check foreign certificates", "err", err)
			return msg.Answer{ReturnCode: authority.FailureInternalError}
		}
		if err := f.Store.RelayAnswer(ctx, out.ID, string(a.ReturnCode), in.ID, string(a.ReturnCode), result, rows, deliver); err != nil {
			log.Error("store foreign certificates", "err", err)
			return msg.Answer{ReturnCode: authority.FailureInternalError}
		}
		log.Info("foreign certificate relayed", "certificates", len(rows))
		return msg.Answer{ReturnCode: authority.OKCertAvailable, Certificates: a.Certificates}
	}
	relayed := ForeignRefusal(a.ReturnCode)
	if err := f.Store.RelayAnswer(ctx, out.ID, string(a.ReturnCode), in.ID, string(relayed), nil, nil, deliver); err != nil {
		log.Error("record foreign refusal", "err", err)
	}
	log.Info("foreign SPOC refused the request")
	return msg.Answer{ReturnCode: relayed}
}

// Resend forwards a queued request again (outbox kind forward): nil when the partner
// answered (the answer is settled), an error to retry later.
func (f *Forwarder) Resend(ctx context.Context, item *store.OutboxItem) error {
	if item.MessageRowID == nil {
		return errors.New("spoc: forward item without its message")
	}
	out, err := f.Store.MessageByID(ctx, *item.MessageRowID)
	if err != nil {
		return err
	}
	if out.State == store.MessageAnswered || out.ParentID == nil || out.HolderID == nil || !strings.HasPrefix(out.Peer, "spoc:") {
		return nil
	}
	in, err := f.Store.MessageByID(ctx, *out.ParentID)
	if err != nil {
		return err
	}
	country := strings.TrimPrefix(out.Peer, "spoc:")
	if f.Clients[country] == nil {
		return ErrNoPartner
	}
	a, err := f.call(ctx, country, msg.Message{Operation: "RequestCertificate", CallerID: f.Country, MessageID: out.MessageID, CertReq: out.Request})
	if err != nil {
		return err
	}
	log := f.logger().With("forwardedAs", out.MessageID, "foreignAnswer", a.ReturnCode, "messageID", in.MessageID)
	f.settle(ctx, log, out, in, a)
	return nil
}

// ForeignRefusal is the national code for a foreign SPOC's failure: the cryptographic and
// syntax failures are passed on as they are, the rest is failure_request_not_accepted_foreign.
func ForeignRefusal(code authority.ReturnCode) authority.ReturnCode {
	switch code {
	case authority.FailureInnerSignature, authority.FailureOuterSignature, authority.FailureSyntax:
		return code
	}
	return authority.FailureRequestNotAcceptedForeign
}

// check applies the national rules to h's request m: the parsed request and whether it is
// initial (to be countersigned by our CVCA), or a non-empty code refusing it.
func (f *Forwarder) check(ctx context.Context, log *slog.Logger, h *ra.Holder, m msg.Message) (req *cvc.Request, initial bool, code authority.ReturnCode) {
	if h.Role != cvc.RoleDVDomestic || h.Status != authority.StatusActive {
		log.Info("foreign request refused: not an active domestic DV", "role", h.Role, "status", h.Status)
		return nil, false, authority.FailureRequestNotAccepted
	}
	foreignCAR, err := cvc.ParseReference(m.ForeignCAR)
	if err != nil {
		return nil, false, authority.FailureSyntax
	}
	country := foreignCAR.Country()
	if _, ok := f.Config.Partner(country); !ok || f.Clients[country] == nil {
		log.Info("foreign request refused: no SPOC for that country")
		return nil, false, authority.FailureForeignCARUnknown
	}
	if err := partnerActive(ctx, f.Store, country); err != nil {
		if !errors.Is(err, ErrPartnerSuspended) {
			log.Error("partner status", "err", err)
			return nil, false, authority.FailureInternalError
		}
		log.Info("foreign request refused: the partner is suspended")
		return nil, false, authority.FailureRequestNotAccepted
	}
	if code := f.allowed(ctx, log, h, country); code != "" {
		return nil, false, code
	}
	req, err = cvc.ParseRequest(m.CertReq)
	if err != nil {
		return nil, false, authority.FailureSyntax
	}
	chr, err := cvc.ParseReference(req.CHR)
	if err != nil || chr.Country() != h.Country || chr.Mnemonic() != h.Mnemonic {
		log.Info("foreign request refused: CHR of another holder", "chr", req.CHR)
		return nil, false, authority.FailureRequestNotAccepted
	}
	if req.CAR != "" && req.CAR != m.ForeignCAR {
		log.Info("foreign request refused: CAR differs from foreignCAR", "car", req.CAR)
		return nil, false, authority.FailureRequestNotAccepted
	}
	// The inner signature: with the foreign CVCA's domain parameters when we know its
	// certificates, else with the parameters the request carries.
	chain, err := f.Registry.Trust().Chain(ctx, country)
	if err != nil {
		log.Error("foreign CVCA chain", "err", err)
		return nil, false, authority.FailureInternalError
	}
	if err := req.VerifyInner(cvc.Domain(chain)); err != nil {
		log.Info("foreign request refused", "err", err)
		return nil, false, authority.CodeFor(err)
	}
	if !req.Authenticated() {
		log.Info("foreign request refused: not authenticated")
		return nil, false, authority.FailureOuterSignature
	}
	// Successive: authenticated by the DV's certificate from that country (Table 2 step 3).
	foreign, err := f.foreignCertificates(ctx, h.ID, country)
	if err != nil {
		log.Error("the DV's foreign certificates", "err", err)
		return nil, false, authority.FailureInternalError
	}
	holdsValid := false
	for _, c := range foreign {
		if c.CHR == req.OuterCAR {
			if err := trust.VerifyOuter(req, c, chain, f.now()); err != nil {
				log.Info("foreign request refused: not authenticated by the DV's certificate from that country", "outerCAR", req.OuterCAR, "err", err)
				return nil, false, authority.CodeFor(err)
			}
			return req, false, ""
		}
		holdsValid = holdsValid || c.ValidAt(f.now())
	}
	if holdsValid {
		log.Info("foreign request refused: the DV holds a valid certificate from that country, which must authenticate it", "outerCAR", req.OuterCAR)
		return nil, false, authority.FailureOuterSignature
	}
	// Initial: authenticated by the DV's current domestic certificate, countersigned later.
	current, err := f.Registry.CurrentCertificate(ctx, h.ID)
	if errors.Is(err, ra.ErrUnknown) {
		return nil, false, authority.FailureOuterSignature
	}
	if err != nil {
		log.Error("current certificate", "err", err)
		return nil, false, authority.FailureInternalError
	}
	var domestic []*cvc.Certificate
	if f.Domestic != nil {
		domestic = f.Domestic()
	}
	switch err := trust.VerifyOuter(req, current, domestic, f.now()); {
	case errors.Is(err, cvc.ErrExpired):
		return nil, false, authority.FailureExpired
	case err != nil:
		log.Info("foreign request refused: not authenticated by the DV's current domestic certificate", "outerCAR", req.OuterCAR, "err", err)
		return nil, false, authority.FailureOuterSignature
	}
	return req, true, ""
}

// allowed applies the RA's list of the countries h may ask (Config.ForeignCountries).
func (f *Forwarder) allowed(ctx context.Context, log *slog.Logger, h *ra.Holder, country string) authority.ReturnCode {
	if f.Config.ForeignCountries == ForeignCountriesAny {
		return ""
	}
	countries, err := f.Store.HolderForeignCountries(ctx, h.ID)
	if err != nil {
		log.Error("the DV's foreign countries", "err", err)
		return authority.FailureInternalError
	}
	if !slices.Contains(countries, country) {
		log.Info("foreign request refused: the DV may not ask that country (eacgate holder countries)", "country", country, "allowed", countries)
		return authority.FailureRequestNotAccepted
	}
	return ""
}

// foreignCertificates returns the DV's certificates from country's CVCA with status valid
// (expired ones included: the caller checks dates).
func (f *Forwarder) foreignCertificates(ctx context.Context, holderID int64, country string) ([]*cvc.Certificate, error) {
	rows, err := f.Store.ListCertificatesOfHolder(ctx, holderID)
	if err != nil {
		return nil, err
	}
	var out []*cvc.Certificate
	for _, r := range rows {
		if r.Role != store.RoleDVForeign || r.Status != store.CertValid || !strings.HasPrefix(r.CAR, country) {
			continue
		}
		c, err := cvc.ParseCertificate(r.Raw)
		if err != nil {
			return nil, fmt.Errorf("spoc: stored certificate %s: %w", r.CHR, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// countersign replaces the outer signature of h's initial request req by our CVCA's (outer
// CAR: the CVCA's current CHR; TR-03139 Table 2 step 7) and stores forwarded request out
// with it and the audit event of that use of the CVCA key, in one transaction. A non-empty
// code refuses the request.
func (f *Forwarder) countersign(ctx context.Context, log *slog.Logger, h *ra.Holder, req *cvc.Request, out *store.Message) authority.ReturnCode {
	var is *authority.Issuer
	if f.CVCA != nil {
		is = f.CVCA()
	}
	if is == nil {
		log.Error("initial foreign request refused: no national CVCA key to countersign it")
		return authority.FailureRequestNotAccepted
	}
	if is.Active != nil {
		if err := is.Active(); err != nil {
			log.Warn("initial foreign request refused: the CVCA may not sign", "err", err)
			return authority.FailureRequestNotAccepted
		}
	}
	cert := is.Certificate()
	signed, err := req.Authenticate(cert.CHR, is.Signer, cert.PublicKey.Algorithm)
	if err != nil {
		log.Error("countersign initial foreign request", "err", err)
		return authority.FailureInternalError
	}
	sum := sha256.Sum256(signed.Raw)
	details, _ := json.Marshal(map[string]string{"outerCAR": cert.CHR, "dvOuterCAR": req.OuterCAR, "foreignCAR": req.CAR,
		"requestSHA256": hex.EncodeToString(sum[:]), "messageID": out.MessageID})
	out.Request = signed.Raw
	ev := store.AuditEvent{At: f.now(), Actor: "cvca:" + cert.CHR, Action: AuditCountersign, Target: req.CHR,
		Source: h.Country + h.Mnemonic, Outcome: "ok", Details: string(details)}
	if err := f.Store.AcceptMessageAudited(ctx, out, ev); err != nil {
		log.Error("record countersigned request", "err", err)
		return authority.FailureInternalError
	}
	log.Info("initial foreign request countersigned by the CVCA", "outerCAR", cert.CHR, "requestSHA256", hex.EncodeToString(sum[:]))
	return ""
}

// AuditCountersign is the audit action of the CVCA's signature on a DV's initial foreign
// request (target: the request's CHR; details: outerCAR, requestSHA256 of the signed request).
const AuditCountersign = "cvca.countersign"

// previous answers a repeated messageID like the first time (or ok_request_forwarded while
// the foreign answer is outstanding).
func (f *Forwarder) previous(ctx context.Context, log *slog.Logger, h *ra.Holder, m msg.Message) msg.Answer {
	prev, err := f.Store.MessageByOriginator(ctx, ra.Originator(h.ID), m.MessageID)
	if err != nil {
		log.Error("previous message", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	a := msg.Answer{ReturnCode: authority.ReturnCode(prev.ReturnCode)}
	if prev.State != store.MessageAnswered {
		if a.ReturnCode == "" {
			a.ReturnCode = authority.FailureRequestNotAccepted // the first is still being forwarded
		}
		return a
	}
	if len(prev.Result) > 0 {
		tlvs, err := cvc.ParseSequence(prev.Result)
		if err != nil {
			return msg.Answer{ReturnCode: authority.FailureInternalError}
		}
		for _, t := range tlvs {
			a.Certificates = append(a.Certificates, t.Raw)
		}
	}
	log.Info("duplicate messageID: answering as before", "code", a.ReturnCode)
	return a
}

func (f *Forwarder) answer(ctx context.Context, log *slog.Logger, id int64, code authority.ReturnCode) msg.Answer {
	if err := f.Store.AnswerMessage(ctx, id, string(code), nil); err != nil {
		log.Error("store answer", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	return msg.Answer{ReturnCode: code}
}

// call sends a CSN 36 9791 request to a partner.
func (f *Forwarder) call(ctx context.Context, country string, m msg.Message) (msg.Answer, error) {
	if err := partnerActive(ctx, f.Store, country); err != nil {
		return msg.Answer{}, err // nothing goes to a suspended partner (resent when reinstated)
	}
	p, _ := f.Config.Partner(country)
	body, err := server.EncodeRequest(server.SPOCProtocols[0], m)
	if err != nil {
		return msg.Answer{}, err
	}
	return server.Call(ctx, f.Clients[country], p.URL, server.SPOCProtocols[0], m.Operation, body)
}

// AnswerRows checks the certificates a partner sent in answer to forwarded request out (see
// trust.Store.VerifyAnswer) and returns their rows and the result to relay. When they
// do not chain to the partner country's stored CVCA certificates, the partner's current
// CVCA certificates are fetched (GetCACertificates: a new link certificate, or the first
// root under the partner's pin) and the check is made once more.
func (f *Forwarder) AnswerRows(ctx context.Context, out *store.Message, certs [][]byte) ([]*store.Certificate, []byte, error) {
	if out.HolderID == nil {
		return nil, nil, errors.New("spoc: forwarded request without its holder")
	}
	rows, result, err := f.Registry.AnswerRows(ctx, *out.HolderID, out.Request, certs, f.now())
	if !errors.Is(err, trust.ErrAnswerUnverified) {
		return rows, result, err
	}
	country := strings.TrimPrefix(out.Peer, "spoc:")
	added, ferr := f.FetchCACertificates(ctx, country)
	if ferr != nil && !errors.Is(ferr, errCACertificatesRefused) {
		// Not the answer's fault: it is neither taken nor refused now (the partner retries
		// its SendCertificates on failure_internal_error).
		return nil, nil, fmt.Errorf("spoc: check %s's answer: fetch its CVCA certificates: %w", country, ferr)
	}
	if ferr != nil {
		f.logger().Warn("the partner refused its CVCA certificates needed to check its answer", "country", country, "err", ferr)
	}
	if added == 0 {
		return nil, nil, err
	}
	return f.Registry.AnswerRows(ctx, *out.HolderID, out.Request, certs, f.now())
}

// errCACertificatesRefused: the partner answered GetCACertificates with a failure code.
var errCACertificatesRefused = errors.New("spoc: the partner refused GetCACertificates")

func newMessageID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "eacgate-" + hex.EncodeToString(b)
}

// FetchCACertificates asks a partner SPOC for its CVCA certificates (GetCACertificates) and
// stores those not yet known: the first root only when its SHA-256 is pinned in the partner's
// cvca_sha256, or without pins on trust of the mutual TLS connection to the configured
// partner (logged with its SHA-256, for operators to compare with the one exchanged through
// diplomatic channels); later ones only when they chain to the stored ones (see
// trust.Store.AddFromPeer).
func (f *Forwarder) FetchCACertificates(ctx context.Context, country string) (int, error) {
	if f.Clients[country] == nil {
		return 0, ErrNoPartner
	}
	a, err := f.call(ctx, country, msg.Message{Operation: "GetCACertificates", CallerID: f.Country, MessageID: newMessageID()})
	if err != nil {
		return 0, err
	}
	if a.ReturnCode != authority.OKCertAvailable {
		return 0, fmt.Errorf("%w: %s", errCACertificatesRefused, a.ReturnCode)
	}
	p, _ := f.Config.Partner(country)
	return f.Registry.Trust().AddFromPeer(ctx, country, a.Certificates, p.CVCASHA256, f.logger())
}
