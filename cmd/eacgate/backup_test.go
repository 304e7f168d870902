package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/store"
)

// backupData makes a data directory with a database holding three audit events (left open,
// as by a serving gateway), a key file, a keystore temporary file and a passphrase file.
func backupData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, a := range []string{"one", "two", "three"} {
		if _, err := st.AppendAudit(context.Background(), store.AuditEvent{Actor: "test", Action: a, Source: "local", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{
		"keys/cvca.key": "cvca key file", "keys/emca.wrapkey": "wrapping key file",
		"keys/.tmp-123": "half-written", "keystore.pass": "secret passphrase",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func makeBackup(t *testing.T, data string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "backup.tar.gz")
	if code, o, e := runCmd(t, "backup", "--data", data, "--out", out); code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, o, e)
	}
	return out
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	data := backupData(t)
	archive := makeBackup(t, data)
	if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v %v, want mode 0600", fi, err)
	}
	entries := readArchive(t, archive)
	var m backupManifest
	if err := json.Unmarshal(entries[0].data, &m); err != nil || entries[0].hdr.Name != backupManifestName {
		t.Fatalf("first entry %s: %v", entries[0].hdr.Name, err)
	}
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, " "); got != "eacgate.db keys/cvca.key keys/emca.wrapkey" {
		t.Errorf("manifest lists %q (no passphrase, no temporary files)", got)
	}
	if m.PassphraseIncluded || m.SchemaVersion == 0 || m.Format != backupFormat || !m.Keystore.Included {
		t.Errorf("manifest %+v", m)
	}
	// Once more, to refuse overwriting.
	if code, _, e := runCmd(t, "backup", "--data", data, "--out", archive); code != 1 || !strings.Contains(e, "already exists") {
		t.Errorf("backup over an existing file: exit %d %s", code, e)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if code, o, e := runCmd(t, "restore", "--from", archive, "--data", restored); code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, o, e)
	}
	for p, mode := range map[string]os.FileMode{
		"": 0o700, "keys": 0o700, "eacgate.db": 0o600, "keys/cvca.key": 0o600, "keys/emca.wrapkey": 0o600,
	} {
		fi, err := os.Stat(filepath.Join(restored, p))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %v", p, fi, err, mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(restored, "keys", "cvca.key")); string(b) != "cvca key file" {
		t.Errorf("restored key file %q", b)
	}
	for _, p := range []string{"keystore.pass", "keys/.tmp-123"} {
		if _, err := os.Stat(filepath.Join(restored, p)); err == nil {
			t.Errorf("%s was restored", p)
		}
	}
	if code, o, e := runCmd(t, "audit", "verify", "--data", restored); code != 0 || !strings.Contains(o, "audit chain OK: 3 events") {
		t.Errorf("audit verify of the restored data: exit %d %s%s", code, o, e)
	}
}

func TestRestoreRefusesNonEmptyTarget(t *testing.T) {
	archive := makeBackup(t, backupData(t))
	target := t.TempDir()
	keep := filepath.Join(target, "eacgate.db")
	if err := os.WriteFile(keep, []byte("live data"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, e := runCmd(t, "restore", "--from", archive, "--data", target)
	if code != 1 || !strings.Contains(e, "restore only into a new or empty data directory") {
		t.Errorf("exit %d: %s", code, e)
	}
	if b, _ := os.ReadFile(keep); string(b) != "live data" {
		t.Errorf("target file changed to %q", b)
	}
	if entries, _ := os.ReadDir(target); len(entries) != 1 {
		t.Errorf("target holds %d entries", len(entries))
	}
}

func TestRestoreRefusesModifiedArchive(t *testing.T) {
	archive := makeBackup(t, backupData(t))
	cases := []struct {
		name, want string
		modify     func([]tarItem) []tarItem
	}{
		{"key file changed", "SHA-256", func(items []tarItem) []tarItem {
			for i := range items {
				if items[i].hdr.Name == "keys/cvca.key" {
					items[i].data = []byte("CVCA key file") // same size
				}
			}
			return items
		}},
		{"database grown", "SHA-256", func(items []tarItem) []tarItem {
			items[1].data = append(items[1].data, 0)
			return items
		}},
		{"file added", "not listed", func(items []tarItem) []tarItem {
			return append(items, tarItem{&tar.Header{Name: "keys/evil.key", Typeflag: tar.TypeReg, Mode: 0o600}, nil})
		}},
		{"file removed", "missing", func(items []tarItem) []tarItem { return items[:len(items)-1] }},
		{"path leaves the directory", "unexpected file name", func(items []tarItem) []tarItem {
			var m backupManifest
			_ = json.Unmarshal(items[0].data, &m)
			m.Files[1].Name = "keys/../../escaped"
			items[0].data, _ = json.Marshal(m)
			items[1].hdr.Name = m.Files[1].Name
			return items
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			modified := filepath.Join(t.TempDir(), "modified.tar.gz")
			writeArchive(t, modified, c.modify(readArchive(t, archive)))
			parent := t.TempDir()
			target := filepath.Join(parent, "restored")
			code, _, e := runCmd(t, "restore", "--from", modified, "--data", target)
			if code != 1 || !strings.Contains(e, c.want) {
				t.Errorf("exit %d: %s(want %q)", code, e, c.want)
			}
			// Nothing left behind: no target, no staging directory.
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("left behind: %s", entries[0].Name())
			}
		})
	}
	// The archive itself restores: the failures above are the modifications'.
	if code, _, e := runCmd(t, "restore", "--from", archive, "--data", filepath.Join(t.TempDir(), "ok")); code != 0 {
		t.Errorf("unmodified archive: exit %d %s", code, e)
	}
}

func TestBackupPostgresGivesPgDumpRecipe(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "eacgate.yaml")
	if err := os.WriteFile(config, []byte("db: postgres://eacgate:s3cret@db.example/eacgate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "backup.tar.gz")
	for _, args := range [][]string{
		{"backup", "--config", config, "--out", out},
		{"backup", "--db", "host=db.example user=eacgate password=s3cret", "--out", out},
	} {
		code, _, e := runCmd(t, args...)
		if code != 1 || !strings.Contains(e, "pg_dump --format=custom") || !strings.Contains(e, "pg_restore") {
			t.Errorf("%v: exit %d: %s", args, code, e)
		}
		if strings.Contains(e, "s3cret") {
			t.Errorf("%v: the DSN's password was printed: %s", args, e)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: an archive was written", args)
		}
	}
}

func TestBackupUsage(t *testing.T) {
	for _, args := range [][]string{{"backup"}, {"restore", "--from", "x"}, {"backup", "--out", "x", "extra"}} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	for _, args := range [][]string{{"backup", "-h"}, {"restore", "-h"}} {
		if code, o, _ := runCmd(t, args...); code != 0 || !strings.Contains(o, "usage: eacgate "+args[0]) {
			t.Errorf("%v: exit %d %s", args, code, o)
		}
	}
}

type tarItem struct {
	hdr  *tar.Header
	data []byte
}

func readArchive(t *testing.T, p string) []tarItem {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var items []tarItem
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return items
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, tarItem{hdr, b})
	}
}

func writeArchive(t *testing.T, p string, items []tarItem) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, it := range items {
		it.hdr.Size = int64(len(it.data))
		if err := tw.WriteHeader(it.hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(it.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBackupPKCS11 copies the database only: the keys stay in the token, and the output and
// the manifest say so.
func TestBackupPKCS11(t *testing.T) {
	data := backupData(t)
	config := filepath.Join(t.TempDir(), "eacgate.yaml")
	yaml := "data: " + data + "\nkeystore:\n  backend: pkcs11\n  pkcs11: {module: /nonexistent/libsofthsm2.so, token: eacgate}\n"
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "backup.tar.gz")
	code, o, e := runCmd(t, "backup", "--config", config, "--out", archive)
	if code != 0 || !strings.Contains(o, "HSM") {
		t.Fatalf("exit %d: %s%s", code, o, e)
	}
	var m backupManifest
	if err := json.Unmarshal(readArchive(t, archive)[0].data, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 1 || m.Files[0].Name != backupDBName || m.Keystore.Included || m.Keystore.Backend != "pkcs11" {
		t.Errorf("manifest %+v", m)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if code, o, e := runCmd(t, "restore", "--from", archive, "--data", restored); code != 0 || !strings.Contains(o, "HSM") {
		t.Errorf("restore: exit %d %s%s", code, o, e)
	}
	if _, err := os.Stat(filepath.Join(restored, "keys")); err == nil {
		t.Error("a keys directory was restored")
	}
}
