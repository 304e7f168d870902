package server

import (
	"context"
	"errors"
	"log/slog"

	"eacgate/authority"
	"eacgate/cvc"
)

// Holder is a registered peer as the issuing service needs it.
type Holder struct {
	ID       int64
	Country  string
	Mnemonic string
	Role     cvc.Role
	Status   authority.HolderStatus
	Rights   []byte // access rights granted; nil = the issuer's
}

// ErrUnknown is returned by a Registry for a holder or message it does not know.
var ErrUnknown = errors.New("server: not found")

// ErrDuplicate is returned by Registry.Begin for a messageID the originator already used.
var ErrDuplicate = errors.New("server: duplicate messageID")

// Registry is what the issuing service needs from the store.
type Registry interface {
	// HolderByFingerprint finds the holder registered with this TLS client certificate.
	HolderByFingerprint(ctx context.Context, fingerprint string) (*Holder, error)
	// CurrentCertificate is the holder's newest certificate that is not suspended or
	// revoked, even if expired (renewals signed with it get failure_expired), or ErrUnknown.
	CurrentCertificate(ctx context.Context, holderID int64) (*cvc.Certificate, error)
	// Begin records a request durably before it is processed. A messageID the holder used
	// before gives ErrDuplicate and the first answer (nil while that one is in progress).
	Begin(ctx context.Context, holderID int64, m Message) (token int64, previous *Answer, err error)
	// Finish stores the answer (and the issued certificate, if any) for a begun request.
	Finish(ctx context.Context, token int64, holderID int64, a Answer, issued *cvc.Certificate) error
}

// IssuingService answers RequestCertificate and GetCACertificates for one issuer: the CVCA
// endpoint (issuing DV certificates) or the DV endpoint (issuing terminal certificates).
type IssuingService struct {
	Issuer   *authority.Issuer
	Registry Registry
	// Chain returns the certificates GetCACertificates answers with: the CVCA certificates
	// and link certificates (and for the DV endpoint the DV's own certificates), oldest first.
	Chain func(ctx context.Context) ([][]byte, error)
	// DocumentSignerList returns the current document signer list (CMS SignedData) for
	// GetDocumentSignerList, or ErrUnknown when there is none. Nil: no list is offered.
	DocumentSignerList func(ctx context.Context) ([]byte, error)
	Logger             *slog.Logger
}

func (s *IssuingService) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Handle implements Service for the synchronous path.
func (s *IssuingService) Handle(ctx context.Context, c Caller, m Message) Answer {
	log := s.logger().With("op", m.Operation, "messageID", m.MessageID, "remote", c.RemoteAddr)
	holder, err := s.Registry.HolderByFingerprint(ctx, c.Fingerprint)
	if err != nil {
		if !errors.Is(err, ErrUnknown) {
			log.Error("look up caller", "err", err)
			return Answer{ReturnCode: authority.FailureInternalError}
		}
		log.Info("request from an unregistered client certificate", "fingerprint", c.Fingerprint)
		return Answer{ReturnCode: refusal(m.Operation)}
	}
	log = log.With("holder", holder.Country+holder.Mnemonic)
	switch m.Operation {
	case "GetCACertificates":
		if holder.Status == authority.StatusRevoked {
			return Answer{ReturnCode: authority.FailureRequestNotAccepted}
		}
		certs, err := s.Chain(ctx)
		if err != nil {
			log.Error("CA chain", "err", err)
			return Answer{ReturnCode: authority.FailureInternalError}
		}
		return Answer{ReturnCode: authority.OKCertAvailable, Certificates: certs}
	case "RequestCertificate":
		return s.requestCertificate(ctx, log, holder, m)
	case "GetDocumentSignerList":
		if s.DocumentSignerList == nil || holder.Status != authority.StatusActive {
			return Answer{ReturnCode: authority.FailureListNotAvailable}
		}
		list, err := s.DocumentSignerList(ctx)
		if errors.Is(err, ErrUnknown) {
			return Answer{ReturnCode: authority.FailureListNotAvailable}
		}
		if err != nil {
			log.Error("document signer list", "err", err)
			return Answer{ReturnCode: authority.FailureInternalError}
		}
		return Answer{ReturnCode: authority.OKListAvailable, List: list}
	case "SendCertificates":
		// This gateway has not yet sent a request that a callback could answer.
		log.Info("SendCertificates for a messageID we never sent")
		return Answer{ReturnCode: authority.FailureMessageIDUnknown}
	}
	log.Info("operation not offered here")
	return Answer{ReturnCode: refusal(m.Operation)}
}

// refusal is the code that refuses an operation from a caller who may not use it: each
// operation's result type allows only some codes (SendCertificates and GetDocumentSignerList
// have no failure_request_not_accepted).
func refusal(op string) authority.ReturnCode {
	switch op {
	case "SendCertificates":
		return authority.FailureMessageIDUnknown
	case "GetDocumentSignerList":
		return authority.FailureListNotAvailable
	}
	return authority.FailureRequestNotAccepted
}

func (s *IssuingService) requestCertificate(ctx context.Context, log *slog.Logger, h *Holder, m Message) Answer {
	token, previous, err := s.Registry.Begin(ctx, h.ID, m)
	switch {
	case errors.Is(err, ErrDuplicate) && previous != nil:
		log.Info("duplicate messageID: answering as before", "code", previous.ReturnCode)
		return *previous
	case errors.Is(err, ErrDuplicate):
		log.Info("duplicate messageID while the first is in progress")
		return Answer{ReturnCode: authority.FailureRequestNotAccepted}
	case err != nil:
		log.Error("record request", "err", err)
		return Answer{ReturnCode: authority.FailureInternalError}
	}
	app := authority.Applicant{Country: h.Country, Mnemonic: h.Mnemonic, Role: h.Role, Status: h.Status, Rights: h.Rights}
	if cur, err := s.Registry.CurrentCertificate(ctx, h.ID); err == nil {
		app.Current = cur
	} else if !errors.Is(err, ErrUnknown) {
		log.Error("current certificate", "err", err)
		return s.finish(ctx, log, token, h, Answer{ReturnCode: authority.FailureInternalError}, nil)
	}
	cert, err := s.Issuer.Issue(m.CertReq, app)
	code := authority.CodeFor(err)
	if err != nil {
		if code == authority.FailureInternalError {
			log.Error("issue", "err", err)
		} else {
			log.Info("request refused", "code", code, "reason", err)
		}
		return s.finish(ctx, log, token, h, Answer{ReturnCode: code}, nil)
	}
	log.Info("certificate issued", "chr", cert.CHR, "expires", cert.ExpirationDate.String())
	return s.finish(ctx, log, token, h, Answer{ReturnCode: authority.OKCertAvailable, Certificates: [][]byte{cert.Raw}}, cert)
}

// finish stores the answer; if that fails the certificate is not handed out (it would be
// unrecorded), and the peer gets failure_internal_error.
func (s *IssuingService) finish(ctx context.Context, log *slog.Logger, token int64, h *Holder, a Answer, cert *cvc.Certificate) Answer {
	if err := s.Registry.Finish(ctx, token, h.ID, a, cert); err != nil {
		log.Error("store answer", "err", err)
		return Answer{ReturnCode: authority.FailureInternalError}
	}
	return a
}
