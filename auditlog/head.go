package auditlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"eacgate/store"
)

// WriteHead replaces the head file with c atomically (a temporary file renamed over it).
// The head file lives outside the database: whoever cuts the log's tail and its
// checkpoints cannot make the head file forget the last checkpoint.
func WriteHead(path string, c store.AuditCheckpoint) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("auditlog: head file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-head-*")
	if err != nil {
		return fmt.Errorf("auditlog: head file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("auditlog: head file: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ReadHead reads the head file (false: it does not exist).
func ReadHead(path string) (store.AuditCheckpoint, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return store.AuditCheckpoint{}, false, nil
	}
	if err != nil {
		return store.AuditCheckpoint{}, false, fmt.Errorf("auditlog: head file: %w", err)
	}
	var c store.AuditCheckpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return store.AuditCheckpoint{}, false, fmt.Errorf("auditlog: head file %s: %w", path, err)
	}
	return c, true, nil
}
