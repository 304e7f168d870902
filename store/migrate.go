package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// migrationLockKey is the PostgreSQL advisory lock key that serialises migrations between
// instances starting together ("eacgmig" in ASCII).
const migrationLockKey = 0x65616367_6d6967

// auditLockKey serialises audit appends on PostgreSQL ("eacgaud").
const auditLockKey = 0x65616367_617564

// migration is one schema version. Statements are written once with the placeholders
// {ID} (auto-increment primary key), {TS} (timestamp) and {BLOB} (bytes), expanded per
// dialect; sqlite/postgres hold dialect-only statements (triggers).
type migration struct {
	version  int
	name     string
	common   []string
	sqlite   []string
	postgres []string
	// then, when set, runs after the statements in the same transaction (data that SQL
	// alone cannot derive).
	then func(s *Store, tx *gorm.DB) error
}

var migrations = []migration{
	{
		version: 1,
		name:    "initial schema",
		common: []string{
			`CREATE TABLE holders (
	id {ID},
	country TEXT NOT NULL CHECK (country <> ''),
	mnemonic TEXT NOT NULL CHECK (mnemonic <> ''),
	role TEXT NOT NULL CHECK (role IN ('cvca','dv_domestic','dv_foreign','terminal','spoc')),
	status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','suspended','revoked')),
	tls_fingerprint TEXT NOT NULL DEFAULT '',
	ip_ranges TEXT NOT NULL DEFAULT '',
	created_at {TS} NOT NULL,
	updated_at {TS} NOT NULL,
	CONSTRAINT uq_holders_name UNIQUE (country, mnemonic)
)`,
			`CREATE UNIQUE INDEX uq_holders_fingerprint ON holders (tls_fingerprint) WHERE tls_fingerprint <> ''`,
			`CREATE TABLE certificates (
	id {ID},
	holder_id BIGINT REFERENCES holders (id),
	issuer_id BIGINT REFERENCES certificates (id),
	chr TEXT NOT NULL CHECK (chr <> ''),
	car TEXT NOT NULL CHECK (car <> ''),
	role TEXT NOT NULL CHECK (role IN ('cvca','dv_domestic','dv_foreign','terminal','spoc')),
	not_before {TS} NOT NULL,
	not_after {TS} NOT NULL,
	status TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid','suspended','revoked')),
	raw {BLOB} NOT NULL,
	created_at {TS} NOT NULL,
	CHECK (not_before <= not_after)
)`,
			`CREATE INDEX ix_certificates_chr ON certificates (chr)`,
			`CREATE INDEX ix_certificates_car ON certificates (car)`,
			`CREATE INDEX ix_certificates_holder ON certificates (holder_id, not_after)`,
			`CREATE INDEX ix_certificates_not_after ON certificates (not_after)`,
			`CREATE TABLE messages (
	id {ID},
	originator TEXT NOT NULL CHECK (originator <> ''),
	message_id TEXT NOT NULL DEFAULT '',
	operation TEXT NOT NULL CHECK (operation <> ''),
	request {BLOB},
	state TEXT NOT NULL DEFAULT 'received' CHECK (state IN ('received','processing','answered','failed')),
	return_code TEXT NOT NULL DEFAULT '',
	result {BLOB},
	created_at {TS} NOT NULL,
	updated_at {TS} NOT NULL
)`,
			`CREATE UNIQUE INDEX uq_messages_originator_message_id ON messages (originator, message_id) WHERE message_id <> ''`,
			`CREATE TABLE outbox (
	id {ID},
	message_row_id BIGINT REFERENCES messages (id),
	target_url TEXT NOT NULL CHECK (target_url <> ''),
	payload {BLOB} NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at {TS} NOT NULL,
	locked_by TEXT NOT NULL DEFAULT '',
	locked_until {TS},
	last_error TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','done','dead')),
	created_at {TS} NOT NULL,
	updated_at {TS} NOT NULL
)`,
			`CREATE INDEX ix_outbox_due ON outbox (state, next_attempt_at, id)`,
			`CREATE INDEX ix_outbox_message ON outbox (message_row_id)`,
			`CREATE TABLE audit_events (
	seq BIGINT PRIMARY KEY CHECK (seq >= 1),
	at {TS} NOT NULL,
	actor TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL CHECK (action <> ''),
	target TEXT NOT NULL DEFAULT '',
	source TEXT NOT NULL DEFAULT '',
	outcome TEXT NOT NULL DEFAULT '',
	details TEXT NOT NULL DEFAULT '',
	prev_hash TEXT NOT NULL CHECK (length(prev_hash) = 64),
	hash TEXT NOT NULL UNIQUE CHECK (length(hash) = 64)
)`,
		},
		// Append-only: the database refuses UPDATE and DELETE on audit_events. Whoever can
		// drop the trigger (the file's owner on SQLite, a superuser or the table owner on
		// PostgreSQL) can still tamper; the hash chain is what detects that.
		sqlite: []string{
			`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`,
			`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`,
		},
		postgres: []string{
			`CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_events is append-only';
END
$$`,
			`CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`,
			`CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`,
		},
	},
	{
		version: 2,
		name:    "asynchronous processing and callbacks",
		// messages: where the answer goes (response_url, in the protocol version the request
		// came in), who sent it, the operator's decision for requests held for approval, and
		// the direction (requests we sent ourselves are matched by messageID when the answer
		// comes back with SendCertificates; parent_id links a request a SPOC forwarded to
		// the national DV's request it relays). outbox: a kind (what the worker does with the
		// item) and the state held (waiting for an operator's decision).
		common: []string{
			`ALTER TABLE messages ADD COLUMN holder_id BIGINT REFERENCES holders (id)`,
			`ALTER TABLE messages ADD COLUMN protocol TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE messages ADD COLUMN response_url TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE messages ADD COLUMN approval TEXT NOT NULL DEFAULT '' CHECK (approval IN ('','pending','approved','rejected'))`,
			`ALTER TABLE messages ADD COLUMN decided_by TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE messages ADD COLUMN direction TEXT NOT NULL DEFAULT 'in' CHECK (direction IN ('in','out'))`,
			`ALTER TABLE messages ADD COLUMN peer TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE messages ADD COLUMN parent_id BIGINT REFERENCES messages (id)`,
			`CREATE INDEX ix_messages_approval ON messages (approval) WHERE approval = 'pending'`,
			`CREATE INDEX ix_messages_outgoing ON messages (message_id) WHERE direction = 'out'`,
		},
		// SQLite cannot change a CHECK constraint: the outbox table is rebuilt (nothing
		// references it).
		sqlite: []string{
			`CREATE TABLE outbox_v2 (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	message_row_id BIGINT REFERENCES messages (id),
	kind TEXT NOT NULL DEFAULT 'deliver' CHECK (kind <> ''),
	target_url TEXT NOT NULL CHECK (target_url <> ''),
	payload BLOB NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at DATETIME NOT NULL,
	locked_by TEXT NOT NULL DEFAULT '',
	locked_until DATETIME,
	last_error TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('held','pending','done','dead')),
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL
)`,
			`INSERT INTO outbox_v2 (id, message_row_id, target_url, payload, attempts, next_attempt_at, locked_by, locked_until, last_error, state, created_at, updated_at)
SELECT id, message_row_id, target_url, payload, attempts, next_attempt_at, locked_by, locked_until, last_error, state, created_at, updated_at FROM outbox`,
			`DROP TABLE outbox`,
			`ALTER TABLE outbox_v2 RENAME TO outbox`,
			`CREATE INDEX ix_outbox_due ON outbox (state, next_attempt_at, id)`,
			`CREATE INDEX ix_outbox_message ON outbox (message_row_id)`,
		},
		postgres: []string{
			`ALTER TABLE outbox DROP CONSTRAINT outbox_state_check`,
			`ALTER TABLE outbox ADD CONSTRAINT outbox_state_check CHECK (state IN ('held','pending','done','dead'))`,
			`ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'deliver' CHECK (kind <> '')`,
		},
	},
	{
		version: 3,
		name:    "operators and API clients",
		// operators use the admin REST API (bearer token stored as its SHA-256, or a pinned TLS
		// client certificate); api_clients use the emCA-compatible endpoints (AES-256-GCM key,
		// Argon2id password hash, registered signing certificate, allowed addresses).
		common: []string{
			`CREATE TABLE operators (
	id {ID},
	name TEXT NOT NULL UNIQUE CHECK (name <> ''),
	role TEXT NOT NULL CHECK (role IN ('administrator','officer','auditor')),
	token_hash TEXT NOT NULL DEFAULT '',
	tls_fingerprint TEXT NOT NULL DEFAULT '',
	disabled BOOLEAN NOT NULL DEFAULT FALSE,
	created_at {TS} NOT NULL
)`,
			`CREATE UNIQUE INDEX uq_operators_token ON operators (token_hash) WHERE token_hash <> ''`,
			`CREATE UNIQUE INDEX uq_operators_fingerprint ON operators (tls_fingerprint) WHERE tls_fingerprint <> ''`,
			`CREATE TABLE api_clients (
	id {ID},
	em_key TEXT NOT NULL UNIQUE CHECK (em_key <> ''),
	user_name TEXT NOT NULL UNIQUE CHECK (user_name <> ''),
	password_hash TEXT NOT NULL,
	aes_key {BLOB} NOT NULL,
	certificate {BLOB} NOT NULL,
	ip_ranges TEXT NOT NULL DEFAULT '',
	disabled BOOLEAN NOT NULL DEFAULT FALSE,
	created_at {TS} NOT NULL
)`,
		},
	},
	{
		version: 4,
		name:    "index of a holder's newest certificates",
		// The per-request read looks for a holder's newest certificate of its role, ordered by
		// not_after then id. With id in the key both databases walk the index backwards and
		// stop at the first row; on (holder_id, not_after) PostgreSQL fetched and sorted every
		// certificate of the holder with the same expiry date (all renewals of one day).
		common: []string{
			`CREATE INDEX ix_certificates_holder_role ON certificates (holder_id, role, not_after, id)`,
			`DROP INDEX ix_certificates_holder`,
		},
	},
	{
		version: 5,
		name:    "leases",
		// A lease is held by one gateway instance at a time (until expires_at): work that
		// must not run twice when several instances share the database, such as renewing
		// the DV's own certificate.
		common: []string{
			`CREATE TABLE leases (
	name TEXT PRIMARY KEY CHECK (name <> ''),
	owner TEXT NOT NULL CHECK (owner <> ''),
	expires_at {TS} NOT NULL
)`,
		},
	},
	{
		version: 6,
		name:    "emCA request nonces",
		// Every authenticated emCA request's AES-GCM nonce, once per client: a captured
		// request (a reinstate, say) cannot be replayed later.
		common: []string{
			`CREATE TABLE emca_nonces (
	em_key TEXT NOT NULL CHECK (em_key <> ''),
	nonce {BLOB} NOT NULL,
	created_at {TS} NOT NULL,
	PRIMARY KEY (em_key, nonce)
)`,
		},
	},
	{
		version: 7,
		name:    "unique CHR per issuer and unique certified keys",
		// A CHR is issued once per CAR, and a public key is certified once (EJBCA's unique
		// public key check), CVCA certificates aside: a link certificate certifies the same
		// key as its self-signed twin. Rows from before, which may repeat either (the bugs
		// this closes), are kept: the later ones of a repeated (car, chr) are flagged
		// legacy_duplicate, and only the first certificate of a repeated key gets its
		// key_sha256, so that the key stays refused.
		common: []string{
			`ALTER TABLE certificates ADD COLUMN key_sha256 TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE certificates ADD COLUMN legacy_duplicate BOOLEAN NOT NULL DEFAULT FALSE`,
			`UPDATE certificates SET legacy_duplicate = TRUE
WHERE id > (SELECT MIN(c2.id) FROM certificates c2 WHERE c2.car = certificates.car AND c2.chr = certificates.chr)`,
		},
		then: backfillKeyHashes,
	},
	{
		version: 8,
		name:    "API client keys wrapped",
		// key_wrapped marks an api_clients.aes_key sealed by the keystore's key wrapper
		// (store.KeyWrapper, additional data APIClientKeyAAD). Existing rows stay in clear
		// here: SQL cannot reach the keystore; the gateway wraps them at start when a
		// wrapper is configured (WrapAPIClientKeys, one audited transaction).
		common: []string{
			`ALTER TABLE api_clients ADD COLUMN key_wrapped BOOLEAN NOT NULL DEFAULT FALSE`,
		},
	},
	{
		version: 9,
		name:    "foreign countries a domestic DV may ask",
		// TR-03139 4.4.2.1 (Table 2 step 5): the RA decides which DVs may request
		// certificates from which foreign CVCAs. One row per DV and country; with
		// spoc.foreign_countries: listed (the default) a DV without rows may ask none.
		common: []string{
			`CREATE TABLE holder_foreign_countries (
	holder_id BIGINT NOT NULL REFERENCES holders (id),
	country TEXT NOT NULL CHECK (length(country) = 2),
	created_at {TS} NOT NULL,
	PRIMARY KEY (holder_id, country)
)`,
		},
	},
	{
		version: 10,
		name:    "partner registry",
		// The registered partner countries (TR-03139 3.2.2, Appendix D): SPOC URL and root
		// CA with its SHA-256 as checked at entry, the access rights their DVs get, and
		// their status. Their DVs (Part IV) are holders of role dv_foreign; partner_dvs
		// adds the CVCA that maintains each.
		common: []string{
			`CREATE TABLE partners (
	country TEXT PRIMARY KEY CHECK (length(country) = 2),
	url TEXT NOT NULL CHECK (url <> ''),
	spoc_root {BLOB},
	spoc_root_sha256 TEXT NOT NULL DEFAULT '',
	rights TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
	created_at {TS} NOT NULL,
	updated_at {TS} NOT NULL
)`,
			`CREATE TABLE partner_dvs (
	holder_id BIGINT PRIMARY KEY REFERENCES holders(id),
	maintaining_cvca TEXT NOT NULL DEFAULT ''
)`,
		},
	},
	{
		version: 11,
		name:    "access rights per holder",
		// Issue #18: the data groups (dg3, dg4) a DV's or terminal's certificates may grant,
		// within its issuer's; empty: the issuer's policy unchanged.
		common: []string{
			`ALTER TABLE holders ADD COLUMN rights TEXT NOT NULL DEFAULT ''`,
		},
	},
	{
		version: 12,
		name:    "trusted roles and operator accounts",
		// TR-03139 5.2: four trusted roles, one per account (administrator becomes
		// system_administrator, officer ra_operator: the accounts and their tokens keep
		// working); person names who holds the account (two tokens of one person never make
		// two people); last use, expiry and removal (the row stays: the audit names it).
		sqlite: []string{
			`CREATE TABLE operators_v12 (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	name TEXT NOT NULL UNIQUE CHECK (name <> ''),
	role TEXT NOT NULL CHECK (role IN ('system_administrator','ca_operator','ra_operator','auditor')),
	person TEXT NOT NULL DEFAULT '',
	token_hash TEXT NOT NULL DEFAULT '',
	tls_fingerprint TEXT NOT NULL DEFAULT '',
	disabled BOOLEAN NOT NULL DEFAULT FALSE,
	created_at DATETIME NOT NULL,
	last_used_at DATETIME,
	expires_at DATETIME,
	removed_at DATETIME
)`,
			`INSERT INTO operators_v12 (id, name, role, person, token_hash, tls_fingerprint, disabled, created_at)
SELECT id, name, CASE role WHEN 'administrator' THEN 'system_administrator' WHEN 'officer' THEN 'ra_operator' ELSE role END,
	name, token_hash, tls_fingerprint, disabled, created_at FROM operators`,
			`DROP TABLE operators`,
			`ALTER TABLE operators_v12 RENAME TO operators`,
			`CREATE UNIQUE INDEX uq_operators_token ON operators (token_hash) WHERE token_hash <> ''`,
			`CREATE UNIQUE INDEX uq_operators_fingerprint ON operators (tls_fingerprint) WHERE tls_fingerprint <> ''`,
		},
		postgres: []string{
			`ALTER TABLE operators DROP CONSTRAINT IF EXISTS operators_role_check`,
			`UPDATE operators SET role = CASE role WHEN 'administrator' THEN 'system_administrator' WHEN 'officer' THEN 'ra_operator' ELSE role END`,
			`ALTER TABLE operators ADD CONSTRAINT operators_role_check CHECK (role IN ('system_administrator','ca_operator','ra_operator','auditor'))`,
			`ALTER TABLE operators ADD COLUMN person TEXT NOT NULL DEFAULT ''`,
			`UPDATE operators SET person = name`,
			`ALTER TABLE operators ADD COLUMN last_used_at TIMESTAMPTZ`,
			`ALTER TABLE operators ADD COLUMN expires_at TIMESTAMPTZ`,
			`ALTER TABLE operators ADD COLUMN removed_at TIMESTAMPTZ`,
		},
		common: []string{
			`ALTER TABLE api_clients ADD COLUMN last_used_at {TS}`,
			`ALTER TABLE api_clients ADD COLUMN expires_at {TS}`,
			`ALTER TABLE api_clients ADD COLUMN removed_at {TS}`,
		},
	},
	{
		version: 13,
		name:    "keyed audit chain and signed checkpoints",
		// TR-03139 5.2.1 and issue 19: each event carries an HMAC of its hash with a key kept
		// outside the database (empty for events written before the key), and signed
		// checkpoints of the chain's head, so that rewriting the chain or cutting its tail
		// needs a key the database does not hold.
		common: []string{
			`ALTER TABLE audit_events ADD COLUMN mac TEXT NOT NULL DEFAULT ''`,
			`CREATE TABLE audit_checkpoints (
	seq BIGINT PRIMARY KEY,
	hash TEXT NOT NULL,
	at {TS} NOT NULL,
	signature TEXT NOT NULL,
	key_fingerprint TEXT NOT NULL
)`,
		},
	},
	{
		version: 14,
		name:    "two-person principle: proposals and approvals",
		// TR-03139 5.2: a critical task is proposed by one operator and runs when enough
		// distinct persons (the proposer first) of the allowed roles agreed. The proposal
		// keeps exactly what will run (its canonical parameters, description and SHA-256);
		// one approval per proposal and person.
		common: []string{
			`CREATE TABLE proposals (
	id {ID},
	task TEXT NOT NULL CHECK (task <> ''),
	params TEXT NOT NULL,
	description TEXT NOT NULL,
	sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
	proposer_id BIGINT NOT NULL DEFAULT 0,
	proposer_name TEXT NOT NULL,
	proposer_person TEXT NOT NULL CHECK (proposer_person <> ''),
	proposer_role TEXT NOT NULL,
	proposer_channel TEXT NOT NULL DEFAULT '',
	quorum INTEGER NOT NULL CHECK (quorum >= 1),
	state TEXT NOT NULL CHECK (state IN ('open','executing','executed','withdrawn','rejected','expired','failed')),
	created_at {TS} NOT NULL,
	expires_at {TS} NOT NULL,
	decided_at {TS},
	decided_by TEXT NOT NULL DEFAULT '',
	result TEXT NOT NULL DEFAULT ''
)`,
			`CREATE INDEX ix_proposals_state ON proposals (state, id)`,
			`CREATE TABLE proposal_approvals (
	proposal_id BIGINT NOT NULL REFERENCES proposals (id),
	operator_id BIGINT NOT NULL DEFAULT 0,
	operator_name TEXT NOT NULL,
	person TEXT NOT NULL CHECK (person <> ''),
	role TEXT NOT NULL,
	at {TS} NOT NULL,
	PRIMARY KEY (proposal_id, person)
)`,
		},
	},
	{
		version: 15,
		name:    "web console sessions; indexes of the console's lists",
		// A console session is a random token in an HttpOnly cookie; the table keeps its
		// SHA-256, so that sign-out and the idle and absolute timeouts hold on every instance
		// sharing the database. The indexes serve the console's filtered, paginated lists
		// without slowing the request path down (below).
		common: []string{
			`CREATE TABLE console_sessions (
	id {ID},
	token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
	operator_id BIGINT NOT NULL REFERENCES operators (id),
	remote TEXT NOT NULL DEFAULT '',
	created_at {TS} NOT NULL,
	last_seen_at {TS} NOT NULL,
	expires_at {TS} NOT NULL,
	ended_at {TS}
)`,
			`CREATE INDEX ix_console_sessions_operator ON console_sessions (operator_id, id)`,
			// Certificates: a CA's certificates by CAR and role (a DV's terminals, our
			// CVCA's foreign DVs; it also serves every lookup by CAR, so the single-column
			// index goes); CVCA certificates (partial: issuing a terminal's or a DV's costs
			// nothing); and one index for the counts and the expiry (by status, role,
			// expiry, and the month of issuance for the statistics, read without the table).
			// Each index on certificates costs every issuance: three separate ones made the
			// insert of an issued certificate about 30% slower on SQLite, this one 15%.
			`CREATE INDEX ix_certificates_car_role ON certificates (car, role, holder_id)`,
			`DROP INDEX ix_certificates_car`,
			`CREATE INDEX ix_certificates_cvca ON certificates (chr) WHERE role = 'cvca'`,
			`CREATE INDEX ix_certificates_status_expiry ON certificates (status, role, not_after, not_before)`,
			// Messages, written on every request: a holder's history needs a full index;
			// the others are partial, so that a request pays nothing for them: general
			// messages, outgoing messages by partner, refusals by time (the queries repeat
			// each condition word for word, which is what lets both databases use them).
			`CREATE INDEX ix_messages_holder ON messages (holder_id, id)`,
			`CREATE INDEX ix_messages_general ON messages (id) WHERE operation = 'GeneralMessage'`,
			`CREATE INDEX ix_messages_peer ON messages (peer, id) WHERE peer <> ''`,
			`CREATE INDEX ix_messages_refused ON messages (created_at) WHERE return_code <> '' AND substr(return_code, 1, 2) <> 'ok'`,
			`CREATE INDEX ix_outbox_state ON outbox (state, id)`,
			`CREATE INDEX ix_audit_events_action ON audit_events (action, seq)`,
		},
	},
}

// backfillKeyHashes fills key_sha256 of the certificates stored before migration 7, then
// creates the unique indexes.
func backfillKeyHashes(s *Store, tx *gorm.DB) error {
	seen := map[string]bool{}
	var last int64
	repeated := 0
	for {
		var rows []struct {
			ID   int64
			Role string
			Raw  []byte
		}
		if err := tx.Raw("SELECT id, role, raw FROM certificates WHERE id > ? ORDER BY id LIMIT 1000", last).Scan(&rows).Error; err != nil {
			return fmt.Errorf("read certificates: %w", err)
		}
		if len(rows) == 0 {
			break
		}
		for _, r := range rows {
			last = r.ID
			h := certificateKeySHA256(r.Raw)
			if h == "" {
				continue
			}
			if Role(r.Role) != RoleCVCA {
				if seen[h] {
					repeated++
					continue
				}
				seen[h] = true
			}
			if err := tx.Exec("UPDATE certificates SET key_sha256 = ? WHERE id = ?", h, r.ID).Error; err != nil {
				return fmt.Errorf("certificate %d: %w", r.ID, err)
			}
		}
	}
	if repeated > 0 {
		s.log.Warn("store: certificates of keys certified before are kept without key_sha256", "count", repeated)
	}
	for _, stmt := range []string{
		`CREATE UNIQUE INDEX uq_certificates_car_chr ON certificates (car, chr) WHERE NOT legacy_duplicate`,
		`CREATE UNIQUE INDEX uq_certificates_key ON certificates (key_sha256) WHERE key_sha256 <> '' AND role <> 'cvca'`,
	} {
		if err := tx.Exec(stmt).Error; err != nil {
			return fmt.Errorf("%.60q: %w", stmt, err)
		}
	}
	return nil
}

// statements returns m's SQL for the dialect.
func (m migration) statements(dialect string) []string {
	var r *strings.Replacer
	var extra []string
	if dialect == DialectPostgres {
		r = strings.NewReplacer("{ID}", "BIGSERIAL PRIMARY KEY", "{TS}", "TIMESTAMPTZ", "{BLOB}", "BYTEA")
		extra = m.postgres
	} else {
		r = strings.NewReplacer("{ID}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{TS}", "DATETIME", "{BLOB}", "BLOB")
		extra = m.sqlite
	}
	out := make([]string, 0, len(m.common)+len(extra))
	for _, s := range m.common {
		out = append(out, r.Replace(s))
	}
	return append(out, extra...)
}

// lockMigrations takes the migration advisory lock on PostgreSQL (released at commit).
// On SQLite the immediate transaction already holds the database's write lock.
func (s *Store) lockMigrations(tx *gorm.DB) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(?)", int64(migrationLockKey)).Error
}

// migrate applies pending migrations, each in its own transaction. It is idempotent and safe
// when several instances start together.
func (s *Store) migrate(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := s.lockMigrations(tx); err != nil {
			return err
		}
		ts := "DATETIME"
		if s.dialect == DialectPostgres {
			ts = "TIMESTAMPTZ"
		}
		return tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER PRIMARY KEY,
	name TEXT NOT NULL DEFAULT '',
	applied_at ` + ts + ` NOT NULL
)`).Error
	})
	if err != nil {
		return fmt.Errorf("store: migrate: schema_migrations: %w", err)
	}
	for _, m := range migrations {
		applied := false
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := s.lockMigrations(tx); err != nil {
				return err
			}
			var n int64
			if err := tx.Raw("SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range m.statements(s.dialect) {
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("%.60q: %w", stmt, err)
				}
			}
			if m.then != nil {
				if err := m.then(s, tx); err != nil {
					return err
				}
			}
			applied = true
			return tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, time.Now().UTC()).Error
		})
		if err != nil {
			return fmt.Errorf("store: migrate: version %d (%s): %w", m.version, m.name, err)
		}
		if applied {
			s.log.Info("store: applied migration", "dialect", s.dialect, "version", m.version, "name", m.name)
		}
	}
	return nil
}

// SchemaVersion returns the highest applied migration version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.db.WithContext(ctx).Raw("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v).Error; err != nil {
		return 0, wrap("schema version", err)
	}
	return v, nil
}
