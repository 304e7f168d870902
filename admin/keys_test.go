package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/internal/testenv"
	"eacgate/store"
)

// The emCA clients' AES keys are wrapped at start when a wrapper is configured (one audited
// transaction), the database then holds no clear key, and the endpoints unwrap them; a
// sealed key moved to another client's row does not open.
func TestEMCAKeysWrappedAtRest(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys := map[string][]byte{}
	for _, name := range []string{"ops", "ops2"} {
		k := make([]byte, 32)
		rand.Read(k)
		keys[name] = k
		if err := st.CreateAPIClient(ctx, &store.APIClient{EMKey: "key-" + name, UserName: name, PasswordHash: "h", AESKey: k,
			Certificate: []byte{0x30}}); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	if err := PrepareKeys(ctx, st, nil, logger); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "clear_keys=2") {
		t.Fatalf("no warning without a key wrapper: %s", logs.String())
	}
	w := testenv.NewKeyWrapper()
	if err := PrepareKeys(ctx, st, w, logger); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		UserName   string
		AESKey     []byte
		KeyWrapped bool
	}
	if err := st.DB().Raw("SELECT user_name, aes_key, key_wrapped FROM api_clients").Scan(&rows).Error; err != nil || len(rows) != 2 {
		t.Fatalf("rows: %v %v", rows, err)
	}
	for _, r := range rows {
		if !r.KeyWrapped || bytes.Contains(r.AESKey, keys[r.UserName]) {
			t.Fatalf("%s: the database holds the clear key", r.UserName)
		}
	}
	events, _ := st.ListAudit(ctx, 10)
	if len(events) != 1 || events[0].Action != "apiclient.keys.wrap" {
		t.Fatalf("audit: %+v", events)
	}

	checker := func(_, pw string) bool { return pw == "s3cret" }
	call := func(h *Handler, user string) string {
		t.Helper()
		h.Store, h.Country, h.Logger, h.checkPassword = st, "UT", slog.New(slog.DiscardHandler), checker
		srv := httptest.NewServer(h.Routes())
		defer srv.Close()
		r := emcaCall(t, srv.URL, "suspend", "key-"+user, keys[user], user, map[string]any{"userName": user, "password": "s3cret", "revokeMode": 1})
		return r.Result
	}
	if r := call(&Handler{Keys: w}, "ops"); r != resultBadRevokeMode {
		t.Fatalf("with the wrapper: %s", r)
	}
	if r := call(&Handler{}, "ops"); r != resultInternal {
		t.Fatalf("a wrapped key without the wrapper: %s", r)
	}
	// ops's row gets ops2's sealed key (and ops2's clear key is used): the emKey in the
	// additional data refuses it.
	if err := st.DB().Exec(`UPDATE api_clients SET aes_key = (SELECT aes_key FROM api_clients WHERE user_name = 'ops2') WHERE user_name = 'ops'`).Error; err != nil {
		t.Fatal(err)
	}
	keys["ops"] = keys["ops2"]
	if r := call(&Handler{Keys: w}, "ops"); r != resultInternal {
		t.Fatalf("swapped sealed key: %s", r)
	}
}
