// Package store is eacgate's persistence layer on gorm: holders, CV certificates, accepted
// messages, the delivery outbox and the hash-chained audit log.
//
// Two dialects are supported and run the same test suite:
//
//   - SQLite (the embedded default), through modernc.org/sqlite, a pure-Go SQLite, so the
//     binary needs no cgo (gorm's dialect for it is in sqlitedialect.go). The file is opened
//     in WAL mode with synchronous=FULL (a committed accept survives power loss, not only a
//     process crash), a busy timeout, foreign keys on, and immediate transactions. The main
//     pool holds a single connection: all writes of the process are serialised through it,
//     which is the "single writer" that makes ClaimOutbox and AppendAudit safe without row
//     locks. The per-request reads use a small pool of read-only connections, and the
//     per-request writes are committed in groups (hotpath.go, groupcommit.go).
//   - PostgreSQL (production and multi-instance deployments), through gorm.io/driver/postgres
//     (pgx). ClaimOutbox uses SELECT ... FOR UPDATE SKIP LOCKED; AppendAudit and the
//     migrations serialise on transaction-scoped advisory locks.
//
// The schema is created by versioned SQL migrations (see migrate.go) run by Open; constraints
// (unique keys, foreign keys, CHECKs, the append-only trigger on audit_events) live in the
// database, not only in this code.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// Sentinel errors. Every error returned by this package wraps one of these or a driver error.
var (
	// ErrNotFound: no row matched.
	ErrNotFound = errors.New("not found")
	// ErrDuplicateMessage: a message with the same (originator, messageID) was already accepted.
	ErrDuplicateMessage = errors.New("duplicate message")
	// ErrConflict: a uniqueness or state constraint rejected the change.
	ErrConflict = errors.New("conflict")
	// ErrRevokedFinal: the holder or certificate is revoked; revocation cannot be undone.
	ErrRevokedFinal = errors.New("revoked is final")
	// ErrAuditBroken: the audit chain does not verify.
	ErrAuditBroken = errors.New("audit chain broken")
)

// ConflictError is a uniqueness conflict the store could name: its text says what exists
// already, in words an operator understands, and never carries the database's own error
// (which names tables and constraints). It matches ErrConflict with errors.Is.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Dialect names returned by (*Store).Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Store is a handle on the database. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	dialect string
	log     *slog.Logger
	// read is SQLite's pool of read-only connections for the per-request reads (nil on
	// PostgreSQL, where they use the main pool).
	read *sql.DB
	// write is the main pool (gorm's).
	write *sql.DB
	// hot holds the prepared statements of the per-request path (hotpath.go).
	hot *hotStatements
	// commits is SQLite's group committer (nil on PostgreSQL).
	commits *committer
	// auditKey MACs appended audit events and checks them (nil: unkeyed; see UseAuditKey).
	auditKey atomic.Pointer[AuditKey]
	// issues is PostgreSQL's group committer of the requests answered with a certificate
	// signed here: their ca.issue events serialise on the audit lock, which one
	// transaction per group takes once (nil on SQLite).
	issues *committer
}

// IsPostgresDSN reports whether dsn names a PostgreSQL server (a postgres:// or postgresql://
// URL, or a keyword/value string with host=); anything else is a SQLite file path.
func IsPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") ||
		strings.Contains(dsn, "host=")
}

// now is the clock used for CreatedAt/UpdatedAt: UTC, truncated to microseconds so that both
// databases round-trip it exactly.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// sqliteDSN builds the modernc.org/sqlite DSN for a file path: WAL, a busy timeout, foreign
// keys, and BEGIN IMMEDIATE so that a transaction never has to upgrade a read lock to a write
// lock (which fails at once with SQLITE_BUSY_SNAPSHOT when another connection wrote). Times
// are written as "2006-01-02 15:04:05.999999999-07:00" (_time_format=sqlite, the format
// earlier versions of eacgate wrote), which sorts correctly as text because the store writes
// UTC only.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return "file:" + path + sep + q.Encode()
}

// sqliteReadDSN is the DSN of the read-only connections: the same file, a busy timeout, and
// query_only (the journal mode is a property of the file, set by the writer).
func sqliteReadDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "query_only(1)")
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return "file:" + path + sep + q.Encode()
}

// Queries on columns with a partial index (WHERE x <> '') repeat that condition, or name the
// indexed value as a literal: SQLite uses a partial index only when it can prove the query's
// WHERE implies the index's, which a bound parameter never does (a full scan otherwise).

// Open connects to the database named by dsn and applies any pending migrations.
// A dsn starting with postgres:// or postgresql://, or containing host=, selects PostgreSQL;
// anything else is the path of a SQLite file (created if missing). logger may be nil.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := &gorm.Config{
		Logger:                 gormlogger.Default.LogMode(gormlogger.Silent),
		NowFunc:                now,
		SkipDefaultTransaction: true,
	}
	s := &Store{log: logger}
	var err error
	if IsPostgresDSN(dsn) {
		s.dialect = DialectPostgres
		s.db, err = gorm.Open(postgres.Open(dsn), cfg)
	} else {
		if dsn == "" {
			return nil, errors.New("store: open: empty DSN")
		}
		s.dialect = DialectSQLite
		if err := privateSQLiteFiles(dsn, logger); err != nil {
			return nil, err
		}
		var conn *sql.DB
		if conn, err = sql.Open(sqliteDriver, sqliteDSN(dsn)); err == nil {
			s.db, err = gorm.Open(sqliteDialector{conn: conn}, cfg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", s.dialect, err)
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if s.dialect == DialectSQLite {
		// The single writer: one connection serialises every statement and transaction.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxLifetime(0)
	} else {
		// Idle connections are kept up to the pool's size: a PostgreSQL connection is a
		// server process, and its prepared statements live with it (closing and reopening
		// connections under load costs more than the requests).
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(20)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("store: open %s: ping: %w", s.dialect, err)
	}
	if err := s.migrate(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	if err := s.openHotPath(ctx, dsn, sqlDB); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// openHotPath opens SQLite's read pool and group committer and prepares the per-request
// statements.
func (s *Store) openHotPath(ctx context.Context, dsn string, write *sql.DB) error {
	s.write = write
	read := write
	if s.dialect == DialectSQLite {
		var err error
		if s.read, err = sql.Open(sqliteDriver, sqliteReadDSN(dsn)); err != nil {
			return fmt.Errorf("store: open read pool: %w", err)
		}
		s.read.SetMaxOpenConns(readPoolSize)
		s.read.SetMaxIdleConns(readPoolSize)
		read = s.read
	}
	hot, err := prepareHot(ctx, s.dialect, read, write)
	if err != nil {
		if s.read != nil {
			_ = s.read.Close()
		}
		return err
	}
	s.hot = hot
	if s.dialect == DialectSQLite {
		s.commits = newCommitter(s)
	} else {
		s.issues = newCommitter(s)
	}
	return nil
}

// Close closes the database connections, after the group commits queued so far.
func (s *Store) Close() error {
	for _, c := range []*committer{s.commits, s.issues} {
		if c != nil {
			c.close()
		}
	}
	if s.hot != nil {
		s.hot.close()
	}
	if s.read != nil {
		_ = s.read.Close()
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	if err := sqlDB.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Dialect returns DialectSQLite or DialectPostgres.
func (s *Store) Dialect() string { return s.dialect }

// DB returns the underlying gorm handle, for tests and maintenance tools. Writes through it
// bypass the package's invariants (the audit chain in particular).
func (s *Store) DB() *gorm.DB { return s.db }

// isUniqueViolation reports whether err is a unique-constraint violation, and if so the name
// of the constraint or the columns involved, as the driver reports them.
func isUniqueViolation(err error) (bool, string) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505", pgErr.ConstraintName
	}
	msg := err.Error()
	if i := strings.Index(msg, "UNIQUE constraint failed"); i >= 0 {
		return true, msg[i:]
	}
	return false, ""
}

// isConstraintViolation reports whether err is any integrity-constraint violation (unique,
// foreign key, check, not null).
func isConstraintViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "23")
	}
	return strings.Contains(err.Error(), "constraint failed")
}

// wrap turns gorm/driver errors into the package's error conventions.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrDuplicateMessage),
		errors.Is(err, ErrRevokedFinal), errors.Is(err, ErrAuditBroken):
		return fmt.Errorf("store: %s: %w", op, err)
	case isConstraintViolation(err):
		return fmt.Errorf("store: %s: %w: %w", op, ErrConflict, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}
