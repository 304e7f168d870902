//go:build unix

package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// lockFile takes an exclusive advisory lock on path without waiting and writes owner into
// it: ok is false when another open file (this process's or another's) holds it. previous
// is the owner the file named before (the last holder, alive no more). unlock releases it.
func lockFile(path, owner string) (unlock func(), previous string, ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, "", false, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, "", false, nil
		}
		return nil, "", false, fmt.Errorf("lock %s: %w", path, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err == nil {
		err = f.Truncate(0)
	}
	if err == nil {
		_, err = f.WriteAt([]byte(owner), 0)
	}
	if err != nil {
		_ = f.Close()
		return nil, "", false, fmt.Errorf("lock file %s: %w", path, err)
	}
	return func() { _ = f.Close() }, strings.TrimSpace(string(b)), true, nil
}
