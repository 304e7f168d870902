package main

import (
	"bytes"
	"context"
	"encoding/base64"
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
