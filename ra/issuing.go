package ra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/msg"
	"eacgate/server"
)

// Holder is a registered peer as the issuing service needs it.
type Holder struct {
	ID       int64
	Country  string
	Mnemonic string
	Role     cvc.Role
	Status   authority.HolderStatus
	Rights   []byte // access rights granted; nil = the issuer's
	// ForeignCVCA is the CVCA certificate of the holder's country that authenticated its
	// initial request, as verified by the trust store (see authority.Applicant).
	ForeignCVCA *cvc.Certificate
	// Current is the holder's current certificate when the registry read it together with
	// the holder (nil: ApplicantFor asks Registry.CurrentCertificate).
	Current *cvc.Certificate
	// IPRanges are the addresses the holder may connect from (empty: any).
	IPRanges []netip.Prefix
	// Caller names who sent this request ("" : the holder itself, "holder:<id>"; a SPOC
	// relaying it: "spoc:<country>") and Source the caller's address: what the audit
	// event of a certificate issued for it records.
	Caller, Source string
}

// AllowsAddr reports whether a peer at remote (host:port or a bare address, as
// http.Request.RemoteAddr: the socket's address, never a header) may act as the holder.
func (h *Holder) AllowsAddr(remote string) bool {
	return AddrInRanges(h.IPRanges, remote)
}

// AddrInRanges reports whether remote (host:port or a bare address) lies in one of ranges;
// no ranges allow any address, an unparsable address none.
func AddrInRanges(ranges []netip.Prefix, remote string) bool {
	if len(ranges) == 0 {
		return true
	}
	addr, err := netip.ParseAddr(remote)
	if err != nil {
		ap, perr := netip.ParseAddrPort(remote)
		if perr != nil {
			return false
		}
		addr = ap.Addr()
	}
	addr = addr.Unmap()
	return slices.ContainsFunc(ranges, func(p netip.Prefix) bool { return p.Contains(addr) })
}

// ErrUnknown is returned by a Registry for a holder or message it does not know.
var ErrUnknown = errors.New("server: not found")

// ErrDuplicate is returned by Registry.Begin for a messageID the originator already used.
var ErrDuplicate = errors.New("server: duplicate messageID")

// ErrCertificateExists is returned by Registry.Finish for a certificate that repeats a CHR
// under its CAR or certifies a public key certified before (the database refuses it; two
// concurrent requests for one CHR get one certificate).
var ErrCertificateExists = errors.New("server: the CHR or the public key was certified before")

// Registry is what the issuing service needs from the store.
type Registry interface {
	// HolderByFingerprint finds the holder registered with this TLS client certificate.
	HolderByFingerprint(ctx context.Context, fingerprint string) (*Holder, error)
	// CurrentCertificate is the holder's newest certificate that is not suspended or
	// revoked, even if expired (renewals signed with it get failure_expired), or ErrUnknown.
	CurrentCertificate(ctx context.Context, holderID int64) (*cvc.Certificate, error)
	// CurrentCertificateFrom is like CurrentCertificate among the certificates issued under
	// one of the given CARs (one chain of a holder certified in several), or ErrUnknown.
	CurrentCertificateFrom(ctx context.Context, holderID int64, cars []string) (*cvc.Certificate, error)
	// Begin looks for an earlier request with the same messageID from the holder: one gives
	// ErrDuplicate and its answer (nil while that one is in progress).
	Begin(ctx context.Context, holderID int64, m msg.Message) (previous *msg.Answer, err error)
	// Finish stores the request with its answer (and the issued certificate, if any) in one
	// transaction, before the answer is sent. If the same messageID was stored meanwhile
	// (a concurrent repeat), nothing is stored and that first answer is returned. If the
	// certificate repeats a CHR or a key (ErrCertificateExists), the request is stored with
	// failure_request_not_accepted instead, and that answer is returned with the error.
	// The issued certificate is audited (ca.issue, requested by h) in the same transaction.
	Finish(ctx context.Context, h *Holder, m msg.Message, a msg.Answer, issued *cvc.Certificate) (previous *msg.Answer, err error)
	// Enqueue records a request to be processed asynchronously together with the outbox
	// item that will process it and deliver the answer to m.ResponseURL, in one
	// transaction; held items wait for an operator's approval. A messageID the holder used
	// before gives ErrDuplicate.
	Enqueue(ctx context.Context, holderID int64, m msg.Message, held bool) error
}

// IssuingService answers RequestCertificate and GetCACertificates for one issuer: the CVCA
// endpoint (issuing DV certificates) or the DV endpoint (issuing terminal certificates).
type IssuingService struct {
	Issuer *authority.Issuer
	// IssuerFunc, when set, returns the current issuer instead of Issuer (a DV that renews
	// its own certificate swaps it while serving).
	IssuerFunc func() *authority.Issuer
	// ByCAR, when set, returns the issuer of another chain this CA holds for a request whose
	// inner CAR names one of that chain's certificates (a DV's certificates from foreign
	// CVCAs, under which it certifies terminals for those countries' documents), or nil.
	ByCAR    func(car string) *authority.Issuer
	Registry Registry
	// Chain returns the certificates GetCACertificates answers with: the CVCA certificates
	// and link certificates (and for the DV endpoint the DV's own certificates), oldest first.
	Chain func(ctx context.Context) ([][]byte, error)
	// DocumentSignerList returns the current document signer list (CMS SignedData) for
	// GetDocumentSignerList, or ErrUnknown when there is none. Nil: no list is offered.
	DocumentSignerList func(ctx context.Context) ([]byte, error)
	// Mode decides how a RequestCertificate is processed (nil: always synchronously).
	Mode func(h *Holder, m msg.Message) Mode
	// CheckResponseURL vets a responseURL before a callback to it is promised (nil:
	// URLPolicy{}.Check, an absolute https URL naming no non-public address).
	CheckResponseURL func(string) error
	// Receiver answers SendCertificates (callbacks for requests this gateway sent, and
	// notifications of new CA certificates); nil: every messageID is unknown.
	Receiver func(ctx context.Context, h *Holder, m msg.Message) msg.Answer
	// Foreign answers RequestForeignCertificate (the SPOC's national side); nil: refused.
	Foreign func(ctx context.Context, h *Holder, m msg.Message) msg.Answer
	Logger  *slog.Logger
	// Now is the clock the callers' TLS certificates are checked with (time.Now when nil).
	Now func() time.Time
}

func (s *IssuingService) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *IssuingService) issuer() *authority.Issuer {
	if s.IssuerFunc != nil {
		return s.IssuerFunc()
	}
	return s.Issuer
}

func (s *IssuingService) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Handle implements Service for the synchronous path.
func (s *IssuingService) Handle(ctx context.Context, c msg.Caller, m msg.Message) msg.Answer {
	log := s.logger().With("op", m.Operation, "messageID", m.MessageID, "remote", c.RemoteAddr)
	holder, _ := ctx.Value(admittedHolder{}).(*Holder)
	if holder == nil {
		var err error
		if holder, err = s.identify(ctx, c); err != nil {
			if !errors.Is(err, ErrUnknown) {
				log.Error("look up caller", "err", err)
				return msg.Answer{ReturnCode: authority.FailureInternalError}
			}
			log.Info("request refused", "fingerprint", c.Fingerprint, "reason", err)
			return msg.Answer{ReturnCode: refusal(m.Operation)}
		}
	}
	log = log.With("holder", holder.Country+holder.Mnemonic)
	switch m.Operation {
	case "GetCACertificates":
		if holder.Status == authority.StatusRevoked {
			return msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}
		}
		if s.Chain == nil {
			log.Info("GetCACertificates but this endpoint offers no CA chain")
			return msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}
		}
		certs, err := s.Chain(ctx)
		if err != nil {
			log.Error("CA chain", "err", err)
			return msg.Answer{ReturnCode: authority.FailureInternalError}
		}
		return msg.Answer{ReturnCode: authority.OKCertAvailable, Certificates: certs}
	case "RequestCertificate":
		return s.requestCertificate(ctx, log, holder, m)
	case "RequestForeignCertificate":
		if s.Foreign == nil {
			log.Info("RequestForeignCertificate but this gateway is no SPOC")
			return msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}
		}
		return s.Foreign(ctx, holder, m)
	case "GetDocumentSignerList":
		if s.DocumentSignerList == nil || holder.Status != authority.StatusActive {
			return msg.Answer{ReturnCode: authority.FailureListNotAvailable}
		}
		list, err := s.DocumentSignerList(ctx)
		if errors.Is(err, ErrUnknown) {
			return msg.Answer{ReturnCode: authority.FailureListNotAvailable}
		}
		if err != nil {
			log.Error("document signer list", "err", err)
			return msg.Answer{ReturnCode: authority.FailureInternalError}
		}
		return msg.Answer{ReturnCode: authority.OKListAvailable, List: list}
	case "SendCertificates":
		if s.Receiver == nil || holder.Status != authority.StatusActive {
			log.Info("SendCertificates not accepted here", "status", holder.Status)
			return msg.Answer{ReturnCode: authority.FailureMessageIDUnknown}
		}
		return s.Receiver(ctx, holder, m)
	}
	log.Info("operation not offered here")
	return msg.Answer{ReturnCode: refusal(m.Operation)}
}

// admittedHolder is the context key of the holder Admit identified.
type admittedHolder struct{}

// Admit implements Admitter: the caller is a registered holder whose certificate may be used
// now and whose address is in its ranges. The holder goes with the context to Handle.
func (s *IssuingService) Admit(ctx context.Context, c msg.Caller) (context.Context, bool) {
	h, err := s.identify(ctx, c)
	if err != nil {
		return ctx, false // Handle looks again and answers (or logs a database failure)
	}
	return context.WithValue(ctx, admittedHolder{}, h), true
}

// identify finds the holder a caller is: its TLS client certificate valid for client use
// now, registered, and called from one of the holder's registered addresses. A caller it
// cannot accept is an error wrapping ErrUnknown that says why.
func (s *IssuingService) identify(ctx context.Context, c msg.Caller) (*Holder, error) {
	if c.Certificate != nil {
		if err := server.CheckClientCertificate(c.Certificate, s.now()); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnknown, err)
		}
	}
	holder, err := s.Registry.HolderByFingerprint(ctx, c.Fingerprint)
	if errors.Is(err, ErrUnknown) {
		return nil, fmt.Errorf("%w: unregistered client certificate", ErrUnknown)
	}
	if err != nil {
		return nil, err
	}
	if !holder.AllowsAddr(c.RemoteAddr) {
		return nil, fmt.Errorf("%w: the address is not in the holder's registered IP ranges (holder %s%s)", ErrUnknown, holder.Country, holder.Mnemonic)
	}
	holder.Source = c.RemoteAddr
	return holder, nil
}

// refusal is the code that refuses an operation from a caller who may not use it: each
// operation's result type allows only some codes (SendCertificates and GetDocumentSignerList
// have no failure_request_not_accepted); server.Refusal reads them from the enumerations.
func refusal(op string) authority.ReturnCode {
	return server.Refusal(op, append(append([]server.Protocol{}, server.CVCAProtocols...), server.DVProtocols...)...)
}

// RequestCertificate answers a certificate request from a holder identified by other means
// than its own TLS certificate (a foreign DV's request relayed by its SPOC).
func (s *IssuingService) RequestCertificate(ctx context.Context, h *Holder, m msg.Message) msg.Answer {
	log := s.logger().With("op", m.Operation, "messageID", m.MessageID, "holder", h.Country+h.Mnemonic)
	return s.requestCertificate(ctx, log, h, m)
}

func (s *IssuingService) requestCertificate(ctx context.Context, log *slog.Logger, h *Holder, m msg.Message) msg.Answer {
	mode := ModeSync
	if s.Mode != nil {
		mode = s.Mode(h, m)
	}
	if mode != ModeSync && m.CallbackPossible {
		return s.requestAsync(ctx, log, h, m, mode)
	}
	previous, err := s.Registry.Begin(ctx, h.ID, m)
	if a, done := s.begun(log, previous, err); done {
		return a
	}
	if mode == ModeApproval {
		// Only an operator can decide, and the requester cannot wait for one.
		log.Info("request needs approval but the sender cannot take a callback")
		return s.finish(ctx, log, h, m, msg.Answer{ReturnCode: authority.FailureSynchronousProcessingNotPossible}, nil)
	}
	choice, err := ChooseIssuer(ctx, s.Registry, h, s.issuer(), s.ByCAR, m.CertReq)
	if err != nil {
		log.Error("current certificate", "err", err)
		return s.finish(ctx, log, h, m, msg.Answer{ReturnCode: authority.FailureInternalError}, nil)
	}
	cert, err := choice.Issue(m.CertReq)
	code := authority.CodeFor(err)
	if err != nil {
		logRefusal(log, code, err)
		return s.finish(ctx, log, h, m, msg.Answer{ReturnCode: code}, nil)
	}
	a := s.finish(ctx, log, h, m, msg.Answer{ReturnCode: authority.OKCertAvailable, Certificates: [][]byte{cert.Raw}}, cert)
	if a.ReturnCode == authority.OKCertAvailable && len(a.Certificates) == 1 && bytes.Equal(a.Certificates[0], cert.Raw) {
		issued := []slog.Attr{slog.String("holder", h.Country+h.Mnemonic), slog.String("chr", cert.CHR),
			slog.String("expires", cert.ExpirationDate.String())}
		if !msg.Note(ctx, issued...) {
			log.LogAttrs(ctx, slog.LevelInfo, "certificate issued", issued...)
		}
	}
	return a
}

// begun interprets Registry.Begin's result: done is true when the request must not be
// processed (a repeated messageID, or the request could not be recorded) and a is the answer.
func (s *IssuingService) begun(log *slog.Logger, previous *msg.Answer, err error) (a msg.Answer, done bool) {
	switch {
	case errors.Is(err, ErrDuplicate) && previous != nil:
		log.Info("duplicate messageID: answering as before", "code", previous.ReturnCode)
		return *previous, true
	case errors.Is(err, ErrDuplicate):
		log.Info("duplicate messageID while the first is in progress")
		return msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}, true
	case err != nil:
		log.Error("record request", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}, true
	}
	return msg.Answer{}, false
}

// ApplicantFor describes holder h to an issuer, with its current certificate from reg.
func ApplicantFor(ctx context.Context, reg Registry, h *Holder) (authority.Applicant, error) {
	app := authority.Applicant{Country: h.Country, Mnemonic: h.Mnemonic, Role: h.Role, Status: h.Status, Rights: h.Rights, ForeignCVCA: h.ForeignCVCA}
	if h.Current != nil {
		app.Current = h.Current
		return app, nil
	}
	cur, err := reg.CurrentCertificate(ctx, h.ID)
	switch {
	case err == nil:
		app.Current = cur
	case !errors.Is(err, ErrUnknown):
		return app, err
	}
	return app, nil
}

// errNoIssuer refuses certificate requests at an endpoint without an issuer (the /cvca of a
// SPOC without a CVCA takes only RequestForeignCertificate).
var errNoIssuer = fmt.Errorf("%w: no certificates are issued here", authority.ErrNotAccepted)

// Choice is the issuer chosen for a certificate request, the applicant as described to it,
// and the request parsed (nil when it does not parse: the issuer reports that, after the
// checks of the applicant).
type Choice struct {
	Issuer    *authority.Issuer
	Applicant authority.Applicant
	Request   *cvc.Request
}

// Issue issues the certificate for the chosen request (see authority.Issuer.Issue).
func (c Choice) Issue(raw []byte) (*cvc.Certificate, error) {
	if c.Issuer == nil {
		return nil, errNoIssuer
	}
	if c.Request == nil {
		return c.Issuer.Issue(raw, c.Applicant)
	}
	return c.Issuer.IssueParsed(c.Request, c.Applicant)
}

// Check checks the chosen request without issuing (see authority.Issuer.Check).
func (c Choice) Check(raw []byte) error {
	if c.Issuer == nil {
		return errNoIssuer
	}
	if c.Request == nil {
		_, err := c.Issuer.Check(raw, c.Applicant)
		return err
	}
	return c.Issuer.CheckParsed(c.Request, c.Applicant)
}

// ChooseIssuer picks the issuer of certificate request raw from holder h, and describes h to
// it: def, unless byCAR (may be nil) gives another chain's issuer for the request's inner
// CAR. The applicant's current certificate is h's current one from the chosen issuer's chain
// (a terminal certified under a DV's domestic and foreign certificates has one per chain);
// the request itself is checked by the issuer.
func ChooseIssuer(ctx context.Context, reg Registry, h *Holder, def *authority.Issuer, byCAR func(string) *authority.Issuer, raw []byte) (Choice, error) {
	app, err := ApplicantFor(ctx, reg, h)
	c := Choice{Issuer: def, Applicant: app}
	if err != nil {
		return c, err
	}
	if req, err := cvc.ParseRequest(raw); err == nil {
		c.Request = req
	}
	if byCAR == nil {
		return c, nil
	}
	if c.Request != nil && c.Request.CAR != "" {
		if other := byCAR(c.Request.CAR); other != nil {
			c.Issuer = other
		}
	}
	cur := c.Applicant.Current
	if c.Issuer == nil || cur == nil || cur.CAR == c.Issuer.Certificate().CHR || slices.Contains(c.Issuer.OwnCHRs, cur.CAR) ||
		(c.Issuer == def && byCAR(cur.CAR) == nil) {
		return c, nil // the current certificate is from the chosen chain
	}
	cur, err = reg.CurrentCertificateFrom(ctx, h.ID, IssuerCHRs(c.Issuer))
	switch {
	case err == nil:
		c.Applicant.Current = cur
	case errors.Is(err, ErrUnknown):
		c.Applicant.Current = nil // nothing from this chain yet: an initial request
	default:
		return c, err
	}
	return c, nil
}

// IssuerCHRs are the CHRs of an issuer's certificates its subordinates' certificates may
// name as CAR: its current one and earlier ones (OwnCHRs).
func IssuerCHRs(is *authority.Issuer) []string {
	return append([]string{is.Certificate().CHR}, is.OwnCHRs...)
}

func logRefusal(log *slog.Logger, code authority.ReturnCode, err error) {
	if code == authority.FailureInternalError {
		log.Error("issue", "err", err)
	} else {
		log.Info("request refused", "code", code, "reason", err)
	}
}

// finish stores the answer; if that fails the certificate is not handed out (it would be
// unrecorded), and the peer gets failure_internal_error.
func (s *IssuingService) finish(ctx context.Context, log *slog.Logger, h *Holder, m msg.Message, a msg.Answer, cert *cvc.Certificate) msg.Answer {
	previous, err := s.Registry.Finish(ctx, h, m, a, cert)
	switch {
	case errors.Is(err, ErrCertificateExists) && previous != nil:
		log.Info("request refused", "code", previous.ReturnCode, "reason", err)
		return *previous
	case err != nil:
		log.Error("store answer", "err", err)
		return msg.Answer{ReturnCode: authority.FailureInternalError}
	case previous != nil:
		log.Info("a repeat of this messageID was answered first: answering as it was")
		return *previous
	}
	return a
}
