package ops

import "strings"

// Action is an operator action: one name for it whichever way the operator asked (CLI,
// REST, emCA). EventName gives the audit event's action.
type Action string

// The operator actions.
const (
	ActionHolderRegister       Action = "holder.register"
	ActionHolderSuspend        Action = "holder.suspend"
	ActionHolderReinstate      Action = "holder.reinstate"
	ActionHolderRevoke         Action = "holder.revoke"
	ActionCertificateSuspend   Action = "certificate.suspend"
	ActionCertificateReinstate Action = "certificate.reinstate"
	ActionCertificateRevoke    Action = "certificate.revoke"
	ActionRequestApprove       Action = "request.approve"
	ActionRequestReject        Action = "request.reject"
	ActionOutboxRetry          Action = "outbox.retry"
	ActionOperatorAdd          Action = "operator.add"
	ActionAPIClientAdd         Action = "apiclient.add"
	// ActionHolderCountries sets the foreign countries a domestic DV may ask certificates
	// of (eacgate holder countries; spoc.foreign_countries: listed).
	ActionHolderCountries Action = "holder.countries"
	// ActionHolderRights sets the data groups (dg3, dg4) a holder's certificates may grant
	// (eacgate holder rights).
	ActionHolderRights Action = "holder.rights"
	// ActionTrustAdd stores a CVCA certificate as trust anchor or link (eacgate trust add).
	ActionTrustAdd Action = "trust.add"
	// ActionDenied: an authenticated operator asked for something its role may not do.
	ActionDenied Action = "denied"
	// ActionLockout: an API client was locked out after repeated authentication failures.
	ActionLockout Action = "lockout"
)

// Channel is the way an operator reached the gateway.
type Channel string

// The channels.
const (
	ChannelCLI  Channel = "cli"
	ChannelREST Channel = "rest"
	ChannelEMCA Channel = "emca"
)

// EventName is the action's name in the audit log when asked for through ch. The names are
// those the audit log carried before the three channels shared this service, so that old
// and new events of one action read alike: REST actions are prefixed "admin.", emCA actions
// "emca." (certificate.suspend is emca.suspend), and the CLI's holder actions keep their
// old names (holder.add, and the new status: holder.suspended, holder.active,
// holder.revoked).
func (a Action) EventName(ch Channel) string {
	switch ch {
	case ChannelREST:
		return "admin." + string(a)
	case ChannelEMCA:
		return "emca." + strings.TrimPrefix(string(a), "certificate.")
	}
	switch a {
	case ActionHolderRegister:
		return "holder.add"
	case ActionHolderSuspend:
		return "holder.suspended"
	case ActionHolderReinstate:
		return "holder.active"
	case ActionHolderRevoke:
		return "holder.revoked"
	}
	return string(a)
}
