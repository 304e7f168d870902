package callback

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/store"
	"eacgate/trust"
)

// Receiver answers SendCertificates: the asynchronous answers to requests this gateway sent
// (matched by messageID, accepted only from the peer the request went to), and, without a
// messageID, notifications of new CVCA and link certificates from a registered CVCA.
// Receiving is idempotent: a repeated delivery is acknowledged again and stores nothing new.
type Receiver struct {
	Store    *store.Store
	Registry *ra.StoreRegistry
	Logger   *slog.Logger
	// Now is the clock (default time.Now): the validity of received certificates.
	Now func() time.Time
}

func (r *Receiver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Receiver) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Handle is the IssuingService.Receiver.
func (r *Receiver) Handle(ctx context.Context, h *ra.Holder, m msg.Message) msg.Answer {
	log := r.logger().With("op", "SendCertificates", "messageID", m.MessageID, "sender", h.Country+h.Mnemonic)
	certs := make([]*cvc.Certificate, 0, len(m.Certificates))
	for _, raw := range m.Certificates {
		c, err := cvc.ParseCertificate(raw)
		if err != nil {
			log.Info("SendCertificates with an unparsable certificate", "err", err)
			return msg.Answer{ReturnCode: authority.FailureSyntax}
		}
		certs = append(certs, c)
	}
	if m.MessageID == "" {
		return r.notification(ctx, log, h, m, certs)
	}
	out, err := r.Store.OutgoingByMessageID(ctx, m.MessageID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && out.Peer != ra.Originator(h.ID)) {
		log.Info("SendCertificates for a messageID we did not send to this peer")
		return msg.Answer{ReturnCode: authority.FailureMessageIDUnknown}
	}
	if err != nil {
		log.Error("look up outgoing message", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	if out.State == store.MessageAnswered {
		log.Info("repeated SendCertificates: acknowledged again")
		return msg.Answer{ReturnCode: authority.OKReceivedCorrectly}
	}
	var rows []*store.Certificate
	var result []byte
	if m.StatusInfo == string(authority.OKCertAvailable) {
		if out.HolderID == nil {
			log.Error("outgoing message without its holder", "message", out.ID)
			return msg.Answer{ReturnCode: authority.FailureInternalError}
		}
		rows, result, err = r.Registry.AnswerRows(ctx, *out.HolderID, out.Request, m.Certificates, r.now())
		if errors.Is(err, trust.ErrAnswerUnverified) {
			log.Warn("certificates refused: they do not answer our request", "err", err)
			return msg.Answer{ReturnCode: authority.FailureSyntax}
		}
		if err != nil {
			log.Error("check certificates", "err", err)
			return msg.Answer{ReturnCode: authority.FailureInternalError}
		}
	}
	err = r.Store.AnswerMessage(ctx, out.ID, m.StatusInfo, result, rows...)
	if err != nil && !errors.Is(err, store.ErrConflict) {
		log.Error("store received certificates", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	log.Info("answer to our request received", "status", m.StatusInfo, "certificates", len(rows))
	return msg.Answer{ReturnCode: authority.OKReceivedCorrectly}
}

// notification takes announced CVCA certificates from a registered CVCA of the same
// country. Link certificates that verify against the stored chain are added to it; anything
// else is kept with the message for an operator to look at, never trusted automatically.
func (r *Receiver) notification(ctx context.Context, log *slog.Logger, h *ra.Holder, m msg.Message, certs []*cvc.Certificate) msg.Answer {
	if h.Role != cvc.RoleCVCA {
		log.Info("certificate notification from a sender that is not a CVCA")
		return msg.Answer{ReturnCode: authority.FailureMessageIDUnknown}
	}
	var raw []byte
	for _, c := range certs {
		raw = append(raw, c.Raw...)
	}
	hid := h.ID
	stored := &store.Message{Originator: ra.Originator(h.ID), Operation: "SendCertificates", Request: raw,
		HolderID: &hid, Protocol: m.Namespace, State: store.MessageAnswered, ReturnCode: string(authority.OKReceivedCorrectly)}
	if err := r.Store.AcceptMessage(ctx, stored, nil); err != nil {
		log.Error("record notification", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	for _, c := range certs {
		if err := r.Registry.Trust().AddLink(ctx, h.Country, c); err != nil {
			log.Warn("announced certificate not added to the trusted chain (kept with the message for an operator)", "chr", c.CHR, "message", stored.ID, "reason", err)
			continue
		}
		log.Info("new CVCA certificate added", "chr", c.CHR, "car", c.CAR)
	}
	return msg.Answer{ReturnCode: authority.OKReceivedCorrectly}
}
