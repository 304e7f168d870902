package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"gorm.io/gorm"
)

// OperatorRole is the trusted role (TR-03139 5.2) an operator account holds: one role per
// account, and never two roles for one person.
type OperatorRole string

// The trusted roles. What each may do is ops.Permitted's matrix.
const (
	// RoleSystemAdministrator manages operators, API clients and configuration-level
	// actions (was "administrator").
	RoleSystemAdministrator OperatorRole = "system_administrator"
	// RoleCAOperator runs the CA's key operations: init, rollover, the key ceremony.
	RoleCAOperator OperatorRole = "ca_operator"
	// RoleRAOperator registers, suspends, reinstates and revokes holders and partners,
	// decides held requests and sends notifications (was "officer").
	RoleRAOperator OperatorRole = "ra_operator"
	// RoleAuditor reads: the audit log, its verification and export, reports.
	RoleAuditor OperatorRole = "auditor"
)

// OperatorRoles are the trusted roles, in the order help texts list them.
var OperatorRoles = []OperatorRole{RoleSystemAdministrator, RoleCAOperator, RoleRAOperator, RoleAuditor}

// Valid reports whether r is a defined operator role.
func (r OperatorRole) Valid() bool {
	return r == RoleSystemAdministrator || r == RoleCAOperator || r == RoleRAOperator || r == RoleAuditor
}

// Operator is a person or system using the admin REST API (or the CLI, identified by its
// token).
type Operator struct {
	ID   int64        `gorm:"column:id;primaryKey"`
	Name string       `gorm:"column:name"`
	Role OperatorRole `gorm:"column:role"`
	// Person is who holds the account (default: Name): two accounts of one person are one
	// person for the two-person principle, and one person holds one role.
	Person string `gorm:"column:person"`
	// TokenHash is the hex SHA-256 of the bearer token (the token has 256 random bits).
	TokenHash string `gorm:"column:token_hash"`
	// TLSFingerprint is the hex SHA-256 of the operator's TLS client certificate.
	TLSFingerprint string    `gorm:"column:tls_fingerprint"`
	Disabled       bool      `gorm:"column:disabled"`
	CreatedAt      time.Time `gorm:"column:created_at"`
	// LastUsedAt is the last successful authentication (nil: never).
	LastUsedAt *time.Time `gorm:"column:last_used_at"`
	// ExpiresAt, when set, ends the token's validity.
	ExpiresAt *time.Time `gorm:"column:expires_at"`
	// RemovedAt: the account was removed (it no longer authenticates; the row stays so the
	// audit log's names resolve).
	RemovedAt *time.Time `gorm:"column:removed_at"`
}

// TableName implements gorm's tabler.
func (Operator) TableName() string { return "operators" }

// APIClient is an integrator of the emCA-compatible endpoints.
type APIClient struct {
	ID           int64  `gorm:"column:id;primaryKey"`
	EMKey        string `gorm:"column:em_key"`
	UserName     string `gorm:"column:user_name"`
	PasswordHash string `gorm:"column:password_hash"`
	// AESKey is the 32-byte AES-256-GCM key of requestData, in clear, or sealed by a
	// KeyWrapper (KeyWrapped) with APIClientKeyAAD(EMKey) as additional data.
	AESKey     []byte `gorm:"column:aes_key"`
	KeyWrapped bool   `gorm:"column:key_wrapped"`
	// Certificate is the client's registered X.509 signing certificate (DER).
	Certificate []byte `gorm:"column:certificate"`
	// IPRanges: comma-separated CIDR prefixes the client may call from (empty: any).
	IPRanges  string    `gorm:"column:ip_ranges"`
	Disabled  bool      `gorm:"column:disabled"`
	CreatedAt time.Time `gorm:"column:created_at"`
	// LastUsedAt, ExpiresAt, RemovedAt: as for Operator.
	LastUsedAt *time.Time `gorm:"column:last_used_at"`
	ExpiresAt  *time.Time `gorm:"column:expires_at"`
	RemovedAt  *time.Time `gorm:"column:removed_at"`
}

// TableName implements gorm's tabler.
func (APIClient) TableName() string { return "api_clients" }

// AllowsIP reports whether addr is within the client's ranges (any when none are set).
func (c *APIClient) AllowsIP(addr netip.Addr) bool {
	h := Holder{IPRanges: c.IPRanges}
	return h.AllowsIP(addr)
}

// CreateOperator inserts an operator.
func (s *Store) CreateOperator(ctx context.Context, o *Operator) error {
	if !o.Role.Valid() || o.Name == "" {
		return fmt.Errorf("store: create operator: need a name and a role (system_administrator, ca_operator, ra_operator, auditor)")
	}
	if o.TokenHash == "" && o.TLSFingerprint == "" {
		return fmt.Errorf("store: create operator: need a token or a TLS certificate")
	}
	if o.Person == "" {
		o.Person = o.Name
	}
	if err := s.checkPersonRole(ctx, o.Person, o.Role, 0); err != nil {
		return err
	}
	o.CreatedAt = now()
	err := s.db.WithContext(ctx).Create(o).Error
	if err != nil && isConstraintViolation(err) {
		if _, ok := s.firstValue(ctx, &Operator{}, "name", "name = ?", o.Name); ok {
			return &ConflictError{Msg: "operator " + o.Name + " already exists"}
		}
		if other, ok := s.firstValue(ctx, &Operator{}, "name", "tls_fingerprint = ? AND tls_fingerprint <> ''", o.TLSFingerprint); ok {
			return &ConflictError{Msg: "an operator with this TLS certificate is already registered: " + other}
		}
	}
	return wrap("create operator", err)
}

// firstValue is column of the first row of model matching where, for naming what a new
// row conflicts with; ok false if there is none (or the lookup failed).
func (s *Store) firstValue(ctx context.Context, model any, column, where string, args ...any) (string, bool) {
	var vals []string
	err := s.db.WithContext(ctx).Model(model).Where(where, args...).Limit(1).Pluck(column, &vals).Error
	if err != nil || len(vals) == 0 {
		return "", false
	}
	return vals[0], true
}

// OperatorByToken finds the operator with this token hash, or ErrNotFound, whatever its
// status: the caller refuses a disabled, removed or expired one (ops.CheckOperatorUsable)
// and names it in the refusal.
func (s *Store) OperatorByToken(ctx context.Context, tokenHash string) (*Operator, error) {
	return s.operatorWhere(ctx, "token_hash = ? AND token_hash <> ''", tokenHash)
}

// OperatorByFingerprint finds the operator with this TLS certificate, or ErrNotFound,
// whatever its status (as OperatorByToken).
func (s *Store) OperatorByFingerprint(ctx context.Context, fp string) (*Operator, error) {
	return s.operatorWhere(ctx, "tls_fingerprint = ? AND tls_fingerprint <> ''", fp)
}

func (s *Store) operatorWhere(ctx context.Context, where string, arg any) (*Operator, error) {
	var o Operator
	if err := s.db.WithContext(ctx).Where(where, arg).Take(&o).Error; err != nil {
		return nil, wrap("operator", err)
	}
	return &o, nil
}

// ListOperators returns the operators by name.
func (s *Store) ListOperators(ctx context.Context) ([]Operator, error) {
	var os []Operator
	return os, wrap("list operators", s.db.WithContext(ctx).Order("name").Find(&os).Error)
}

// KeyWrapper encrypts secrets kept in the database under a key held by the keystore or HSM
// (hsm/ implements it with AES-256-GCM). The additional data binds a sealed value to its row.
type KeyWrapper interface {
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

// APIClientKeyAAD is the additional data of an API client's sealed AES key: its emKey, so a
// sealed key copied into another client's row does not open.
func APIClientKeyAAD(emKey string) []byte { return []byte("eacgate api_clients.aes_key:" + emKey) }

// CreateAPIClient inserts an emCA API client.
func (s *Store) CreateAPIClient(ctx context.Context, c *APIClient) error {
	keyOK := len(c.AESKey) == 32
	if c.KeyWrapped {
		keyOK = len(c.AESKey) > 32 // at least the key and an authentication tag
	}
	if !keyOK || c.EMKey == "" || c.UserName == "" || len(c.Certificate) == 0 {
		return fmt.Errorf("store: create API client: need emKey, user name, a 32-byte key and a certificate")
	}
	c.CreatedAt = now()
	err := s.db.WithContext(ctx).Create(c).Error
	if err != nil && isConstraintViolation(err) {
		if _, ok := s.firstValue(ctx, &APIClient{}, "user_name", "user_name = ?", c.UserName); ok {
			return &ConflictError{Msg: "API client " + c.UserName + " already exists"}
		}
	}
	return wrap("create API client", err)
}

// APIClientByKey finds the API client with this emKey, or ErrNotFound, whatever its status:
// the caller refuses a disabled, removed or expired one (ops.CheckAPIClientUsable).
func (s *Store) APIClientByKey(ctx context.Context, emKey string) (*APIClient, error) {
	var c APIClient
	if err := s.db.WithContext(ctx).Where("em_key = ?", emKey).Take(&c).Error; err != nil {
		return nil, wrap("API client", err)
	}
	return &c, nil
}

// CountClearAPIClientKeys counts the API clients whose AES key is stored in clear.
func (s *Store) CountClearAPIClientKeys(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&APIClient{}).Where("key_wrapped = ?", false).Count(&n).Error
	return n, wrap("count clear API client keys", err)
}

// WrapAPIClientKeys seals every API client key stored in clear with w, in one transaction
// with its audit event (action apiclient.keys.wrap, by actor): either all keys are wrapped or
// none. It returns how many were wrapped (0: nothing to do, and nothing is audited).
// Instances starting together are serialised by the migration lock.
func (s *Store) WrapAPIClientKeys(ctx context.Context, w KeyWrapper, actor string) (int, error) {
	if w == nil {
		return 0, errors.New("store: wrap API client keys: no key wrapper")
	}
	n := 0
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.lockMigrations(tx); err != nil {
			return err
		}
		var clear []APIClient
		if err := tx.Where("key_wrapped = ?", false).Order("id").Find(&clear).Error; err != nil {
			return err
		}
		var names []string
		for _, c := range clear {
			if len(c.AESKey) != 32 {
				return fmt.Errorf("API client %s: stored key is %d bytes, not 32", c.UserName, len(c.AESKey))
			}
			sealed, err := w.Seal(ctx, c.AESKey, APIClientKeyAAD(c.EMKey))
			if err != nil {
				return fmt.Errorf("API client %s: seal: %w", c.UserName, err)
			}
			res := tx.Model(&APIClient{}).Where("id = ? AND key_wrapped = ?", c.ID, false).
				Updates(map[string]any{"aes_key": sealed, "key_wrapped": true})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return fmt.Errorf("API client %s: %w: changed while wrapping", c.UserName, ErrConflict)
			}
			names = append(names, c.UserName)
		}
		if len(names) == 0 {
			return nil
		}
		n = len(names)
		details, _ := json.Marshal(map[string]any{"clients": names})
		_, err := s.appendAuditTx(tx, AuditEvent{Actor: actor, Action: "apiclient.keys.wrap", Target: "api_clients",
			Source: "local", Outcome: "ok", Details: string(details)})
		return err
	})
	if err != nil {
		return 0, wrap("wrap API client keys", err)
	}
	return n, nil
}

// IsConstraintViolation reports whether err comes from a database constraint (unique key,
// foreign key, CHECK): its text is the driver's and not for users.
func IsConstraintViolation(err error) bool { return err != nil && isConstraintViolation(err) }

// UseRequestNonce records the nonce of an API client's authenticated request. A nonce the
// client used before is ErrConflict: the request is a replay.
func (s *Store) UseRequestNonce(ctx context.Context, emKey string, nonce []byte) error {
	if emKey == "" || len(nonce) == 0 {
		return fmt.Errorf("store: use request nonce: emKey and nonce are required")
	}
	err := s.db.WithContext(ctx).Exec(`INSERT INTO emca_nonces (em_key, nonce, created_at) VALUES (?, ?, ?)`, emKey, nonce, now()).Error
	return wrap("use request nonce", err)
}

// CertificateFilter selects certificates; zero fields match everything.
type CertificateFilter struct {
	Status  CertStatus
	Role    Role
	Country string // the holder's country: the CHR's first two characters
	// ExpiringBefore selects certificates not yet expired at Now that expire before it.
	ExpiringBefore time.Time
	Now            time.Time
	HolderID       int64
	Limit          int // default and maximum 10,000
}

// ListCertificates returns the certificates matching f, newest first.
func (s *Store) ListCertificates(ctx context.Context, f CertificateFilter) ([]Certificate, error) {
	q := s.db.WithContext(ctx).Model(&Certificate{})
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Role != "" {
		q = q.Where("role = ?", f.Role)
	}
	if f.Country != "" {
		q = q.Where("substr(chr, 1, 2) = ?", f.Country)
	}
	if f.HolderID != 0 {
		q = q.Where("holder_id = ?", f.HolderID)
	}
	if !f.ExpiringBefore.IsZero() {
		n := f.Now
		if n.IsZero() {
			n = now()
		}
		q = q.Where("not_after >= ? AND not_after < ?", n.UTC().Truncate(24*time.Hour), f.ExpiringBefore.UTC())
	}
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 10000
	}
	var cs []Certificate
	err := q.Order("id DESC").Limit(f.Limit).Find(&cs).Error
	return cs, wrap("list certificates", err)
}

// NewestCertificate returns the holder's newest certificate of one role whatever its status
// (a suspended or revoked one included), or ErrNotFound.
func (s *Store) NewestCertificate(ctx context.Context, holderID int64, role Role) (*Certificate, error) {
	var c Certificate
	err := s.db.WithContext(ctx).Where("holder_id = ? AND role = ?", holderID, role).
		Order("not_after DESC, id DESC").Take(&c).Error
	if err != nil {
		return nil, wrap("newest certificate", err)
	}
	return &c, nil
}

// CountryCount is a number of certificates of one country.
type CountryCount struct {
	Country string
	Status  CertStatus
	N       int64
}

// CertificatesByCountry counts certificates by the holder's country and status.
func (s *Store) CertificatesByCountry(ctx context.Context) ([]CountryCount, error) {
	var out []CountryCount
	err := s.db.WithContext(ctx).Model(&Certificate{}).
		Select("substr(chr, 1, 2) AS country, status, COUNT(*) AS n").Group("substr(chr, 1, 2), status").
		Order("country, status").Scan(&out).Error
	return out, wrap("certificates by country", err)
}

// CountExpiring counts valid certificates by role that are not expired at now and expire
// before the given time.
func (s *Store) CountExpiring(ctx context.Context, now, before time.Time) (map[Role]int64, error) {
	var rows []struct {
		Role Role
		N    int64
	}
	err := s.db.WithContext(ctx).Model(&Certificate{}).Select("role, COUNT(*) AS n").
		Where("status = ? AND not_after >= ? AND not_after < ?", CertValid, now.UTC().Truncate(24*time.Hour), before.UTC()).
		Group("role").Scan(&rows).Error
	if err != nil {
		return nil, wrap("count expiring", err)
	}
	out := map[Role]int64{}
	for _, r := range rows {
		out[r.Role] = r.N
	}
	return out, nil
}
