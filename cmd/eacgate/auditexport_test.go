package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/auditlog"
	"eacgate/store"
)

// keyedData makes a data directory whose audit log of n events is keyed and checkpointed,
// as a gateway leaves it.
func keyedData(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	data := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(data, "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key, err := auditlog.LoadKey(ctx, st, filepath.Join(data, "audit.key"), true, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st.UseAuditKey(key.MAC())
	for i := range n {
		if _, err := st.AppendAudit(ctx, store.AuditEvent{Actor: "op", Action: "holder.suspend", Target: fmt.Sprintf("DEDV%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	l := &auditlog.Log{Store: st, Key: key, HeadFile: filepath.Join(data, "audit.head")}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	return data
}

// An auditor records the checkpoint key, takes an export and verifies it offline; the
// CLI's own writes are keyed; an export checked against another key is refused.
func TestAuditExportVerifyFile(t *testing.T) {
	data := keyedData(t, 4)
	dir := t.TempDir()
	code, out, errOut := runSplit("audit", "key", "--data", data)
	if code != 0 || !strings.Contains(out, "BEGIN PUBLIC KEY") || !strings.Contains(out, "fingerprint (SHA-256): ") {
		t.Fatalf("audit key: %d %s%s", code, out, errOut)
	}
	fp := strings.TrimSpace(out[strings.Index(out, "fingerprint (SHA-256): ")+len("fingerprint (SHA-256): "):])
	pemFile := filepath.Join(dir, "audit-pub.pem")
	if err := os.WriteFile(pemFile, []byte(out[:strings.Index(out, "fingerprint")]), 0o600); err != nil {
		t.Fatal(err)
	}

	// A CLI write command appends a keyed event.
	if code, out, errOut := runSplit("operator", "add", "--data", data, "--name", "olga", "--role", "auditor"); code != 0 {
		t.Fatalf("operator add: %d %s%s", code, out, errOut)
	}
	if code, out, errOut := runSplit("audit", "verify", "--data", data); code != 0 ||
		!strings.Contains(out, "audit chain OK: 5 events (5 keyed, 0 from before the key), 1 signed checkpoints, head at seq 4, 1 events not yet checkpointed") {
		t.Fatalf("audit verify: %d %s%s", code, out, errOut)
	}

	export := filepath.Join(dir, "audit.jsonl")
	if code, out, errOut := runSplit("audit", "export", "--data", data, "--out", export); code != 0 || !strings.Contains(out, "5 events written from seq 1") {
		t.Fatalf("audit export: %d %s%s", code, out, errOut)
	}
	for _, pin := range [][]string{{"--public-key", pemFile}, {"--fingerprint", fp}} {
		args := append([]string{"audit", "verify", "--file", export}, pin...)
		if code, out, errOut := runSplit(args...); code != 0 || !strings.Contains(out, "audit export OK: 5 events (seq 1 to 5)") {
			t.Fatalf("verify --file %v: %d %s%s", pin, code, out, errOut)
		}
	}
	if code, out, _ := runSplit("audit", "verify", "--file", export, "--fingerprint", strings.Repeat("0", 64)); code != 1 || !strings.Contains(out, "audit export BROKEN:") || !strings.Contains(out, "not the trusted key") {
		t.Fatalf("verify --file with another key: %d %s", code, out)
	}
	if code, _, _ := runSplit("audit", "verify", "--file", export); code != 2 {
		t.Fatalf("verify --file without a key: exit %d", code)
	}
	since := filepath.Join(dir, "since.jsonl")
	if code, out, errOut := runSplit("audit", "export", "--data", data, "--since", "3", "--out", since); code != 0 {
		t.Fatalf("audit export --since 3: %d %s%s", code, out, errOut)
	}
	if code, out, _ := runSplit("audit", "verify", "--file", since, "--fingerprint", fp); code != 0 || !strings.Contains(out, "3 events (seq 3 to 5)") {
		t.Fatalf("verify --file of --since 3: %d %s", code, out)
	}

	// A modified event in the file is caught.
	b, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	edited := filepath.Join(dir, "edited.jsonl")
	if err := os.WriteFile(edited, []byte(strings.Replace(string(b), "DEDV02", "DEDV99", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runSplit("audit", "verify", "--file", edited, "--fingerprint", fp); code != 1 || !strings.Contains(out, "seq 3: hash mismatch") {
		t.Fatalf("verify --file of an edited export: %d %s", code, out)
	}

	// Without its key file the keyed log refuses the CLI's writes.
	if err := os.Rename(filepath.Join(data, "audit.key"), filepath.Join(dir, "audit.key")); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runSplit("operator", "add", "--data", data, "--name", "otto", "--role", "auditor"); code == 0 || !strings.Contains(errOut, "is missing but the audit log has keyed events") {
		t.Fatalf("operator add without the key file: %d %s", code, errOut)
	}
}

// A backup carries the audit key and head file: the restored keyed log verifies in full.
func TestBackupCarriesAuditKey(t *testing.T) {
	data := keyedData(t, 3)
	if err := os.Mkdir(filepath.Join(data, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "backup.tar.gz")
	if code, out, errOut := runSplit("backup", "--data", data, "--out", archive); code != 0 {
		t.Fatalf("backup: %d %s%s", code, out, errOut)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if code, out, errOut := runSplit("restore", "--from", archive, "--data", restored); code != 0 {
		t.Fatalf("restore: %d %s%s", code, out, errOut)
	}
	if fi, err := os.Stat(filepath.Join(restored, "audit.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored audit.key: %v %v", fi, err)
	}
	if code, out, errOut := runSplit("audit", "verify", "--data", restored); code != 0 || !strings.Contains(out, "audit chain OK: 3 events (3 keyed, 0 from before the key), 1 signed checkpoints, head at seq 3") {
		t.Fatalf("audit verify of the restored data: %d %s%s", code, out, errOut)
	}
}
