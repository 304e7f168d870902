package config

import (
	"strings"
	"testing"
)

// A validity outside TR-03139 4.7 keeps a configuration from loading, with the limit named,
// unless policy.allow_outside_tr03139 is set; then every start is warned.
func TestValidityWithinTR03139(t *testing.T) {
	_, err := Load(write(t, "validity_days: {dv_domestic: 120, terminal: 30}\n"))
	if err == nil || !strings.Contains(err.Error(), "validity_days.dv_domestic: 120 days is outside TR-03139 4.7 (DV certificates: 2 weeks to 3 months, i.e. 14 to 90 days)") ||
		!strings.Contains(err.Error(), "policy.allow_outside_tr03139") || strings.Contains(err.Error(), "validity_days.terminal") {
		t.Fatalf("120-day DV certificates: %v", err)
	}
	for _, v := range []string{"dv_foreign: 13", "terminal: 31"} {
		if _, err := Load(write(t, "validity_days: {"+v+"}\n")); err == nil || !strings.Contains(err.Error(), "outside TR-03139 4.7") {
			t.Errorf("%s: %v", v, err)
		}
	}
	c, err := Load(write(t, "validity_days: {dv_domestic: 2, terminal: 1}\npolicy: {allow_outside_tr03139: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := c.PolicyWarnings()
	if len(w) != 2 || !strings.Contains(w[0], "allow_outside_tr03139") || !strings.Contains(w[1], "validity_days.dv_domestic: 2 days") {
		t.Fatalf("warnings %q", w)
	}
	if w := (Config{}).PolicyWarnings(); w != nil {
		t.Fatalf("warnings without the switch: %q", w)
	}
}

// The configuration's names follow TR-03139 3.1: an ISO 3166-1 alpha-2 country in capitals
// and a DV mnemonic of 1 to 9 printable characters without space.
func TestNamingInConfig(t *testing.T) {
	for yaml, want := range map[string]string{
		"country: ut\n":                    `country "ut": upper case`,
		"country: UTO\n":                   `country "UTO": two letters`,
		"country: YY\n":                    `country "YY": not an ISO 3166-1 alpha-2 code`,
		"dv_mnemonic: DVDEMO1234\n":        `dv_mnemonic "DVDEMO1234": 1 to 9 characters`,
		"dv_mnemonic: 'DV DEMO'\n":         `dv_mnemonic "DV DEMO"`,
		"dv_client: {foreign: [zz]}\n":     `dv_client.foreign "zz": upper case`,
		"country: QQ\ndv_mnemonic: DV-1\n": "",
	} {
		_, err := Load(write(t, yaml))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: %v; want %q", yaml, err, want)
		}
	}
}
