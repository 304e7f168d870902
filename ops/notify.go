package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"eacgate/authority"
	"eacgate/store"
)

// ActionPartnerNotify sends a notification (a CSN 36 9791 GeneralMessage, TR-03139 Appendix
// C.4) to partner SPOCs: one audit event per partner, with the message as it was stored.
const ActionPartnerNotify Action = "partner.notify"

// AllPartners addresses a notification to every partner of the SPOC's routing table.
const AllPartners = "all"

// PartnerMessenger sends GeneralMessages to partner SPOCs (spoc.Forwarder implements it): ops
// records and audits the notification, the messenger speaks CSN 36 9791.
type PartnerMessenger interface {
	// Partners are the countries of the routing table.
	Partners() []string
	// SendGeneralMessage sends one GeneralMessage and returns the partner's return code; an
	// error when the partner could not be reached or did not answer in the protocol.
	SendGeneralMessage(ctx context.Context, country, messageID, subject, body string) (authority.ReturnCode, error)
}

// Notification is a message to partner SPOCs as an operator asked for it.
type Notification struct {
	To string // a partner's country, or AllPartners
	// Template names the C.4 template the text was made from ("" for free text); it goes
	// into the audit details.
	Template      string
	Subject, Body string
}

// NotifyResult is what became of a notification to one partner.
type NotifyResult struct {
	Country   string
	MessageID string // the GeneralMessage's messageID
	// MessageRowID is the stored outgoing message (0 if it could not be stored).
	MessageRowID int64
	// ReturnCode is the partner's answer ("" when it could not be reached).
	ReturnCode authority.ReturnCode
	// Err is nil when the partner took the message (ok).
	Err error
}

// Errors of NotifyPartners: ErrNotification refuses the request before anything is sent;
// ErrNotifyFailed reports that at least one partner did not take the message.
var (
	ErrNotification = errors.New("ops: notification refused")
	ErrNotifyFailed = errors.New("ops: notification not taken by every partner")
)

// generalMessage is how a GeneralMessage's text is stored in a message row's request, the
// same for messages sent and received (see spoc.Service).
type generalMessage struct {
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// notifyDetails are the audit details of a notification to one partner.
type notifyDetails struct {
	MessageID  string `json:"messageID,omitempty"`
	Template   string `json:"template,omitempty"`
	Subject    string `json:"subject"`
	ReturnCode string `json:"returnCode,omitempty"`
}

// NotifyPartners sends n to one partner or all of them through m. Each message is stored as
// an outgoing GeneralMessage before it leaves (state processing, so that a crash while
// sending leaves a trace); the partner's answer then sets its state (answered, or failed) in
// the same transaction as the action's audit event for that partner (target spoc:<country>,
// outcome ok or failed with the reason). A request refused before sending (no SPOC role, no
// subject, an unknown partner) is audited as refused and returns ErrNotification. When a
// partner does not take the message the others are still sent theirs; the results say who
// took it, and the error wraps ErrNotifyFailed.
func (s *Service) NotifyPartners(ctx context.Context, a Actor, m PartnerMessenger, n Notification) ([]NotifyResult, error) {
	details := notifyDetails{Template: n.Template, Subject: n.Subject}
	countries, err := notifyTargets(m, n)
	if err != nil {
		if aerr := s.Record(ctx, a, ActionPartnerNotify, "spoc:"+n.To, "failed: "+err.Error(), details); aerr != nil {
			s.logger().Error("audit of a refused notification", "to", n.To, "err", aerr)
		}
		return nil, fmt.Errorf("%w: %s", ErrNotification, err)
	}
	var results []NotifyResult
	var failed []string
	for _, c := range countries {
		r := s.notifyOne(ctx, a, m, c, n)
		if r.Err != nil {
			failed = append(failed, c)
		}
		results = append(results, r)
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%w: %s", ErrNotifyFailed, strings.Join(failed, ", "))
	}
	return results, nil
}

// notifyTargets are the partners n goes to, or why it goes nowhere.
func notifyTargets(m PartnerMessenger, n Notification) ([]string, error) {
	if m == nil {
		return nil, errors.New("this gateway has no SPOC role (no partners configured)")
	}
	if strings.TrimSpace(n.Subject) == "" || strings.ContainsAny(n.Subject, "\r\n") {
		return nil, errors.New("a notification needs a subject of one line")
	}
	partners := m.Partners()
	switch {
	case n.To == AllPartners && len(partners) == 0:
		return nil, errors.New("no partners configured")
	case n.To == AllPartners:
		return partners, nil
	case slices.Contains(partners, n.To):
		return []string{n.To}, nil
	}
	return nil, fmt.Errorf("no partner %q in the routing table", n.To)
}

// notifyOne sends n to country's SPOC, stored and audited.
func (s *Service) notifyOne(ctx context.Context, a Actor, m PartnerMessenger, country string, n Notification) NotifyResult {
	target := "spoc:" + country // the peer name of outgoing SPOC messages (spoc.Outgoing)
	r := NotifyResult{Country: country, MessageID: newMessageID()}
	details := notifyDetails{MessageID: r.MessageID, Template: n.Template, Subject: n.Subject}
	text, err := json.Marshal(generalMessage{Subject: n.Subject, Body: n.Body})
	if err != nil {
		r.Err = fmt.Errorf("ops: notify %s: %w", country, err)
		return r
	}
	row := &store.Message{Originator: "self", MessageID: r.MessageID, Operation: "GeneralMessage", Request: text,
		Direction: store.Outgoing, Peer: target, State: store.MessageProcessing}
	if err := s.Store.AcceptMessage(ctx, row, nil); err != nil {
		r.Err = s.refused(ctx, a, ActionPartnerNotify, target, fmt.Errorf("ops: notify %s: store the message: %w", country, err), details)
		return r
	}
	r.MessageRowID = row.ID
	state, outcome := store.MessageAnswered, "ok"
	r.ReturnCode, err = m.SendGeneralMessage(ctx, country, r.MessageID, n.Subject, n.Body)
	switch {
	case err != nil:
		s.logger().Warn("notification not delivered", "country", country, "messageID", r.MessageID, "err", err)
		state, outcome = store.MessageFailed, "failed: partner unreachable"
		r.Err = fmt.Errorf("ops: notify %s: %w", country, err)
	case r.ReturnCode != authority.ReturnCode("ok"):
		state, outcome = store.MessageFailed, "failed: partner answered "+string(r.ReturnCode)
		r.Err = fmt.Errorf("ops: notify %s: the partner answered %s", country, r.ReturnCode)
	}
	details.ReturnCode = string(r.ReturnCode)
	ev, err := s.event(a, ActionPartnerNotify, target, outcome, details)
	if err == nil {
		err = s.Store.Audited(ctx, "notify partner", ev, func(tx *store.Store) error {
			return tx.UpdateMessage(ctx, row.ID, state, string(r.ReturnCode), nil)
		})
	}
	if err != nil {
		// The message went (or not) as the result says; only its record is missing.
		s.logger().Error("record a notification", "country", country, "messageID", r.MessageID, "err", err)
		r.Err = errors.Join(r.Err, fmt.Errorf("ops: notify %s: record the outcome: %w", country, err))
	}
	return r
}

// newMessageID is a fresh messageID for a message we send.
func newMessageID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "eacgate-" + hex.EncodeToString(b)
}
