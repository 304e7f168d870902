package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/store"
)

// POST /admin/v1/holders refuses a name breaking TR-03139 3.1 with 400 and the reason.
func TestRegisterHolderNaming(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateOperator(ctx, &store.Operator{Name: "ada", Role: store.RoleRAOperator, TokenHash: TokenHash("t0ken")}); err != nil {
		t.Fatal(err)
	}
	routes := (&Handler{Store: st, Country: "UT"}).Routes()
	for body, want := range map[string]string{
		`{"country":"ut","mnemonic":"ISGATE09","role":"terminal"}`:   `country code \"ut\": upper case`,
		`{"country":"YY","mnemonic":"ISGATE09","role":"terminal"}`:   "not an ISO 3166-1 alpha-2 code",
		`{"country":"UT","mnemonic":"ISGATE0123","role":"terminal"}`: "1 to 9 characters",
		`{"country":"UT","mnemonic":"IS GATE","role":"terminal"}`:    "no spaces",
		`{"country":"UTO","mnemonic":"ISGATE","role":"terminal"}`:    "need country (2 letters)",
	} {
		r := httptest.NewRequest(http.MethodPost, "/admin/v1/holders", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer t0ken")
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		routes.ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: %d %s; want 400 with %q", body, w.Code, w.Body, want)
		}
	}
	if hs, err := st.ListHolders(ctx, store.HolderFilter{}); err != nil || len(hs) != 0 {
		t.Fatalf("holders stored: %v %v", hs, err)
	}
}
