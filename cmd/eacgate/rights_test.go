package main

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// eacgate holder rights keeps the data groups a terminal's certificates may grant.
func TestHolderRights(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert := writeClientCert(t, dir, "term", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	if code, out, errOut := runSplit("holder", "add", "--data", data, "--country", "UT", "--mnemonic", "T1", "--role", "terminal", "--tls-cert", cert); code != 0 {
		t.Fatalf("holder add: exit %d: %s%s", code, out, errOut)
	}
	rights := func(args ...string) (int, string) {
		code, out, errOut := runSplit(append([]string{"holder", "rights", "--data", data, "--country", "UT", "--mnemonic", "T1"}, args...)...)
		return code, out + errOut
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 0, "UTT1 certificates may grant: the issuer's"},
		{[]string{"--set", "dg3"}, 0, "UTT1 certificates may grant: dg3"},
		{nil, 0, "grant: dg3"},
		{[]string{"--set", "dg4, DG3"}, 0, "grant: dg3,dg4"},
		{[]string{"--set", "dg5"}, 1, `rights "dg5": dg3 or dg4`},
		{nil, 0, "grant: dg3,dg4"},
		{[]string{"--clear"}, 0, "grant: the issuer's"},
		{[]string{"--clear", "--set", "dg3"}, 2, "at most one"},
	} {
		if code, out := rights(tc.args...); code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d: %s", tc.args, code, out)
		}
	}
	if code, out, _ := runSplit("audit", "list", "--data", data); code != 0 || !strings.Contains(out, "holder.rights") {
		t.Fatalf("audit list: exit %d:\n%s", code, out)
	}
}
