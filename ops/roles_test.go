package ops

import (
	"slices"
	"testing"

	"eacgate/store"
)

// The role matrix of TR-03139 5.2: every role reads; the auditor only reads; the other
// three roles share no action, so that none does another's work.
func TestRoleMatrix(t *testing.T) {
	reads := []Action{ActionRead, ActionAuditRead, ActionAccountRead}
	for _, r := range store.OperatorRoles {
		if !Permitted(r, ActionRead) {
			t.Errorf("%s cannot read holders and certificates", r)
		}
	}
	for _, a := range PermittedActions(store.RoleAuditor) {
		if !slices.Contains(reads, a) {
			t.Errorf("the auditor may %s", a)
		}
	}
	owner := map[Action]store.OperatorRole{}
	for _, r := range []store.OperatorRole{store.RoleSystemAdministrator, store.RoleCAOperator, store.RoleRAOperator} {
		for _, a := range PermittedActions(r) {
			if slices.Contains(reads, a) || a == ActionProposalDecide { // each task says who approves it
				continue
			}
			if o, ok := owner[a]; ok {
				t.Errorf("%s is both %s's and %s's", a, o, r)
			}
			owner[a] = r
		}
	}
	for a, want := range map[Action]store.OperatorRole{
		ActionOperatorAdd: store.RoleSystemAdministrator, ActionOperatorRole: store.RoleSystemAdministrator,
		ActionAPIClientEnable: store.RoleSystemAdministrator, ActionOperatorDisable: store.RoleSystemAdministrator,
		ActionCVCAInit: store.RoleCAOperator, ActionCVCARollover: store.RoleCAOperator, ActionKeyCeremony: store.RoleCAOperator,
		ActionHolderRegister: store.RoleRAOperator, ActionHolderRevoke: store.RoleRAOperator, ActionRequestApprove: store.RoleRAOperator,
		ActionPartnerRegister: store.RoleRAOperator, ActionPartnerNotify: store.RoleRAOperator, ActionTrustAdd: store.RoleRAOperator,
		ActionOutboxRetry: store.RoleRAOperator,
	} {
		if got := RolesFor(a); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %v, want %s", a, got, want)
		}
	}
	if got := RolesFor(ActionAuditRead); !slices.Equal(got, []store.OperatorRole{store.RoleAuditor}) {
		t.Errorf("audit read: %v", got)
	}
	if Permitted("officer", ActionRead) || Permitted(store.RoleSystemAdministrator, "nothing") {
		t.Error("unknown role or action permitted")
	}
	if !Permitted(APIClientRole, ActionCertificateRevoke) {
		t.Error("an emCA client may not revoke")
	}
}
