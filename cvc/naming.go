package cvc

import (
	"fmt"
	"strings"
)

// The naming rule of TR-03139 3.1 (after TR-03110 Part 3, A.6.1): a CAR or CHR is the
// holder's ISO 3166-1 alpha-2 country code, a holder mnemonic of 1 to 9 ISO 8859-1
// characters and a sequence number of 5 numeric or alphanumeric characters.
//
// Every reference this package parses or writes has that shape (checkReference):
// two upper-case letters, 1 to 9 printable characters without space, five digits or
// upper-case letters ("alphanumeric" as ICAO 9303 spells it; openpace refuses anything
// else). Names entering the registry are held to more (CheckHolderName): the country code
// must be one ISO 3166-1 knows.

// refMaxMnemonic is the longest holder mnemonic (TR-03139 3.1: "up to 9 characters").
const refMaxMnemonic = 9

// iso3166Alpha2 lists the officially assigned ISO 3166-1 alpha-2 codes (249, as of the
// iso-codes 4.15 data).
const iso3166Alpha2 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT " +
	"MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG " +
	"UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"

// TestCountry is the country of this gateway's demo PKI and tests: ICAO 9303's specimen
// state Utopia. It is not an ISO 3166-1 code, so no real partner can use it.
const TestCountry = "UT"

// IsCountryCode reports whether cc may be a holder's country: an officially assigned ISO
// 3166-1 alpha-2 code, a user-assigned one (AA, QM to QZ, XA to XZ, ZZ: ISO 3166-1 leaves
// them to users, e.g. for test PKIs), or TestCountry.
func IsCountryCode(cc string) bool {
	if len(cc) != 2 || !isUpper(cc[0]) || !isUpper(cc[1]) {
		return false
	}
	switch {
	case cc == TestCountry, cc == "AA", cc == "ZZ", cc[0] == 'Q' && cc[1] >= 'M', cc[0] == 'X':
		return true
	}
	for i := 0; i < len(iso3166Alpha2); i += 3 {
		if iso3166Alpha2[i:i+2] == cc {
			return true
		}
	}
	return false
}

// NameError says why a country code or holder mnemonic breaks the naming rule. It wraps
// ErrSyntax.
type NameError struct {
	Part   string // "country code" or "holder mnemonic"
	Value  string
	Reason string
}

func (e *NameError) Error() string { return fmt.Sprintf("%s %q: %s", e.Part, e.Value, e.Reason) }

// Unwrap returns ErrSyntax: a request with such a name is failure_syntax.
func (e *NameError) Unwrap() error { return ErrSyntax }

// CheckCountry returns a *NameError saying what is wrong with cc as a holder's country
// code (see IsCountryCode), nil if nothing is.
func CheckCountry(cc string) error {
	reason := ""
	switch {
	case IsCountryCode(cc):
		return nil
	case len(cc) != 2:
		reason = "two letters (ISO 3166-1 alpha-2, TR-03139 3.1)"
	case strings.ToUpper(cc) != cc:
		reason = "upper case (" + strings.ToUpper(cc) + "; ISO 3166-1 alpha-2, TR-03139 3.1)"
	default:
		reason = "not an ISO 3166-1 alpha-2 code (assigned, or user-assigned AA, QM-QZ, XA-XZ, ZZ for tests; or " + TestCountry + ")"
	}
	return &NameError{Part: "country code", Value: cc, Reason: reason}
}

// CheckMnemonic returns a *NameError saying what is wrong with m as a holder mnemonic, nil
// if nothing is: 1 to 9 printable characters without space (letters, digits and ASCII
// punctuation; the upper half of ISO 8859-1 is not supported).
func CheckMnemonic(m string) error {
	if m == "" || len(m) > refMaxMnemonic {
		return &NameError{Part: "holder mnemonic", Value: m, Reason: fmt.Sprintf("1 to %d characters (TR-03139 3.1), not %d", refMaxMnemonic, len(m))}
	}
	for i := 0; i < len(m); i++ {
		if !isGraphic(m[i]) {
			return &NameError{Part: "holder mnemonic", Value: m, Reason: "letters, digits and punctuation only (no spaces or control characters)"}
		}
	}
	return nil
}

// CheckHolderName checks the name a holder is registered under, the CHR of all its
// certificates without the sequence number: country code (CheckCountry) and mnemonic
// (CheckMnemonic). Every way a holder enters the registry calls it.
func CheckHolderName(country, mnemonic string) error {
	if err := CheckCountry(country); err != nil {
		return err
	}
	return CheckMnemonic(mnemonic)
}

// checkReference checks the shape every CAR and CHR we read or write must have (see the
// top of this file); it does not look the country code up.
func checkReference(name, s string) error {
	if len(s) < 2+1+refSeqLen || len(s) > 2+refMaxMnemonic+refSeqLen {
		return fmt.Errorf("%w: %s %q must have 8 to 16 characters: country code (2), holder mnemonic (1 to 9), sequence number (5)",
			ErrSyntax, name, s)
	}
	for i := 0; i < len(s); i++ {
		if !isGraphic(s[i]) {
			return fmt.Errorf("%w: %s contains a non-printable character or a space", ErrSyntax, name)
		}
	}
	if !isUpper(s[0]) || !isUpper(s[1]) {
		return fmt.Errorf("%w: %s %q: the country code %q must be two upper-case letters (ISO 3166-1 alpha-2)", ErrSyntax, name, s, s[:2])
	}
	seq := s[len(s)-refSeqLen:]
	for i := 0; i < len(seq); i++ {
		if !isUpper(seq[i]) && (seq[i] < '0' || seq[i] > '9') {
			return fmt.Errorf("%w: %s %q: the sequence number %q must be 5 digits or upper-case letters", ErrSyntax, name, s, seq)
		}
	}
	return nil
}

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

// isGraphic: printable ASCII without space.
func isGraphic(b byte) bool { return b >= 0x21 && b <= 0x7E }
