package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestSnapshotSQLiteWhileOpen snapshots a database that a store holds open, with its latest
// transactions still only in the write-ahead log: the copy has them all, verifies, is
// owner-only, and the source keeps working.
func TestSnapshotSQLiteWhileOpen(t *testing.T) {
	src := sqliteDSNFor(t)
	s := open(t, src)
	// Writes after a checkpoint stay in the WAL while the store is open: a copy of the main
	// file alone would miss them.
	if err := s.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error; err != nil {
		t.Fatal(err)
	}
	const events = 5
	for i := range events {
		if _, err := s.AppendAudit(ctx(), AuditEvent{Actor: "test", Action: "snapshot", Target: fmt.Sprint(i), Source: "local", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(src + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the test needs writes in the WAL: %v", err)
	}

	dst := filepath.Join(t.TempDir(), "copy.db")
	v, err := SnapshotSQLite(ctx(), src, dst)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.SchemaVersion(ctx())
	if err != nil {
		t.Fatal(err)
	}
	if v != want || v == 0 {
		t.Errorf("schema version %d, want %d", v, want)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("copy mode %v, want 0600", fi.Mode().Perm())
	}
	c := open(t, dst)
	n, err := c.VerifyAudit(ctx())
	if err != nil {
		t.Fatal(err)
	}
	if n != events {
		t.Errorf("copy has %d audit events, want %d", n, events)
	}
	if _, err := s.AppendAudit(ctx(), AuditEvent{Actor: "test", Action: "after", Source: "local", Outcome: "ok"}); err != nil {
		t.Errorf("source after the snapshot: %v", err)
	}
}

func TestSnapshotSQLiteRefusals(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "eacgate.db")
	open(t, src)

	missing := filepath.Join(dir, "typo.db")
	if _, err := SnapshotSQLite(ctx(), missing, filepath.Join(dir, "a.db")); err == nil {
		t.Error("snapshot of a missing database succeeded")
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("snapshot created the missing source: %v", err)
	}

	exists := filepath.Join(dir, "exists.db")
	if err := os.WriteFile(exists, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := SnapshotSQLite(ctx(), src, exists); err == nil {
		t.Error("snapshot overwrote an existing file")
	}
	if b, _ := os.ReadFile(exists); string(b) != "keep" {
		t.Errorf("existing file changed to %q", b)
	}

	if _, err := SnapshotSQLite(ctx(), "postgres://u@localhost/eacgate", filepath.Join(dir, "pg.db")); !errors.Is(err, ErrBackupPostgres) {
		t.Errorf("PostgreSQL DSN: %v, want ErrBackupPostgres", err)
	}
}
