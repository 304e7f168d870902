package ops

import (
	"context"
	"errors"
	"strings"
	"testing"

	"eacgate/cvc"
	"eacgate/store"
)

// A holder's name follows TR-03139 3.1 whichever adapter registers it; a refusal stores
// nothing, says why and is audited.
func TestRegisterHolderNaming(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	for _, tc := range []struct{ country, mnemonic, want string }{
		{"ut", "ISGATE09", `country code "ut": upper case`},
		{"UTO", "DV", `country code "UTO": two letters`},
		{"YY", "DV", `country code "YY": not an ISO 3166-1 alpha-2 code`},
		{"UT", "", `holder mnemonic "": 1 to 9 characters`},
		{"UT", "ISGATE0123", `holder mnemonic "ISGATE0123": 1 to 9 characters`},
		{"UT", "IS GATE", `holder mnemonic "IS GATE": letters, digits and punctuation only`},
	} {
		for _, a := range []Actor{rest, cli} {
			err := s.RegisterHolder(ctx, a, &store.Holder{Country: tc.country, Mnemonic: tc.mnemonic, Role: store.RoleTerminal})
			if !errors.As(err, new(*cvc.NameError)) || !errors.Is(err, cvc.ErrSyntax) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s%s by %s: %v; want %q", tc.country, tc.mnemonic, a, err, tc.want)
			}
			wantEvent(t, s, store.AuditEvent{Actor: a.String(), Action: ActionHolderRegister.EventName(a.Channel), Target: tc.country + tc.mnemonic,
				Source: a.source(), Outcome: "failed: " + err.Error()})
		}
	}
	if hs, err := s.Store.ListHolders(ctx, store.HolderFilter{}); err != nil || len(hs) != 0 {
		t.Fatalf("holders stored: %v %v", hs, err)
	}
	if err := s.RegisterHolder(ctx, cli, &store.Holder{Country: "QQ", Mnemonic: "DV-1", Role: store.RoleDVDomestic}); err != nil {
		t.Fatal(err)
	}
}
