package ops

import (
	"slices"

	"eacgate/store"
)

// roleActions is the role matrix (TR-03139 5.2): what each trusted role may do. Every role
// reads holders, certificates and held requests; nothing else is shared, so that no role
// both acts and checks its own acts.
var roleActions = map[store.OperatorRole][]Action{
	// The system administrator runs the accounts and the configuration: operators and API
	// clients, never holders, partners or keys.
	store.RoleSystemAdministrator: {
		ActionRead, ActionAccountRead, ActionProposalDecide,
		ActionOperatorAdd, ActionOperatorRole, ActionOperatorEnable, ActionOperatorDisable, ActionOperatorRotate, ActionOperatorRemove,
		ActionAPIClientAdd, ActionAPIClientEnable, ActionAPIClientDisable, ActionAPIClientRotate, ActionAPIClientRemove,
	},
	// The CA operator runs the CVCA's and the DV's keys: init, rollover, the key ceremony.
	store.RoleCAOperator: {
		ActionRead, ActionProposalDecide,
		ActionCVCAInit, ActionCVCARollover, ActionKeyCeremony,
	},
	// The RA operator registers and manages holders and partners and decides their
	// requests. Outbox retry is here too: a dead-lettered delivery carries an answer, a
	// forwarded request or a notification the RA already decided on to one of its holders
	// or partners; retrying re-sends it once the receiver is fixed, which the RA operator,
	// who deals with them, learns of. It changes no account, key or configuration.
	store.RoleRAOperator: {
		ActionRead, ActionProposalDecide,
		ActionHolderRegister, ActionHolderSuspend, ActionHolderReinstate, ActionHolderRevoke,
		ActionHolderCountries, ActionHolderRights,
		ActionCertificateSuspend, ActionCertificateReinstate, ActionCertificateRevoke,
		ActionRequestApprove, ActionRequestReject, ActionOutboxRetry,
		ActionPartnerRegister, ActionPartnerSuspend, ActionPartnerReinstate, ActionPartnerDVAdd, ActionPartnerNotify,
		ActionTrustAdd,
	},
	// The auditor reads everything (the audit log, its verification and export, the
	// accounts) and changes nothing.
	store.RoleAuditor: {
		ActionRead, ActionAuditRead, ActionAccountRead,
	},
}

// APIClientRole is the role an emCA API client acts with: an RA integration that suspends,
// reinstates and revokes certificates.
const APIClientRole = store.RoleRAOperator

// Permitted reports whether an operator of role may perform action (the role matrix;
// unknown roles and actions: no).
func Permitted(role store.OperatorRole, action Action) bool {
	return slices.Contains(roleActions[role], action)
}

// PermittedActions lists what role may do, in the matrix's order (help texts, the README).
func PermittedActions(role store.OperatorRole) []Action {
	return slices.Clone(roleActions[role])
}

// RolesFor lists the roles that may perform action, in store.OperatorRoles' order.
func RolesFor(action Action) []store.OperatorRole {
	var out []store.OperatorRole
	for _, r := range store.OperatorRoles {
		if Permitted(r, action) {
			out = append(out, r)
		}
	}
	return out
}
