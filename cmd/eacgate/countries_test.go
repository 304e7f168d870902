package main

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// eacgate holder countries keeps the foreign countries a domestic DV may ask.
func TestHolderCountries(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert := writeClientCert(t, dir, "dv", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	if code, out, errOut := runSplit("holder", "add", "--data", data, "--country", "UT", "--mnemonic", "DVA", "--role", "dv_domestic", "--tls-cert", cert); code != 0 {
		t.Fatalf("holder add: exit %d: %s%s", code, out, errOut)
	}
	countries := func(args ...string) (int, string) {
		code, out, errOut := runSplit(append([]string{"holder", "countries", "--data", data, "--country", "UT", "--mnemonic", "DVA"}, args...)...)
		return code, out + errOut
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 0, "UTDVA may ask foreign certificates of: none"},
		{[]string{"--set", "ZZ, FR"}, 0, "UTDVA may ask foreign certificates of: FR,ZZ"},
		{nil, 0, "FR,ZZ"},
		{[]string{"--set", "zz"}, 1, `"zz" is not a foreign country code`},
		{[]string{"--set", "UT"}, 1, `"UT" is not a foreign country code`},
		{[]string{"--clear"}, 0, "of: none"},
		{[]string{"--clear", "--set", "ZZ"}, 2, "at most one"},
	} {
		if code, out := countries(tc.args...); code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d: %s", tc.args, code, out)
		}
	}
	if code, out, _ := runSplit("audit", "list", "--data", data); code != 0 || !strings.Contains(out, "holder.countries") {
		t.Fatalf("audit list: exit %d:\n%s", code, out)
	}
}
