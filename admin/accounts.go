package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"eacgate/ops"
	"eacgate/store"
)

// The accounts' endpoints (system administrator): operators and emCA API clients listed
// with their state, last use and expiry; disabled, rotated and removed at once. Creating
// operators, changing roles and enabling accounts are two-person tasks (proposals).
func (h *Handler) accountRoutes() []route {
	return []route{
		{"GET /admin/v1/operators", ops.ActionAccountRead, nil, h.listOperators},
		{"POST /admin/v1/operators/{id}/{action}", "", map[string]ops.Action{
			"disable": ops.ActionOperatorDisable, "rotate": ops.ActionOperatorRotate, "remove": ops.ActionOperatorRemove}, h.operatorAction},
		{"GET /admin/v1/apiclients", ops.ActionAccountRead, nil, h.listAPIClients},
		{"POST /admin/v1/apiclients/{id}/{action}", "", map[string]ops.Action{
			"disable": ops.ActionAPIClientDisable, "rotate": ops.ActionAPIClientRotate, "remove": ops.ActionAPIClientRemove}, h.apiClientAction},
	}
}

// Operator is an operator account as the API shows it (never its token).
type Operator struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Person     string     `json:"person"`
	State      string     `json:"state"`
	Token      bool       `json:"token"`
	TLS        string     `json:"tls_fingerprint,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RemovedAt  *time.Time `json:"removed_at,omitempty"`
	// NewToken is the rotated token, shown once.
	NewToken string `json:"new_token,omitempty"`
}

func (h *Handler) operatorOut(o *store.Operator) Operator {
	return Operator{o.ID, o.Name, string(o.Role), o.Person, ops.OperatorState(o, h.now()), o.TokenHash != "", o.TLSFingerprint,
		o.CreatedAt, o.LastUsedAt, o.ExpiresAt, o.RemovedAt, ""}
}

// APIClient is an emCA API client as the API shows it (no secret).
type APIClient struct {
	ID         int64      `json:"id"`
	UserName   string     `json:"user_name"`
	State      string     `json:"state"`
	IPRanges   string     `json:"ip_ranges,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RemovedAt  *time.Time `json:"removed_at,omitempty"`
}

func (h *Handler) apiClientOut(c *store.APIClient) APIClient {
	return APIClient{c.ID, c.UserName, ops.APIClientState(c, h.now()), c.IPRanges, c.CreatedAt, c.LastUsedAt, c.ExpiresAt, c.RemovedAt}
}

func (h *Handler) listOperators(r *request) (any, error) {
	os, err := h.Store.ListOperators(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]Operator, 0, len(os))
	for i := range os {
		out = append(out, h.operatorOut(&os[i]))
	}
	return out, nil
}

func (h *Handler) listAPIClients(r *request) (any, error) {
	cs, err := h.Store.ListAPIClients(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]APIClient, 0, len(cs))
	for i := range cs {
		out = append(out, h.apiClientOut(&cs[i]))
	}
	return out, nil
}

// RotateRequest is the optional body of a rotation: the new credential's lifetime.
type RotateRequest struct {
	// ExpiresInDays: the new token expires this many days from now (0 or absent: never).
	ExpiresInDays int `json:"expires_in_days,omitempty"`
	// Password is an API client's new password (rotate: a new password and/or a new key).
	Password string `json:"password,omitempty"`
	// NewKey asks for a new AES key for an API client (shown once in the answer).
	NewKey bool `json:"new_key,omitempty"`
}

// rotateBody reads the optional rotation body.
func (r *request) rotateBody(now time.Time) (RotateRequest, *time.Time, error) {
	var in RotateRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil && !errors.Is(err, io.EOF) { // no body: no options
		return in, nil, fail(http.StatusBadRequest, "request body: %v", err)
	}
	if in.ExpiresInDays < 0 || in.ExpiresInDays > 3650 {
		return in, nil, fail(http.StatusBadRequest, "expires_in_days: 0 to 3650")
	}
	if in.ExpiresInDays == 0 {
		return in, nil, nil
	}
	at := now.AddDate(0, 0, in.ExpiresInDays).UTC().Truncate(time.Second)
	return in, &at, nil
}

// NewToken returns a new operator bearer token: 256 random bits, hex.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return hex.EncodeToString(b)
}

// NewAPIClientSecrets makes an API client's new credentials for RotateAPIClient: the
// password's hash (password non-empty) and a fresh AES key (newKey), sealed by w when set
// (emKey is the additional data). key is the new key in base64, to be shown once.
func NewAPIClientSecrets(ctx context.Context, w KeyWrapper, emKey, password string, newKey bool) (sec store.APIClientSecrets, key string, err error) {
	if password != "" {
		if sec.PasswordHash, err = HashPassword(password); err != nil {
			return sec, "", fmt.Errorf("admin: new API client password: %w", err)
		}
	}
	if newKey {
		raw := make([]byte, 32)
		_, _ = rand.Read(raw)
		key = base64.StdEncoding.EncodeToString(raw)
		c := &store.APIClient{EMKey: emKey, AESKey: raw}
		if err := SealAPIClientKey(ctx, w, c); err != nil {
			return sec, "", err
		}
		sec.AESKey, sec.KeyWrapped = c.AESKey, c.KeyWrapped
	}
	return sec, key, nil
}

// accountError maps an account action's refusal to its status.
func accountError(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return fail(http.StatusConflict, "%s", publicText(err))
	}
	return storeError(err)
}

func (h *Handler) operatorAction(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	svc := h.ops()
	var o *store.Operator
	token := ""
	switch r.PathValue("action") {
	case "disable":
		o, err = svc.DisableOperator(r.Context(), r.actor(), id)
	case "remove":
		o, err = svc.RemoveOperator(r.Context(), r.actor(), id)
	case "rotate":
		in, expires, berr := r.rotateBody(h.now())
		if berr != nil {
			return nil, berr
		}
		if in.Password != "" || in.NewKey {
			return nil, fail(http.StatusBadRequest, "an operator's rotation takes only expires_in_days")
		}
		token = NewToken()
		o, err = svc.RotateOperatorToken(r.Context(), r.actor(), id, TokenHash(token), expires)
	}
	if err != nil {
		return nil, accountError(err)
	}
	out := h.operatorOut(o)
	out.NewToken = token
	return out, nil
}

// APIClientRotated is an API client after a rotation: the new key, when one was made, shown
// once (base64).
type APIClientRotated struct {
	APIClient
	NewKey string `json:"new_key,omitempty"`
}

func (h *Handler) apiClientAction(r *request) (any, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	svc := h.ops()
	var c *store.APIClient
	newKey := ""
	switch r.PathValue("action") {
	case "disable":
		c, err = svc.DisableAPIClient(r.Context(), r.actor(), id)
	case "remove":
		c, err = svc.RemoveAPIClient(r.Context(), r.actor(), id)
	case "rotate":
		in, expires, berr := r.rotateBody(h.now())
		if berr != nil {
			return nil, berr
		}
		if in.Password == "" && !in.NewKey {
			return nil, fail(http.StatusBadRequest, "need {\"password\": ...} and/or {\"new_key\": true}")
		}
		cur, gerr := h.Store.APIClientByID(r.Context(), id)
		if gerr != nil {
			return nil, storeError(gerr)
		}
		sec, key, serr := NewAPIClientSecrets(r.Context(), h.Keys, cur.EMKey, in.Password, in.NewKey)
		if serr != nil {
			return nil, serr
		}
		sec.ExpiresAt = expires
		c, err = svc.RotateAPIClient(r.Context(), r.actor(), id, sec)
		newKey = key
	}
	if err != nil {
		return nil, accountError(err)
	}
	return APIClientRotated{h.apiClientOut(c), newKey}, nil
}

// refusedAuth audits a refused authentication of the admin API (bounded: ops.AuthRefused).
// op is the account when one was found (disabled, removed, expired, a refused certificate).
func (h *Handler) refusedAuth(ctx context.Context, r *request, op *store.Operator, err error) {
	a := ops.Actor{Channel: ops.ChannelREST, Name: "(unknown)", Remote: r.source}
	target, reason := "token", "unknown credentials"
	if r.Header.Get("Authorization") == "" {
		target = "none"
	}
	if op != nil {
		a.Name, a.Role, target = op.Name, op.Role, "operator:"+op.Name
	}
	var ae *apiError
	var acc *ops.AccountError
	switch {
	case errors.As(err, &acc):
		reason = acc.State
	case errors.As(err, &ae):
		reason = ae.msg
	case errors.Is(err, errNoCredentials):
		reason = "no credentials"
	case !errors.Is(err, store.ErrNotFound):
		reason = "lookup failed"
	}
	h.ops().AuthRefused(ctx, a, ops.ActionAuthRefused, target, "refused: "+reason,
		map[string]string{"request": r.Method + " " + r.URL.Path, "user_agent": r.UserAgent()})
}

// authenticated notes a successful authentication (last use, the hourly login event).
func (h *Handler) authenticated(ctx context.Context, r *request) {
	h.ops().OperatorAuthenticated(ctx, r.actor(), r.operator, map[string]string{"user_agent": r.UserAgent()})
}
