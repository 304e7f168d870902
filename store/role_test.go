package store

import (
	"testing"

	"eacgate/cvc"
)

// Every CHAT role has a holder role that maps back to it; a SPOC holds no CV certificates.
func TestRoleCHAT(t *testing.T) {
	for _, r := range []cvc.Role{cvc.RoleCVCA, cvc.RoleDVDomestic, cvc.RoleDVForeign, cvc.RoleTerminal} {
		back, ok := RoleOf(r).CHAT()
		if !ok || back != r || !RoleOf(r).Valid() {
			t.Errorf("CHAT role %v -> %q -> %v, %v", r, RoleOf(r), back, ok)
		}
	}
	if _, ok := RoleSPOC.CHAT(); ok {
		t.Error("a SPOC was given a CHAT role")
	}
}
