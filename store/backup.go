package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrBackupPostgres: SnapshotSQLite was given a PostgreSQL DSN; its backups are pg_dump's.
var ErrBackupPostgres = errors.New("a PostgreSQL database is backed up with pg_dump, not by eacgate")

// SnapshotSQLite writes a consistent copy of the SQLite database at src to the new file dst
// with VACUUM INTO, while other processes keep reading and writing src: the copy is taken in
// one read transaction, so it holds exactly the transactions committed before it began,
// including those still in the write-ahead log (a plain file copy of a WAL database can miss
// them or tear a page). It returns the copy's schema version. src must exist (a typo must not
// create and back up an empty database); dst must not.
func SnapshotSQLite(ctx context.Context, src, dst string) (int, error) {
	if IsPostgresDSN(src) {
		return 0, ErrBackupPostgres
	}
	if _, err := os.Stat(src); err != nil {
		return 0, fmt.Errorf("store: snapshot: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return 0, fmt.Errorf("store: snapshot: %s already exists", dst)
	}
	// Not query_only (sqliteReadDSN), which refuses VACUUM INTO although it only reads src;
	// the busy timeout waits out a writer's checkpoint.
	sep := "?"
	if strings.Contains(src, "?") {
		sep = "&"
	}
	db, err := sql.Open(sqliteDriver, "file:"+src+sep+"_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, fmt.Errorf("store: snapshot: open %s: %w", src, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: snapshot: open %s: %w", src, err)
	}
	defer conn.Close()
	// VACUUM INTO creates dst with the process umask; make it owner-only before it holds
	// anything, as privateSQLiteFiles does for the live database.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("store: snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("store: snapshot: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		_ = os.Remove(dst)
		return 0, fmt.Errorf("store: snapshot %s: %w", src, err)
	}
	// The schema version is read from the copy, not from src, which may have been migrated
	// by a newer gateway since.
	return snapshotSchemaVersion(ctx, dst)
}

// snapshotSchemaVersion reads the newest applied migration of the SQLite file path.
func snapshotSchemaVersion(ctx context.Context, path string) (int, error) {
	db, err := sql.Open(sqliteDriver, sqliteReadDSN(path))
	if err != nil {
		return 0, fmt.Errorf("store: snapshot: open %s: %w", path, err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: snapshot %s: schema version: %w", path, err)
	}
	return v, nil
}
