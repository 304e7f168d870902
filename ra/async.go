package ra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"eacgate/authority"
	"eacgate/msg"
	"eacgate/server"
)

// Mode is how a certificate request is processed.
type Mode int

// Modes. ModeAsync and ModeApproval apply to senders that offered a callback
// (callback_possible with a responseURL); ModeApproval refuses the others with
// failure_synchronous_processing_not_possible, ModeAsync answers them synchronously.
const (
	ModeSync     Mode = iota // answered in the HTTP response
	ModeAsync                // acknowledged with ok_syntax, answered later by SendCertificates
	ModeApproval             // like ModeAsync, after an operator approved the request
)

// ParseMode reads a mode's configuration name: "sync", "async" or "approval".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "sync":
		return ModeSync, nil
	case "async":
		return ModeAsync, nil
	case "approval":
		return ModeApproval, nil
	}
	return ModeSync, fmt.Errorf("server: unknown processing mode %q (sync, async, approval)", s)
}

func (m Mode) String() string {
	switch m {
	case ModeAsync:
		return "async"
	case ModeApproval:
		return "approval"
	}
	return "sync"
}

// requestAsync accepts a request for asynchronous processing. The request is checked at
// once (a request that would be refused is refused synchronously, with its code); an
// acceptable one is recorded together with its outbox item before ok_syntax is answered, so
// an acknowledged request cannot be lost.
func (s *IssuingService) requestAsync(ctx context.Context, log *slog.Logger, h *Holder, m msg.Message, mode Mode) msg.Answer {
	check := s.CheckResponseURL
	if check == nil {
		check = server.URLPolicy{}.Check
	}
	if m.MessageID == "" || check(m.ResponseURL) != nil {
		// Without a messageID the callback could not be matched; without a usable
		// responseURL it could not be delivered.
		log.Info("callback offered without a usable messageID or responseURL", "responseURL", m.ResponseURL)
		if mode == ModeApproval {
			return s.syncAnswer(ctx, log, h, m, msg.Answer{ReturnCode: authority.FailureSynchronousProcessingNotPossible})
		}
		return s.syncAnswer(ctx, log, h, m, msg.Answer{ReturnCode: authority.FailureSyntax})
	}
	choice, err := ChooseIssuer(ctx, s.Registry, h, s.issuer(), s.ByCAR, m.CertReq)
	if err != nil {
		log.Error("current certificate", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	if err := choice.Check(m.CertReq); err != nil {
		code := authority.CodeFor(err)
		logRefusal(log, code, err)
		return s.syncAnswer(ctx, log, h, m, msg.Answer{ReturnCode: code})
	}
	err = s.Registry.Enqueue(ctx, h.ID, m, mode == ModeApproval)
	switch {
	case errors.Is(err, ErrDuplicate):
		log.Info("duplicate messageID of an asynchronous request: acknowledged before")
		return msg.Answer{ReturnCode: authority.OKSyntax}
	case errors.Is(err, ErrQueueFull):
		// Not recorded: the same messageID may be sent again once the queue has drained.
		log.Warn("asynchronous request refused: the holder's queue is full", "err", err)
		return msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}
	case err != nil:
		log.Error("record asynchronous request", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	}
	log.Info("request accepted for asynchronous processing", "mode", mode.String(), "responseURL", m.ResponseURL)
	return msg.Answer{ReturnCode: authority.OKSyntax}
}

// syncAnswer records a request and its immediate answer (so that a repeat of its messageID
// gets the same answer).
func (s *IssuingService) syncAnswer(ctx context.Context, log *slog.Logger, h *Holder, m msg.Message, a msg.Answer) msg.Answer {
	previous, err := s.Registry.Begin(ctx, h.ID, m)
	if prev, done := s.begun(log, previous, err); done {
		return prev
	}
	return s.finish(ctx, log, h, m, a, nil)
}
