package spoc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"eacgate/authority"
	"eacgate/callback"
	"eacgate/cvc"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
	"eacgate/trust"
)

// Service answers foreign SPOCs at /spoc (CSN 36 9791): RequestCertificate for their DVs
// (issued by our CVCA with the foreign-DV role and policy), SendCertificates (answers to
// requests we forwarded, and new CVCA certificate notifications), GetCACertificates and
// GeneralMessage. A foreign SPOC is a registered holder with role spoc, identified by its TLS
// client certificate, acting only for its own country.
type Service struct {
	Config   Config
	Store    *store.Store
	Registry *ra.StoreRegistry
	// CVCA issues foreign DV certificates (through its Mode, sync or by callback to the
	// partner's URL); nil: this gateway has no CVCA and refuses such requests.
	CVCA *ra.IssuingService
	// Chain is our CVCA chain for GetCACertificates.
	Chain func(ctx context.Context) ([][]byte, error)
	// Forwarder checks the certificates partners send for requests it forwarded (and fetches
	// their CVCA certificates when needed); nil: they are checked against the stored ones only.
	Forwarder *Forwarder
	Logger    *slog.Logger
	// Now is the clock partners' TLS certificates are checked with (time.Now when nil).
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// answerRows checks a partner's certificates for forwarded request out.
func (s *Service) answerRows(ctx context.Context, out *store.Message, certs [][]byte) ([]*store.Certificate, []byte, error) {
	if s.Forwarder != nil {
		return s.Forwarder.AnswerRows(ctx, out, certs)
	}
	return s.Registry.AnswerRows(ctx, *out.HolderID, out.Request, certs, s.now())
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// refusal is the code with which an operation refuses a caller (within its enumeration).
func refusal(op string) authority.ReturnCode {
	return server.Refusal(op, server.SPOCProtocols...)
}

// Handle implements server.Service.
func (s *Service) Handle(ctx context.Context, c msg.Caller, m msg.Message) msg.Answer {
	log := s.logger().With("op", m.Operation, "messageID", m.MessageID, "callerID", m.CallerID, "remote", c.RemoteAddr)
	sp, _ := ctx.Value(admittedPartner{}).(*store.Holder)
	var err error
	if sp == nil {
		sp, err = s.partner(ctx, c)
	}
	if err != nil {
		if !errors.Is(err, ra.ErrUnknown) {
			log.Error("identify SPOC", "err", err)
			return msg.Answer{ReturnCode: authority.FailureInternalError}
		}
		log.Info("SPOC request refused", "reason", err)
		return msg.Answer{ReturnCode: refusal(m.Operation)}
	}
	log = log.With("spoc", sp.Country)
	if m.CallerID != sp.Country {
		log.Info("callerID is not the country of the calling SPOC")
		return msg.Answer{ReturnCode: refusal(m.Operation)}
	}
	switch m.Operation {
	case "RequestCertificate":
		return s.requestCertificate(ctx, log, sp, c.RemoteAddr, m)
	case "SendCertificates":
		return s.sendCertificates(ctx, log, sp, m)
	case "GetCACertificates":
		if s.Chain == nil {
			return msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}
		}
		certs, err := s.Chain(ctx)
		if err != nil {
			log.Error("CA chain", "err", err)
			return msg.Answer{ReturnCode: authority.FailureInternalError}
		}
		return msg.Answer{ReturnCode: authority.OKCertAvailable, Certificates: certs}
	case "GeneralMessage":
		return s.generalMessage(ctx, log, sp, m)
	}
	return msg.Answer{ReturnCode: refusal(m.Operation)}
}

// partner identifies the calling SPOC: an active holder with role spoc registered with this
// TLS client certificate, which is valid now and carries the CSN 36 9791 client usage when
// that is required, calling from one of the holder's registered IP ranges (if any).
// admittedPartner is the context key of the partner SPOC Admit identified.
type admittedPartner struct{}

// Admit implements server.Admitter: only a registered, active partner SPOC calling from its
// addresses with a usable certificate may send a body of full size.
func (s *Service) Admit(ctx context.Context, c msg.Caller) (context.Context, bool) {
	sp, err := s.partner(ctx, c)
	if err != nil {
		return ctx, false
	}
	return context.WithValue(ctx, admittedPartner{}, sp), true
}

func (s *Service) partner(ctx context.Context, c msg.Caller) (*store.Holder, error) {
	if c.Fingerprint == "" || c.Certificate == nil {
		return nil, errors.Join(ra.ErrUnknown, errors.New("no TLS client certificate"))
	}
	if err := server.CheckClientCertificate(c.Certificate, s.now()); err != nil {
		return nil, errors.Join(ra.ErrUnknown, err)
	}
	h, err := s.Store.HolderByFingerprint(ctx, c.Fingerprint)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.Join(ra.ErrUnknown, errors.New("unregistered TLS client certificate"))
	}
	if err != nil {
		return nil, err
	}
	if h.Role != store.RoleSPOC || h.Status != store.HolderActive {
		return nil, errors.Join(ra.ErrUnknown, errors.New("not an active SPOC: "+string(h.Role)+" "+string(h.Status)))
	}
	ranges, err := s.Registry.IPRanges(h.IPRanges)
	if err != nil {
		return nil, err
	}
	if !ra.AddrInRanges(ranges, c.RemoteAddr) {
		return nil, errors.Join(ra.ErrUnknown, errors.New("the address is not in the SPOC's registered IP ranges"))
	}
	if s.Config.requireEKU() && !HasEKU(c.Certificate, OIDTLSClient) {
		return nil, errors.Join(ra.ErrUnknown, errors.New("TLS client certificate lacks the CSN 36 9791 client usage"))
	}
	if _, ok := s.Config.Partner(h.Country); !ok {
		return nil, errors.Join(ra.ErrUnknown, errors.New("no routing entry for "+h.Country))
	}
	if err := registeredPartnerAdmits(ctx, s.Store, h.Country, c.Certificate, s.now()); errors.Is(err, ErrPartnerSuspended) || errors.Is(err, ErrNotUnderSPOCRoot) {
		return nil, errors.Join(ra.ErrUnknown, err)
	} else if err != nil {
		return nil, err
	}
	return h, nil
}

// requestCertificate issues (or queues) a certificate for a DV of the calling SPOC's
// country.
func (s *Service) requestCertificate(ctx context.Context, log *slog.Logger, sp *store.Holder, remote string, m msg.Message) msg.Answer {
	if s.CVCA == nil {
		log.Info("no CVCA here")
		return msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}
	}
	req, err := cvc.ParseRequest(m.CertReq)
	if err != nil {
		return msg.Answer{ReturnCode: authority.FailureSyntax}
	}
	chr, err := cvc.ParseReference(req.CHR)
	if err != nil {
		return msg.Answer{ReturnCode: authority.FailureSyntax}
	}
	country, mnemonic := chr.Country(), chr.Mnemonic()
	if country != sp.Country {
		log.Info("a SPOC may only act for DVs of its own country", "chr", req.CHR)
		return msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}
	}
	dv, err := s.Store.HolderByName(ctx, country, mnemonic)
	switch {
	case errors.Is(err, store.ErrNotFound) && s.Config.ForeignDVs != "registered":
		if err := cvc.CheckHolderName(country, mnemonic); err != nil { // TR-03139 3.1
			log.Info("foreign DV not registered", "dv", country+mnemonic, "err", err)
			return msg.Answer{ReturnCode: authority.FailureSyntax}
		}
		dv = nil // registered below once its request is authenticated
	case errors.Is(err, store.ErrNotFound):
		return s.refuse(ctx, log, sp, nil, m, authority.FailureRequestNotAccepted, errors.New("foreign DV "+country+mnemonic+" not registered"))
	case err != nil:
		log.Error("look up foreign DV", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	case dv.Role != store.RoleDVForeign:
		return s.refuse(ctx, log, sp, dv, m, authority.FailureRequestNotAccepted, errors.New("holder "+country+mnemonic+" is not a foreign DV but "+string(dv.Role)))
	case dv.Status != store.HolderActive:
		// TR-03139 Table 2 step 10: a suspended (or revoked) DV gets nothing.
		return s.refuse(ctx, log, sp, dv, m, authority.FailureRequestNotAccepted, errors.New("foreign DV "+country+mnemonic+" is "+string(dv.Status)))
	}
	verified, err := verifyForeignRequest(ctx, s.Registry, req, country, dv, s.now())
	if err != nil {
		code := authority.CodeFor(err)
		if code == authority.FailureInternalError {
			log.Error("verify the outer signature", "err", err)
			return msg.Answer{ReturnCode: code}
		}
		return s.refuse(ctx, log, sp, dv, m, code, err)
	}
	if dv == nil {
		if dv, err = s.register(ctx, log, sp, country, mnemonic); err != nil {
			log.Error("register foreign DV", "err", err)
			return msg.Answer{ReturnCode: authority.FailureInternalError}
		}
	}
	h := &ra.Holder{ID: dv.ID, Country: dv.Country, Mnemonic: dv.Mnemonic, Role: cvc.RoleDVForeign,
		Status: authority.HolderStatus(dv.Status), Caller: "spoc:" + sp.Country, Source: remote}
	if verified.Role() == cvc.RoleCVCA {
		h.ForeignCVCA = verified
	} else {
		h.Current = verified // the certificate of ours that authenticated the renewal (any still valid one)
	}
	// The access rights of the DV's own setting and of the partner's registration (DG3,
	// DG4), within our CVCA's policy.
	if h.Rights, err = s.Store.GrantedRights(ctx, dv); err != nil {
		log.Error("granted rights", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	// Answers that come later go to the partner's configured URL (the protocol has no
	// responseURL); messageIDs are unique per calling SPOC.
	p, _ := s.Config.Partner(sp.Country)
	m.CallbackPossible, m.ResponseURL = true, p.URL
	a := s.CVCA.RequestCertificate(ctx, h, m)
	return msg.Answer{ReturnCode: csnCode(a.ReturnCode), Certificates: a.Certificates}
}

// register records a foreign DV on its first authenticated request (foreign_dvs: open),
// with its audit event.
func (s *Service) register(ctx context.Context, log *slog.Logger, sp *store.Holder, country, mnemonic string) (*store.Holder, error) {
	dv := &store.Holder{Country: country, Mnemonic: mnemonic, Role: store.RoleDVForeign, Status: store.HolderActive}
	if err := s.Store.CreateHolder(ctx, dv); err != nil {
		return s.Store.HolderByName(ctx, country, mnemonic) // created concurrently?
	}
	log.Info("foreign DV registered on its first request", "dv", country+mnemonic)
	if _, err := s.Store.AppendAudit(ctx, store.AuditEvent{Actor: "spoc:" + sp.Country, Action: "holder.auto_register",
		Target: country + mnemonic, Source: "spoc", Outcome: "ok"}); err != nil {
		log.Error("audit foreign DV registration", "dv", country+mnemonic, "err", err)
	}
	return dv, nil
}

// verifyForeignRequest checks the outer signature of a request of a DV of country relayed
// by its SPOC (TR-03139 Table 2 step 9, see trust.Store.VerifyForeignRequest) against the
// DV's still valid certificates from this CVCA, if any (dv nil: a DV not registered yet).
func verifyForeignRequest(ctx context.Context, reg *ra.StoreRegistry, req *cvc.Request, country string, dv *store.Holder, now time.Time) (*cvc.Certificate, error) {
	var issued []*cvc.Certificate
	if dv != nil {
		var err error
		if issued, err = reg.ValidCertificates(ctx, dv.ID, now); err != nil {
			return nil, fmt.Errorf("spoc: %w", err)
		}
	}
	return trust.New(reg.Store).VerifyForeignRequest(ctx, req, country, issued, now)
}

// refuse answers a partner's RequestCertificate with code and records the refusal: the
// message with its answer (under the DV, or the SPOC when the DV is not registered; a
// repeated messageID gets its first answer) and an audit event. Nothing else is stored.
func (s *Service) refuse(ctx context.Context, log *slog.Logger, sp, dv *store.Holder, m msg.Message, code authority.ReturnCode, reason error) msg.Answer {
	log.Info("foreign DV request refused", "code", code, "reason", reason)
	holderID := sp.ID
	if dv != nil {
		holderID = dv.ID
	}
	a := msg.Answer{ReturnCode: code}
	previous, err := s.Registry.Begin(ctx, holderID, m)
	switch {
	case errors.Is(err, ra.ErrDuplicate) && previous != nil:
		return msg.Answer{ReturnCode: csnCode(previous.ReturnCode), Certificates: previous.Certificates}
	case errors.Is(err, ra.ErrDuplicate):
		return msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}
	case err != nil:
		log.Error("record refused request", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	if previous, err = s.Registry.Finish(ctx, &ra.Holder{ID: holderID}, m, a, nil); err != nil {
		log.Error("record refusal", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	if previous != nil {
		a = *previous
	}
	details, _ := json.Marshal(map[string]string{"messageID": m.MessageID, "code": string(code), "reason": reason.Error()})
	if _, err := s.Store.AppendAudit(ctx, store.AuditEvent{Actor: "spoc:" + sp.Country, Action: "foreign_request.refused",
		Target: s.requestCHR(m), Source: "spoc", Outcome: string(code), Details: string(details)}); err != nil {
		log.Error("audit refused foreign request", "err", err)
	}
	return msg.Answer{ReturnCode: csnCode(a.ReturnCode)}
}

// requestCHR is the CHR a certificate request asks for ("" when it does not parse).
func (s *Service) requestCHR(m msg.Message) string {
	if req, err := cvc.ParseRequest(m.CertReq); err == nil {
		return req.CHR
	}
	return ""
}

// csnCode maps a TR-03129 answer to RequestCertificate's result enumeration of CSN 36 9791.
func csnCode(c authority.ReturnCode) authority.ReturnCode {
	return server.CodeFor(server.SPOCProtocols[0], "RequestCertificate", c)
}

// sendCertificates takes a foreign SPOC's answer to a request we forwarded, relays it to the
// national DV (stored, and delivered to its responseURL when it gave one), or a notification
// of new CVCA certificates of the partner's country.
func (s *Service) sendCertificates(ctx context.Context, log *slog.Logger, sp *store.Holder, m msg.Message) msg.Answer {
	if m.MessageID == "" || m.StatusInfo == string(authority.NewCertificateAvailableNotification) {
		return s.notification(ctx, log, sp, m)
	}
	out, err := s.Store.OutgoingByMessageID(ctx, m.MessageID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && out.Peer != Outgoing(sp.Country)) {
		log.Info("SendCertificates for a messageID we did not send to this SPOC")
		return msg.Answer{ReturnCode: authority.FailureMessageIDUnknown}
	}
	if err != nil {
		log.Error("outgoing message", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	if out.State == store.MessageAnswered || out.ParentID == nil || out.HolderID == nil {
		return s.answeredAgain(ctx, log, out, m)
	}
	parent, err := s.Store.MessageByID(ctx, *out.ParentID)
	if err != nil {
		log.Error("relayed message", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	var deliver *store.OutboxItem
	if parent.ResponseURL != "" {
		deliver = &store.OutboxItem{Kind: store.OutboxProcess, TargetURL: parent.ResponseURL}
	}
	code := authority.ReturnCode(m.StatusInfo)
	var rows []*store.Certificate
	var result []byte
	if code == authority.OKCertAvailable {
		rows, result, err = s.answerRows(ctx, out, m.Certificates)
		if errors.Is(err, trust.ErrAnswerUnverified) {
			// As on the synchronous path: the DV learns that the foreign answer was
			// unusable instead of waiting for one that will not come.
			log.Warn("certificates refused: the DV is told the foreign request failed", "err", err)
			err = s.Store.RelayAnswer(ctx, out.ID, string(authority.FailureSyntax), parent.ID,
				string(authority.FailureRequestNotAcceptedForeign), nil, nil, deliver)
			if err != nil && !errors.Is(err, store.ErrConflict) {
				log.Error("record the refused answer", "err", err)
				return msg.Answer{ReturnCode: authority.FailureInternalError}
			}
			return msg.Answer{ReturnCode: authority.FailureSyntax}
		}
		if err != nil {
			log.Error("check certificates", "err", err)
			return msg.Answer{ReturnCode: authority.FailureInternalError}
		}
	} else {
		code = ForeignRefusal(code)
	}
	err = s.Store.RelayAnswer(ctx, out.ID, m.StatusInfo, parent.ID, string(code), result, rows, deliver)
	if err != nil && !errors.Is(err, store.ErrConflict) {
		log.Error("relay answer", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	log.Info("foreign answer received and relayed", "status", m.StatusInfo, "certificates", len(rows), "toDV", parent.ResponseURL)
	return msg.Answer{ReturnCode: authority.OKReceivedCorrectly}
}

// answeredAgain answers a SendCertificates for forwarded request out that was answered
// before (a repeat, or a late answer after another one) with the result of the check
// (TR-03139 Table 2 step 13): failure_syntax when the certificates taken for it were refused,
// else the result of checking the certificates sent now; nothing is relayed again.
func (s *Service) answeredAgain(ctx context.Context, log *slog.Logger, out *store.Message, m msg.Message) msg.Answer {
	if out.ReturnCode == string(authority.FailureSyntax) {
		log.Info("SendCertificates for an answer refused before: refused again")
		return msg.Answer{ReturnCode: authority.FailureSyntax}
	}
	if authority.ReturnCode(m.StatusInfo) == authority.OKCertAvailable && out.HolderID != nil {
		_, _, err := s.answerRows(ctx, out, m.Certificates)
		if errors.Is(err, trust.ErrAnswerUnverified) {
			log.Warn("repeated SendCertificates with certificates that do not answer the request", "err", err)
			return msg.Answer{ReturnCode: authority.FailureSyntax}
		}
		if err != nil {
			log.Error("check certificates", "err", err)
			return msg.Answer{ReturnCode: authority.FailureInternalError}
		}
	}
	log.Info("repeated SendCertificates: acknowledged again")
	return msg.Answer{ReturnCode: authority.OKReceivedCorrectly}
}

// notification records announced CVCA certificates of the partner's country; link
// certificates that verify against the stored chain are added to it.
func (s *Service) notification(ctx context.Context, log *slog.Logger, sp *store.Holder, m msg.Message) msg.Answer {
	r := &callback.Receiver{Store: s.Store, Registry: s.Registry, Logger: s.Logger}
	h := &ra.Holder{ID: sp.ID, Country: sp.Country, Mnemonic: sp.Mnemonic, Role: cvc.RoleCVCA, Status: authority.StatusActive}
	m.MessageID = ""
	a := r.Handle(ctx, h, m)
	log.Info("certificate notification", "certificates", len(m.Certificates), "code", a.ReturnCode)
	return a
}

// generalMessage stores a GeneralMessage for the operators (eacgate spoc messages).
func (s *Service) generalMessage(ctx context.Context, log *slog.Logger, sp *store.Holder, m msg.Message) msg.Answer {
	body, _ := json.Marshal(map[string]string{"subject": m.Subject, "body": m.Body})
	hid := sp.ID
	stored := &store.Message{Originator: ra.Originator(sp.ID), MessageID: m.MessageID, Operation: "GeneralMessage", Request: body,
		HolderID: &hid, Protocol: m.Namespace, State: store.MessageAnswered, ReturnCode: "ok"}
	err := s.Store.AcceptMessage(ctx, stored, nil)
	if err != nil && !errors.Is(err, store.ErrDuplicateMessage) {
		log.Error("store general message", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	log.Info("general message received", "subject", m.Subject)
	return msg.Answer{ReturnCode: "ok"}
}
