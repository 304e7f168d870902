package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"eacgate/internal/testenv"
	"eacgate/store"
)

var printedKey = regexp.MustCompile(`(?m)^emKey: (\S+)\nkey:   (\S+)$`)

// apiclient add stores the new client's AES key sealed by the key wrapper (bound to its
// emKey) and prints it in clear once; without a wrapper it warns and stores it in clear.
func TestAPIClientAddWrapsKey(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := testenv.NewKeyWrapper()
	for _, tc := range []struct {
		user    string
		wrapper store.KeyWrapper
	}{{"wrapped", w}, {"clear", nil}} {
		var out, errb bytes.Buffer
		if code := addAPIClient(ctx, cli{stdout: &out, stderr: &errb}, st, tc.wrapper,
			&store.APIClient{UserName: tc.user, PasswordHash: "h", Certificate: []byte{0x30}}); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.user, code, errb.String())
		}
		m := printedKey.FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("%s: output %q", tc.user, out.String())
		}
		key, _ := base64.StdEncoding.DecodeString(m[2])
		c, err := st.APIClientByKey(ctx, m[1])
		if err != nil {
			t.Fatal(err)
		}
		if tc.wrapper == nil {
			if c.KeyWrapped || !bytes.Equal(c.AESKey, key) || !strings.Contains(errb.String(), "in clear") {
				t.Fatalf("clear: wrapped %v, stderr %q", c.KeyWrapped, errb.String())
			}
			continue
		}
		if !c.KeyWrapped || bytes.Contains(c.AESKey, key) {
			t.Fatal("the database holds the clear key")
		}
		if got, err := w.Open(ctx, c.AESKey, store.APIClientKeyAAD(c.EMKey)); err != nil || !bytes.Equal(got, key) {
			t.Fatalf("stored key does not open to the printed one: %v", err)
		}
	}
}

// The operator and API client lifecycle on the command line: one person, one role; list
// shows role, person, status, last use and expiry; disable, rotate and remove by name.
func TestOperatorLifecycleCLI(t *testing.T) {
	data := t.TempDir()
	token := regexp.MustCompile(`(?m)^([0-9a-f]{64})$`)
	code, out, errOut := runSplit("operator", "add", "--data", data, "--name", "olga", "--role", "ra_operator", "--expires", "90d")
	if code != 0 || !token.MatchString(out) {
		t.Fatalf("add: exit %d: %s%s", code, out, errOut)
	}
	if code, out, errOut := runSplit("operator", "add", "--data", data, "--name", "olga-laptop", "--person", "olga", "--role", "ra_operator"); code != 0 {
		t.Fatalf("second account of one person and role: exit %d: %s%s", code, out, errOut)
	}
	code, _, errOut = runSplit("operator", "add", "--data", data, "--name", "olga-audit", "--person", "olga", "--role", "auditor")
	if code != 1 || !strings.Contains(errOut, "person olga already holds the role ra_operator") {
		t.Fatalf("second role: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runSplit("operator", "add", "--data", data, "--name", "x", "--role", "auditor", "--expires", "soon"); code != 2 {
		t.Fatalf("bad --expires: exit %d: %s", code, errOut)
	}
	if code, out, errOut := runSplit("operator", "disable", "--data", data, "--name", "olga-laptop"); code != 0 || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: exit %d: %s%s", code, out, errOut)
	}
	code, out, errOut = runSplit("operator", "rotate", "--data", data, "--name", "olga")
	if code != 0 || !token.MatchString(out) {
		t.Fatalf("rotate: exit %d: %s%s", code, out, errOut)
	}
	if code, out, errOut := runSplit("operator", "remove", "--data", data, "--name", "olga-laptop"); code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("remove: exit %d: %s%s", code, out, errOut)
	}
	if code, _, errOut := runSplit("operator", "disable", "--data", data, "--name", "nobody"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("disable nobody: exit %d: %s", code, errOut)
	}
	code, out, _ = runSplit("operator", "list", "--data", data)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.Contains(lines[0], "PERSON") || !strings.Contains(lines[0], "LAST USE") ||
		!strings.Contains(lines[1], "olga ") || !strings.Contains(lines[1], "active") || !strings.Contains(lines[1], "never") ||
		!strings.Contains(lines[2], "olga-laptop") || !strings.Contains(lines[2], "removed") {
		t.Fatalf("list: exit %d:\n%s", code, out)
	}

	st, err := store.Open(context.Background(), filepath.Join(data, "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.OperatorByName(context.Background(), "olga"); err != nil || got.ExpiresAt != nil {
		t.Fatalf("rotated without --expires: %+v %v", got, err)
	}
	var acts []string
	evs, _ := st.ListAudit(context.Background(), 0)
	for _, e := range evs {
		acts = append(acts, e.Action+" "+e.Target+" "+strings.SplitN(e.Outcome, ":", 2)[0])
	}
	for _, want := range []string{"operator.add olga ok", "operator.add olga-audit failed", "operator.disable olga-laptop ok", "operator.rotate olga ok", "operator.remove olga-laptop ok"} {
		if !strings.Contains(strings.Join(acts, "\n"), want) {
			t.Errorf("audit lacks %q: %v", want, acts)
		}
	}
	c := &store.APIClient{EMKey: "em", UserName: "ops", PasswordHash: "h", AESKey: make([]byte, 32), Certificate: []byte{0x30}}
	if err := st.CreateAPIClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(data, "pw")
	if err := os.WriteFile(pw, []byte("n3w\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runSplit("apiclient", "rotate", "--data", data, "--user", "ops", "--password-file", pw, "--new-key", "--expires", "30d")
	m := regexp.MustCompile(`(?m)^key:   (\S+)$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("apiclient rotate: exit %d: %s%s", code, out, errOut)
	}
	if got, _ := st.APIClientByUser(context.Background(), "ops"); got.PasswordHash == "h" || got.ExpiresAt == nil || bytes.Equal(got.AESKey, c.AESKey) {
		t.Fatalf("not rotated: %+v", got)
	}
	if code, out, errOut := runSplit("apiclient", "disable", "--data", data, "--user", "ops"); code != 0 || !strings.Contains(out, "disabled") {
		t.Fatalf("apiclient disable: exit %d: %s%s", code, out, errOut)
	}
	if code, out, _ := runSplit("apiclient", "list", "--data", data); code != 0 || !strings.Contains(out, "ops") || !strings.Contains(out, "disabled") {
		t.Fatalf("apiclient list: exit %d: %s", code, out)
	}
	if code, out, errOut := runSplit("apiclient", "remove", "--data", data, "--user", "ops"); code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("apiclient remove: exit %d: %s%s", code, out, errOut)
	}
}
