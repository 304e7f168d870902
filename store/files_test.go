package store

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The database and its WAL files are the owner's alone, whether new or already there with a
// wider mode (a data directory made by hand, an older eacgate).
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask: files would be 0644
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.db")
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fresh, existing} {
		s, err := Open(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateHolder(ctx, &Holder{Country: "UT", Mnemonic: "ISPERM", Role: RoleTerminal, Status: HolderActive}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want -rw-------", filepath.Base(p), fi.Mode().Perm())
			}
		}
		_ = s.Close()
	}
}
