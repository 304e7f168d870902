package console

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"eacgate/ops"
	"eacgate/store"
)

// The accounts (system administrator; the auditor reads them): operators and emCA API
// clients with their state, last use and expiry. Adding an operator is a two-person task
// (ops.OperatorRegistration, as eacgate operator add proposes it); disabling and rotating a
// token are immediate, and ops ends the account's console sessions with them. A new token
// is shown once, in the answer to the form that made it (status 200, never in a URL, a
// redirect or the flash cookie).
func (h *Handler) operatorRoutes() []route {
	return []route{
		{"GET /console/operators", ops.ActionAccountRead, h.operatorsPage},
		{"GET /console/operators/new", ops.ActionOperatorAdd, h.newOperatorPage},
		{"POST /console/operators/new", ops.ActionOperatorAdd, h.addOperator},
		{"POST /console/operators/{id}/disable", ops.ActionOperatorDisable, h.disableOperator},
		{"POST /console/operators/{id}/rotate", ops.ActionOperatorRotate, h.rotateOperator},
		{"POST /console/operators/{id}/enable", ops.ActionOperatorEnable, h.enableOperator},
		{"POST /console/apiclients/{id}/disable", ops.ActionAPIClientDisable, h.disableAPIClient},
		{"POST /console/apiclients/{id}/enable", ops.ActionAPIClientEnable, h.enableAPIClient},
	}
}

// newToken is a new operator bearer token: 256 random bits, hex (as eacgate operator add
// and the REST API's rotation make them).
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// accountRow is an operator or API client as the page shows it.
type accountRow struct {
	ID                    int64
	Name, Person, State   string
	Role                  store.OperatorRole
	Token                 bool
	TLS                   string
	IPRanges              string
	CreatedAt             time.Time
	LastUsedAt, ExpiresAt *time.Time
	Self                  bool // the signed-in operator's own account
}

// newToken is a token just made, shown once on the page that answers the form.
type shownToken struct {
	Operator string
	Token    string
	// Proposal is the proposal that creates the operator (0: created, or a rotation).
	Proposal int64
	Created  bool
}

type operatorsData struct {
	Operators  []accountRow
	APIClients []accountRow
	NewToken   *shownToken
}

func (h *Handler) operatorsData(r *request) (operatorsData, error) {
	now := h.now()
	var d operatorsData
	os, err := h.Store.ListOperators(r.Context())
	if err != nil {
		return d, err
	}
	for i := range os {
		o := &os[i]
		d.Operators = append(d.Operators, accountRow{ID: o.ID, Name: o.Name, Person: o.Person, Role: o.Role, State: ops.OperatorState(o, now),
			Token: o.TokenHash != "", TLS: o.TLSFingerprint, CreatedAt: o.CreatedAt, LastUsedAt: o.LastUsedAt, ExpiresAt: o.ExpiresAt,
			Self: o.ID == r.operator.ID})
	}
	cs, err := h.Store.ListAPIClients(r.Context())
	if err != nil {
		return d, err
	}
	for i := range cs {
		c := &cs[i]
		d.APIClients = append(d.APIClients, accountRow{ID: c.ID, Name: c.UserName, State: ops.APIClientState(c, now), IPRanges: c.IPRanges,
			CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt, ExpiresAt: c.ExpiresAt})
	}
	return d, nil
}

func (h *Handler) operatorsPage(r *request) error {
	d, err := h.operatorsData(r)
	if err != nil {
		return err
	}
	return r.render(http.StatusOK, "operators", "Operators", "operators", d)
}

// newOperatorForm is the add form's values (kept when it is shown again).
type newOperatorForm struct {
	Name, Person, Role, ExpiresDays string
}

type newOperatorData struct {
	Roles    []store.OperatorRole
	Form     newOperatorForm
	Error    string
	NewToken *shownToken
}

func (h *Handler) newOperatorPage(r *request) error {
	return r.render(http.StatusOK, "operator_new", "Add an operator", "operators", newOperatorData{Roles: store.OperatorRoles})
}

// expiresIn reads a token lifetime in days (empty or 0: none).
func (h *Handler) expiresIn(days string) (*time.Time, error) {
	if days == "" || days == "0" {
		return nil, nil
	}
	n, err := strconv.Atoi(days)
	if err != nil || n < 0 || n > 3650 {
		return nil, badRequest("token lifetime: 0 to 3650 days")
	}
	at := h.now().AddDate(0, 0, n).UTC().Truncate(time.Second)
	return &at, nil
}

// addOperator proposes the operator (ops.OperatorRegistration with the token's SHA-256, as
// eacgate operator add does) and shows its token once to the proposer, who hands it over:
// it works once the proposal is approved. With quorum 1 the account exists at once.
func (h *Handler) addOperator(r *request) error {
	f := newOperatorForm{Name: r.formValue("name"), Person: r.formValue("person"), Role: r.formValue("role"), ExpiresDays: r.formValue("expires_days")}
	again := func(status int, msg string) error {
		return r.render(status, "operator_new", "Add an operator", "operators", newOperatorData{Roles: store.OperatorRoles, Form: f, Error: msg})
	}
	role := store.OperatorRole(f.Role)
	if f.Name == "" || !role.Valid() {
		return again(http.StatusBadRequest, "An operator needs a name and a role.")
	}
	expires, err := h.expiresIn(f.ExpiresDays)
	if err != nil {
		return again(http.StatusBadRequest, err.Error())
	}
	token := newToken()
	p, err := h.ops().Propose(r.Context(), r.actor(), ops.ActionOperatorAdd, ops.OperatorRegistration{Name: f.Name, Role: role,
		Person: f.Person, TokenSHA256: ops.TokenHash(token), ExpiresAt: expires})
	if err != nil {
		return again(http.StatusConflict, "Not proposed: "+ops.PublicText(err)+".")
	}
	shown := &shownToken{Operator: f.Name, Token: token, Created: p.Executed()}
	if !p.Executed() {
		shown.Proposal = p.ID
	}
	return r.render(http.StatusOK, "operator_new", "Add an operator", "operators", newOperatorData{Roles: store.OperatorRoles, NewToken: shown})
}

func (h *Handler) disableOperator(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	o, err := h.ops().DisableOperator(r.Context(), r.actor(), id)
	if err != nil {
		return r.failed("/console/operators", err)
	}
	return r.done("/console/operators", fmt.Sprintf("Operator %s disabled; its console sessions have ended.", o.Name))
}

// rotateOperator gives the operator a new token and shows it on the page that answers.
func (h *Handler) rotateOperator(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	expires, err := h.expiresIn(r.formValue("expires_days"))
	if err != nil {
		return err
	}
	token := newToken()
	o, err := h.ops().RotateOperatorToken(r.Context(), r.actor(), id, ops.TokenHash(token), expires)
	if err != nil {
		return r.failed("/console/operators", err)
	}
	d, err := h.operatorsData(r)
	if err != nil {
		return err
	}
	d.NewToken = &shownToken{Operator: o.Name, Token: token}
	return r.render(http.StatusOK, "operators", "Operators", "operators", d)
}

func (h *Handler) disableAPIClient(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	c, err := h.ops().DisableAPIClient(r.Context(), r.actor(), id)
	if err != nil {
		return r.failed("/console/operators", err)
	}
	return r.done("/console/operators", fmt.Sprintf("API client %s disabled.", c.UserName))
}

// enableOperator proposes enabling a disabled operator again (a two-person task).
func (h *Handler) enableOperator(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	o, err := h.Store.OperatorByID(r.Context(), id)
	if err != nil {
		return err
	}
	return r.critical(ops.TaskOperatorEnable, ops.AccountEnable{ID: o.ID, Name: o.Name}, "/console/operators", "/console/operators",
		fmt.Sprintf("Operator %s enabled.", o.Name))
}

// enableAPIClient proposes enabling a disabled API client again (a two-person task).
func (h *Handler) enableAPIClient(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	c, err := h.Store.APIClientByID(r.Context(), id)
	if err != nil {
		return err
	}
	return r.critical(ops.TaskAPIClientEnable, ops.AccountEnable{ID: c.ID, Name: c.UserName}, "/console/operators", "/console/operators",
		fmt.Sprintf("API client %s enabled.", c.UserName))
}
