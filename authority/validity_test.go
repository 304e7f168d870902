package authority

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"eacgate/cvc"
)

func TestCheckTR03139Validity(t *testing.T) {
	for _, tc := range []struct {
		role cvc.Role
		days int
		want string // part of the error; "" for none
	}{
		{cvc.RoleCVCA, 180, ""}, {cvc.RoleCVCA, 1095, ""}, {cvc.RoleCVCA, 179, "6 months to 3 years"}, {cvc.RoleCVCA, 1096, "180 to 1095 days"},
		{cvc.RoleDVDomestic, 14, ""}, {cvc.RoleDVDomestic, 90, ""}, {cvc.RoleDVDomestic, 120, "DV certificates: 2 weeks to 3 months"},
		{cvc.RoleDVForeign, 13, "14 to 90 days"}, {cvc.RoleDVForeign, 30, ""},
		{cvc.RoleTerminal, 1, ""}, {cvc.RoleTerminal, 30, ""}, {cvc.RoleTerminal, 0, "1 day to 1 month"}, {cvc.RoleTerminal, 31, "IS certificates"},
	} {
		err := CheckTR03139Validity(tc.role, tc.days)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s, %d days: %v; want %q", tc.role, tc.days, err, tc.want)
		}
	}
	for _, role := range []cvc.Role{cvc.RoleDVDomestic, cvc.RoleDVForeign, cvc.RoleTerminal} {
		if err := CheckTR03139Validity(role, DefaultPolicy().Validity[role]); err != nil {
			t.Errorf("the default validity of %s: %v", role, err)
		}
	}
}

// A terminal certificate never outlives the DV certificate that issues it, and never has
// rights the DV certificate lacks, whatever the policy and the holder's registered rights
// say (TR-03139 4.4.3: IS certificates inherit validity and rights from the DV's).
func TestTerminalWithinDV(t *testing.T) {
	f := newFixture(t)
	dvKey := genKey(t, "brainpoolP256r1")
	f.dvApp.Rights = []byte{cvc.ISReadDG3}
	dvCert, err := f.cvca.Issue(request(t, "UTDVBORDER00001", "", cvc.ECDSA_SHA256, dvKey).Raw, f.dvApp)
	if err != nil {
		t.Fatal(err)
	}
	// 10 days before the DV certificate expires, with terminal certificates for 30 days.
	now := dvCert.ExpirationDate.AddDays(-10).Time()
	dv := &Issuer{Path: []*cvc.Certificate{f.cvca.Certificate(), dvCert}, Signer: dvKey, Policy: DefaultPolicy(), Now: func() time.Time { return now }}
	for _, rights := range [][]byte{nil, {cvc.ISReadDG3 | cvc.ISReadDG4}, {0xFF}} {
		term, err := dv.Issue(request(t, "UTISGATE0100001", "", cvc.ECDSA_SHA256, genKey(t, "brainpoolP256r1")).Raw,
			Applicant{Country: "UT", Mnemonic: "ISGATE01", Role: cvc.RoleTerminal, Status: StatusActive, Rights: rights})
		if err != nil {
			t.Fatal(err)
		}
		if term.ExpirationDate != dvCert.ExpirationDate {
			t.Errorf("rights % X: the terminal certificate expires on %s, its DV certificate on %s", rights, term.ExpirationDate, dvCert.ExpirationDate)
		}
		if !bytes.Equal(term.CHAT.Rights(), []byte{cvc.ISReadDG3}) || term.Role() != cvc.RoleTerminal {
			t.Errorf("rights % X: terminal CHAT % X, the DV has % X", rights, term.CHAT.Bits, dvCert.CHAT.Bits)
		}
	}
	// A terminal may be given fewer rights than its DV has.
	f.dvApp.Rights = nil
	wide, err := f.cvca.Issue(mustAuth(t, request(t, "UTDVBORDER00002", "", cvc.ECDSA_SHA256, genKey(t, "brainpoolP256r1")), dvCert.CHR, dvKey).Raw,
		func() Applicant { a := f.dvApp; a.Current = dvCert; return a }())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wide.CHAT.Rights(), []byte{cvc.ISReadDG3 | cvc.ISReadDG4}) {
		t.Fatalf("DV CHAT % X", wide.CHAT.Bits)
	}
}

// A request whose CHR breaks the naming rule (TR-03139 3.1) is failure_syntax, whatever
// the holder: a lower-case country, a mnemonic of 10 characters or with a
// space, a sequence number with lower-case letters or punctuation.
func TestRequestCHRNaming(t *testing.T) {
	f := newFixture(t)
	key := genKey(t, "brainpoolP256r1")
	for _, chr := range []string{"utDVBORDER00001", "UTDVBORDER0100001", "UTDV BORD00001", "UTDVBORDER0000a", "UTDVBORDER00-01", "UT00001"} {
		r := request(t, "UTDVBORDER00001", "", cvc.ECDSA_SHA256, key)
		r.CHR = chr
		raw, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		app := f.dvApp
		app.Country, app.Mnemonic = chr[:2], chr[2:len(chr)-5]
		if _, err := f.cvca.Issue(raw, app); CodeFor(err) != FailureSyntax {
			t.Errorf("CHR %q: %v (%s), want failure_syntax", chr, err, CodeFor(err))
		}
	}
}
