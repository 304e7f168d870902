// Package ops is the one path of every operator action (register, suspend, reinstate,
// revoke, approve, reject, retry, add operators and API clients): the CLI, the REST API and
// the emCA-compatible methods are thin adapters over Service. Each action's change and its
// audit event are committed in one transaction; a refused action is audited too.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/store"
	"eacgate/trust"
)

// Actor is who asks for an action, and how.
type Actor struct {
	Channel Channel
	// Name is the operator's name (REST), the API client's user name (emCA) or the user
	// running the command (CLI).
	Name string
	// Role is the operator's role (REST); the endpoints check it before calling.
	Role store.OperatorRole
	// Remote is the caller's address; empty: a local command.
	Remote string
	// RequestID is the emCA request's requestId, recorded with its events.
	RequestID string
	// OperatorID and Person identify the operator account and the person holding it (the
	// two-person principle counts persons); zero for a local command without a token.
	OperatorID int64
	Person     string
	// Bootstrap: the local CLI while no operator account exists runs critical tasks at once;
	// their events say "bootstrap": true.
	Bootstrap bool
	// Proposal is the proposal whose approval runs the action (0: none), and ApprovedBy
	// the approver whose approval completed it: the action's event names both.
	Proposal   int64
	ApprovedBy string
	// Words, if set, words a refusal for the audit log the way the channel answers it (the
	// emCA results, the REST API's texts); nil: PublicText.
	Words func(error) string
}

// String is the actor as the audit log names it.
func (a Actor) String() string {
	switch a.Channel {
	case ChannelREST, ChannelConsole: // the same operator account; the event's name says the channel
		return "operator:" + a.Name
	case ChannelEMCA:
		return "emca:" + a.Name
	}
	return "cli:" + a.Name
}

func (a Actor) source() string {
	if a.Remote == "" {
		return "local"
	}
	return a.Remote
}

func (a Actor) words(err error) string {
	if a.Words != nil {
		return a.Words(err)
	}
	return PublicText(err)
}

// Service performs the operator actions on the store.
type Service struct {
	Store *store.Store
	// Country is this gateway's country: it keeps a status for the certificates issued
	// under a CAR of this country that are not CVCA certificates.
	Country string
	// Now is the clock of the audit events (nil: the store's).
	Now    func() time.Time
	Logger *slog.Logger
	// AuthLog bounds the audit of logins and refused authentications (nil: logins are not
	// recorded, refusals are, each capped in size but not rate-limited).
	AuthLog *AuthLog
	// TwoPerson is the policy of the critical tasks (quorum per task, proposal lifetime).
	TwoPerson TwoPerson
	// Keys runs the CVCA's key operations approved under the two-person principle (nil:
	// those tasks are refused).
	Keys KeyOperations
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// event is the audit event of action by a on target.
func (s *Service) event(a Actor, action Action, target, outcome string, details any) (store.AuditEvent, error) {
	ev := store.AuditEvent{Actor: a.String(), Action: action.EventName(a.Channel), Target: target, Source: a.source(), Outcome: outcome}
	if s.Now != nil {
		ev.At = s.Now()
	}
	if a.Bootstrap || a.Proposal != 0 {
		details = markDetails(details, a)
	}
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil {
			return ev, fmt.Errorf("ops: audit details of %s: %w", action, err)
		}
		ev.Details = string(b)
	}
	return ev, nil
}

// Record appends an event the adapter decided on its own: a request refused before any
// action (authentication, validation, a role that may not), or a lockout. outcome is
// recorded as given.
func (s *Service) Record(ctx context.Context, a Actor, action Action, target, outcome string, details any) error {
	ev, err := s.event(a, action, target, outcome, details)
	if err != nil {
		return err
	}
	if _, err := s.Store.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("ops: audit %s: %w", action, err)
	}
	return nil
}

// refused audits a refused or failed action (nothing changed) and returns its error; a
// failure to audit it is logged.
func (s *Service) refused(ctx context.Context, a Actor, action Action, target string, err error, details any) error {
	if aerr := s.Record(ctx, a, action, target, "failed: "+a.words(err), details); aerr != nil {
		s.logger().Error("audit of a refused operator action", "action", action, "target", target, "err", aerr)
	}
	return err
}

// ok is the event of a successful action (the store appends it with the change).
func (s *Service) ok(a Actor, action Action, target string, details any) (store.AuditEvent, error) {
	return s.event(a, action, target, "ok", details)
}

// reasonDetails are the details of an action with a reason: the emCA request's ID and
// remarks, or the operator's reason.
func reasonDetails(a Actor, reason string) any {
	if a.Channel == ChannelEMCA {
		return map[string]string{"requestId": a.RequestID, "remarks": reason}
	}
	return map[string]string{"reason": reason}
}

// RegisterHolder registers h (a DV, terminal, SPOC or CVCA); target of the audit event is
// its name (country and mnemonic), which must follow TR-03139 3.1 (cvc.CheckHolderName: a
// refusal is a *cvc.NameError, and audited).
func (s *Service) RegisterHolder(ctx context.Context, a Actor, h *store.Holder) error {
	target := h.Country + h.Mnemonic
	details := map[string]string{"role": string(h.Role)}
	if err := cvc.CheckHolderName(h.Country, h.Mnemonic); err != nil {
		return s.refused(ctx, a, ActionHolderRegister, target, err, details)
	}
	ev, err := s.ok(a, ActionHolderRegister, target, details)
	if err != nil {
		return err
	}
	if err := s.Store.CreateHolderAudited(ctx, h, ev); err != nil {
		return s.refused(ctx, a, ActionHolderRegister, target, err, nil)
	}
	return nil
}

// SuspendHolder suspends a holder: its requests are neither processed nor forwarded.
func (s *Service) SuspendHolder(ctx context.Context, a Actor, id int64, reason string) (*store.Holder, error) {
	return s.setHolderStatus(ctx, a, ActionHolderSuspend, id, store.HolderSuspended, reason)
}

// ReinstateHolder makes a suspended holder active again.
func (s *Service) ReinstateHolder(ctx context.Context, a Actor, id int64, reason string) (*store.Holder, error) {
	return s.setHolderStatus(ctx, a, ActionHolderReinstate, id, store.HolderActive, reason)
}

// RevokeHolder revokes a holder, for good.
func (s *Service) RevokeHolder(ctx context.Context, a Actor, id int64, reason string) (*store.Holder, error) {
	return s.setHolderStatus(ctx, a, ActionHolderRevoke, id, store.HolderRevoked, reason)
}

func (s *Service) setHolderStatus(ctx context.Context, a Actor, action Action, id int64, to store.HolderStatus, reason string) (*store.Holder, error) {
	h, err := s.Store.HolderByID(ctx, id)
	if err != nil {
		return nil, s.refused(ctx, a, action, fmt.Sprintf("holder:%d", id), err, nil)
	}
	target := h.Country + h.Mnemonic
	ev, err := s.ok(a, action, target, reasonDetails(a, reason))
	if err != nil {
		return nil, err
	}
	if err := s.Store.SetHolderStatusAudited(ctx, id, to, ev); err != nil {
		return nil, s.refused(ctx, a, action, target, err, reasonDetails(a, reason))
	}
	h.Status = to
	return h, nil
}

// TransitionError refuses a certificate status change this gateway does not make: it keeps
// no status for the certificate, or the certificate is not in a state the change applies to.
type TransitionError struct {
	CHR      string
	From, To store.CertStatus
	// NoStatus: the gateway keeps no status for the certificate (not issued here).
	NoStatus bool
}

func (e *TransitionError) Error() string {
	switch {
	case e.NoStatus:
		return fmt.Sprintf("no status is kept for %s (not issued by this gateway)", e.CHR)
	case e.From == e.To:
		return fmt.Sprintf("%s is already %s", e.CHR, e.To)
	}
	return fmt.Sprintf("%s is %s, not suspended", e.CHR, e.From)
}

// KeepsStatus reports whether this gateway keeps a status for c: it issued it (its issuer
// is of this country) and it is not a CVCA certificate.
func (s *Service) KeepsStatus(c *store.Certificate) bool {
	return c.Role != store.RoleCVCA && strings.HasPrefix(c.CAR, s.Country)
}

// checkTransition refuses a change of c to status to that is none (suspending a suspended
// certificate), that reinstates what is not suspended, or of a status not kept here.
func (s *Service) checkTransition(c *store.Certificate, to store.CertStatus) error {
	if !s.KeepsStatus(c) {
		return &TransitionError{CHR: c.CHR, From: c.Status, To: to, NoStatus: true}
	}
	if c.Status == to || (to == store.CertValid && c.Status != store.CertSuspended) {
		return &TransitionError{CHR: c.CHR, From: c.Status, To: to}
	}
	return nil
}

// SuspendCertificate suspends a certificate this gateway issued.
func (s *Service) SuspendCertificate(ctx context.Context, a Actor, id int64, reason string) (*store.Certificate, error) {
	return s.setCertificateStatus(ctx, a, ActionCertificateSuspend, id, store.CertSuspended, reason)
}

// ReinstateCertificate makes a suspended certificate valid again.
func (s *Service) ReinstateCertificate(ctx context.Context, a Actor, id int64, reason string) (*store.Certificate, error) {
	return s.setCertificateStatus(ctx, a, ActionCertificateReinstate, id, store.CertValid, reason)
}

// RevokeCertificate revokes a certificate this gateway issued, for good.
func (s *Service) RevokeCertificate(ctx context.Context, a Actor, id int64, reason string) (*store.Certificate, error) {
	return s.setCertificateStatus(ctx, a, ActionCertificateRevoke, id, store.CertRevoked, reason)
}

func (s *Service) setCertificateStatus(ctx context.Context, a Actor, action Action, id int64, to store.CertStatus, reason string) (*store.Certificate, error) {
	c, err := s.Store.CertificateByID(ctx, id)
	if err != nil {
		return nil, s.refused(ctx, a, action, fmt.Sprintf("certificate:%d", id), err, nil)
	}
	ev, err := s.ok(a, action, c.CHR, reasonDetails(a, reason))
	if err != nil {
		return nil, err
	}
	// The rule is checked on the certificate as the transaction reads it.
	check := func(now *store.Certificate) error { return s.checkTransition(now, to) }
	if err := s.Store.SetCertificateStatusAudited(ctx, id, to, check, ev); err != nil {
		return nil, s.refused(ctx, a, action, c.CHR, err, reasonDetails(a, reason))
	}
	c.Status = to
	return c, nil
}

// ApproveRequest approves a request held for an operator's decision: it is processed and
// answered by callback.
func (s *Service) ApproveRequest(ctx context.Context, a Actor, id int64, reason string) error {
	target := fmt.Sprintf("message:%d", id)
	ev, err := s.ok(a, ActionRequestApprove, target, reasonDetails(a, reason))
	if err != nil {
		return err
	}
	if err := s.Store.ApproveMessageAudited(ctx, id, a.String(), ev); err != nil {
		return s.refused(ctx, a, ActionRequestApprove, target, err, reasonDetails(a, reason))
	}
	return nil
}

// RejectRequest rejects a held request: the requester is answered
// failure_request_not_accepted by callback.
func (s *Service) RejectRequest(ctx context.Context, a Actor, id int64, reason string) error {
	target := fmt.Sprintf("message:%d", id)
	ev, err := s.ok(a, ActionRequestReject, target, reasonDetails(a, reason))
	if err != nil {
		return err
	}
	if err := s.Store.RejectMessageAudited(ctx, id, a.String(), string(authority.FailureRequestNotAccepted), ev); err != nil {
		return s.refused(ctx, a, ActionRequestReject, target, err, reasonDetails(a, reason))
	}
	return nil
}

// RetryOutbox queues a dead-lettered delivery again.
func (s *Service) RetryOutbox(ctx context.Context, a Actor, id int64) error {
	target := fmt.Sprintf("outbox:%d", id)
	ev, err := s.ok(a, ActionOutboxRetry, target, nil)
	if err != nil {
		return err
	}
	if err := s.Store.RetryDeadAudited(ctx, id, ev); err != nil {
		return s.refused(ctx, a, ActionOutboxRetry, target, err, nil)
	}
	return nil
}

// AddCVCACertificate stores CVCA certificate c (eacgate trust add): a country's first root
// only when sha256 (confirmed out of band) is its SHA-256, a later one only as a link
// certificate that verifies against the stored chain (trust.Store.AddCVCACertificate). added
// is false when c was stored already; either way the action is audited with c's SHA-256.
func (s *Service) AddCVCACertificate(ctx context.Context, a Actor, c *cvc.Certificate, sha256 string) (added bool, err error) {
	target := "certificate:" + c.CHR
	details := map[string]string{"sha256": trust.CertificateSHA256(c)}
	ev, err := s.ok(a, ActionTrustAdd, target, details)
	if err != nil {
		return false, err
	}
	trusted, _ := trust.FirstRootTrust(c, []string{sha256})
	err = s.Store.Audited(ctx, "add CVCA certificate", ev, func(tx *store.Store) error {
		var err error
		added, err = trust.New(tx).AddCVCACertificate(ctx, c, sha256 != "" && trusted)
		return err
	})
	if err != nil {
		return false, s.refused(ctx, a, ActionTrustAdd, target, err, details)
	}
	return added, nil
}

// PublicText is what operators see of an action's error, in answers and in the audit log:
// the refusals of this package and the store's state conflicts as they word them, but never
// the text of a database or driver error (a constraint violation names tables and
// columns), which only the log gets.
func PublicText(err error) string {
	var te *TransitionError
	var ce *CountriesError
	if t, ok := partnerText(err); ok {
		return t
	}
	if t, ok := proposalText(err); ok {
		return t
	}
	switch {
	case errors.As(err, &te):
		return te.Error()
	case errors.As(err, &ce):
		return ce.Error()
	case errors.Is(err, store.ErrNotFound):
		return "not found"
	case errors.Is(err, store.ErrRevokedFinal):
		return "revoked is final"
	case errors.Is(err, store.ErrConflict) && store.IsConstraintViolation(err):
		return "conflicts with an existing record"
	case errors.Is(err, store.ErrConflict):
		return strings.TrimPrefix(err.Error(), "store: ")
	case errors.As(err, new(*cvc.NameError)):
		return err.Error()
	}
	return "internal error"
}
