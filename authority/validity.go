package authority

import (
	"fmt"

	"eacgate/cvc"
)

// ValidityRange is the shortest and longest validity of a certificate, in days including
// the effective day (as Policy.Validity counts them).
type ValidityRange struct {
	MinDays, MaxDays int
	Text             string // the limits as TR-03139 words them
}

// TR03139Validity is the validity TR-03139 4.7 allows a role's certificates: CVCA (self-
// signed and link) 6 months to 3 years, DV 2 weeks to 3 months, IS 1 day to 1 month. A
// month is counted as 30 days and a year as 365, as the default validities and eacgate
// init's --years are. ok is false for a role the table does not name.
func TR03139Validity(role cvc.Role) (r ValidityRange, ok bool) {
	switch role {
	case cvc.RoleCVCA:
		return ValidityRange{180, 3 * 365, "CVCA certificates: 6 months to 3 years"}, true
	case cvc.RoleDVDomestic, cvc.RoleDVForeign:
		return ValidityRange{14, 90, "DV certificates: 2 weeks to 3 months"}, true
	case cvc.RoleTerminal:
		return ValidityRange{1, 30, "IS certificates: 1 day to 1 month"}, true
	}
	return ValidityRange{}, false
}

// CheckTR03139Validity returns an error naming the limit when days of validity for role's
// certificates lie outside TR-03139 4.7 (see TR03139Validity), nil otherwise.
func CheckTR03139Validity(role cvc.Role, days int) error {
	r, ok := TR03139Validity(role)
	if !ok || days >= r.MinDays && days <= r.MaxDays {
		return nil
	}
	return fmt.Errorf("%d days is outside TR-03139 4.7 (%s, i.e. %d to %d days)", days, r.Text, r.MinDays, r.MaxDays)
}
