package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
)

// privateSQLiteFiles makes the SQLite database file and its journal files readable by the
// owner only: they hold every certificate, request and audit event, and the operators'
// credentials. SQLite creates the -wal and -shm files with the mode of the database file, so
// creating that one 0600 before the driver does is enough for a new database; files of an
// existing database that are open to group or others are narrowed, with a warning.
func privateSQLiteFiles(dsn string, log *slog.Logger) error {
	path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if path == "" || path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("store: restrict %s to its owner: %w", p, err)
		}
		log.Warn("store: database file was readable by others; now owner-only (0600)", "file", p, "was", fi.Mode().Perm().String())
	}
	return nil
}
