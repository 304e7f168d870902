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

	// The accounts' lifecycle (ops/accounts.go). Creating operators, changing roles and
	// enabling operators and API clients are two-person tasks (proposals); disabling,
	// rotating and removing are one-person actions of the system administrator.
	ActionOperatorRole Action = "operator.role"
	// ActionProposalDecide approves, withdraws or rejects a proposal of a critical task
	// (which roles may approve it is the task's own rule, ops.Tasks).
	ActionProposalDecide   Action = "proposal.decide"
	ActionOperatorEnable   Action = "operator.enable"
	ActionOperatorDisable  Action = "operator.disable"
	ActionOperatorRotate   Action = "operator.rotate"
	ActionOperatorRemove   Action = "operator.remove"
	ActionAPIClientEnable  Action = "apiclient.enable"
	ActionAPIClientDisable Action = "apiclient.disable"
	ActionAPIClientRotate  Action = "apiclient.rotate"
	ActionAPIClientRemove  Action = "apiclient.remove"

	// The CA's key operations (CA operator): CVCA init and rollover, the key ceremony.
	ActionCVCAInit     Action = "cvca.init"
	ActionCVCARollover Action = "cvca.rollover"
	ActionKeyCeremony  Action = "ceremony"

	// Reads: not audited as actions, but the role matrix says who may.
	// ActionRead reads holders, certificates, held requests, partners, the outbox, the
	// general messages and the statistics.
	ActionRead Action = "read"
	// ActionAuditRead reads the audit log, verifies and exports it.
	ActionAuditRead Action = "audit.read"
	// ActionAccountRead lists operators and API clients (status, last use, expiry).
	ActionAccountRead Action = "account.read"

	// Authentication (ops/authlog.go), the same name on every channel (the actor says which):
	// ActionLogin is a successful authentication, at most once an hour per account.
	ActionLogin Action = "auth.login"
	// ActionAuthRefused is a refused authentication (rate-limited and capped).
	ActionAuthRefused Action = "auth.refused"
	// ActionAuthSuppressed says how many refused authentications were not recorded.
	ActionAuthSuppressed Action = "auth.refused.suppressed"

	// The web console's sessions (ops/console.go), every opening and closing recorded.
	ActionSessionOpen  Action = "session.open"
	ActionSessionClose Action = "session.close"
)

// Channel is the way an operator reached the gateway.
type Channel string

// The channels.
const (
	ChannelCLI  Channel = "cli"
	ChannelREST Channel = "rest"
	ChannelEMCA Channel = "emca"
	// ChannelConsole is the web console (admin/console).
	ChannelConsole Channel = "console"
)

// EventName is the action's name in the audit log when asked for through ch. The names are
// those the audit log carried before the three channels shared this service, so that old
// and new events of one action read alike: REST actions are prefixed "admin.", emCA actions
// "emca." (certificate.suspend is emca.suspend), and the CLI's holder actions keep their
// old names (holder.add, and the new status: holder.suspended, holder.active,
// holder.revoked). Authentication events (auth.*) carry one name on every channel.
func (a Action) EventName(ch Channel) string {
	if strings.HasPrefix(string(a), "auth.") { // one name for every channel: the actor says which
		return string(a)
	}
	switch ch {
	case ChannelREST:
		return "admin." + string(a)
	case ChannelEMCA:
		return "emca." + strings.TrimPrefix(string(a), "certificate.")
	case ChannelConsole:
		return "console." + string(a)
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
