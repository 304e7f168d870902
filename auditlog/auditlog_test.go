package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"eacgate/internal/pgtest"
	"eacgate/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// fixture is a keyed log of n events with a checkpoint after the first cp of them.
type fixture struct {
	st  *store.Store
	log *Log
	dir string
}

func newFixture(t *testing.T, dsn string, n, cp int) fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := t.TempDir()
	key, err := LoadKey(ctx, st, filepath.Join(dir, "audit.key"), true, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st.UseAuditKey(key.MAC())
	now := t0
	l := &Log{Store: st, Key: key, HeadFile: filepath.Join(dir, "audit.head"), Now: func() time.Time { now = now.Add(time.Minute); return now }}
	for i := range n {
		if _, err := st.AppendAudit(ctx, store.AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Actor: "op", Action: "holder.register", Target: fmt.Sprint("DV", i), Details: `{"i":` + fmt.Sprint(i) + `}`}); err != nil {
			t.Fatal(err)
		}
		if i+1 == cp {
			if c, err := l.Checkpoint(ctx); err != nil || c.Seq != int64(cp) {
				t.Fatalf("Checkpoint = %+v, %v", c, err)
			}
		}
	}
	return fixture{st: st, log: l, dir: dir}
}

// export writes an export of the log and verifies it offline with the log's fingerprint.
func (f fixture) export(t *testing.T, since int64) (ExportSummary, OfflineReport, []byte, error) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := f.log.Export(context.Background(), &buf, since)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	rep, verr := VerifyExport(bytes.NewReader(buf.Bytes()), f.log.Key.Public().Fingerprint())
	return sum, rep, buf.Bytes(), verr
}

// tamper rewrites the log the way someone with write access to the database but not the
// audit key would hide a change: change(events) is written back with the seqs renumbered
// and the chain recomputed with ComputeHash (the MACs cannot be recomputed: each row keeps
// the one it had), the append-only triggers bypassed; checkpoints beyond the new end are
// deleted too.
func tamper(t *testing.T, st *store.Store, change func([]store.AuditEvent) []store.AuditEvent) {
	t.Helper()
	var evs []store.AuditEvent
	if err := st.DB().Order("seq").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	evs = change(evs)
	prev := store.GenesisHash
	for i := range evs {
		evs[i].Seq, evs[i].PrevHash = int64(i+1), prev
		evs[i].Hash = evs[i].ComputeHash()
		prev = evs[i].Hash
	}
	err := st.DB().Transaction(func(tx *gorm.DB) error {
		if st.Dialect() == store.DialectPostgres {
			if err := tx.Exec("SET LOCAL session_replication_role = replica").Error; err != nil {
				return err
			}
		} else {
			for _, trg := range []string{"audit_events_no_update", "audit_events_no_delete"} {
				if err := tx.Exec("DROP TRIGGER IF EXISTS " + trg).Error; err != nil {
					return err
				}
			}
		}
		if err := tx.Exec("DELETE FROM audit_events").Error; err != nil {
			return err
		}
		if err := tx.Exec("DELETE FROM audit_checkpoints WHERE seq > ?", len(evs)).Error; err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		return tx.Create(&evs).Error
	})
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

// The four ways to falsify a log (triggers dropped, chain recomputed without the key): a
// modified, a deleted, an inserted event and a cut tail. Each is caught online (Verify),
// the checkpointer refuses to sign over it, and it is caught offline on an export.
var tampers = []struct {
	name   string
	change func([]store.AuditEvent) []store.AuditEvent
	online string
}{
	{"modified", func(evs []store.AuditEvent) []store.AuditEvent {
		evs[2].Outcome = "forged"
		return evs
	}, "seq 3: MAC mismatch"},
	{"modified after the last checkpoint", func(evs []store.AuditEvent) []store.AuditEvent {
		evs[7].Outcome = "forged"
		return evs
	}, "seq 8: MAC mismatch"},
	{"deleted", func(evs []store.AuditEvent) []store.AuditEvent {
		return slices.Delete(evs, 2, 3)
	}, "seq 3: MAC mismatch"},
	{"inserted", func(evs []store.AuditEvent) []store.AuditEvent {
		ins := evs[2]
		ins.Action, ins.MAC = "holder.suspend", ""
		return slices.Insert(evs, 3, ins)
	}, "seq 4: no MAC after keyed events"},
	{"truncated", func(evs []store.AuditEvent) []store.AuditEvent {
		return evs[:4]
	}, "truncated"},
}

func runTampers(t *testing.T, dsn func(testing.TB) string) {
	t.Run("untouched", func(t *testing.T) {
		f := newFixture(t, dsn(t), 8, 6)
		rep, err := f.log.Verify(context.Background())
		if err != nil || rep.Events != 8 || rep.Checkpoints != 1 || rep.Head.Seq != 6 || rep.Uncovered != 2 {
			t.Fatalf("Verify = %+v, %v", rep, err)
		}
		sum, off, file, err := f.export(t, 1)
		if err != nil || !sum.Verified || sum.Events != 8 || off.Events != 8 || off.Last != 8 || off.Checkpoints != 3 {
			t.Fatalf("export %+v, offline %+v, %v", sum, off, err)
		}
		// From a later seq: the first event's prev_hash is taken as given.
		if _, off, _, err := f.export(t, 5); err != nil || off.First != 5 || off.Events != 4 {
			t.Fatalf("export since 5: %+v, %v", off, err)
		}
		// Another key's fingerprint is refused.
		other, _ := NewKey(bytes.Repeat([]byte{1}, 32))
		if _, err := VerifyExport(bytes.NewReader(file), other.Public().Fingerprint()); !errors.Is(err, store.ErrAuditBroken) || !strings.Contains(err.Error(), "not the trusted key") {
			t.Fatalf("VerifyExport with another key: %v", err)
		}
		// An event edited in the export file is caught.
		edited := bytes.Replace(file, []byte(`"target":"DV1"`), []byte(`"target":"DV9"`), 1)
		if _, err := VerifyExport(bytes.NewReader(edited), f.log.Key.Public().Fingerprint()); !errors.Is(err, store.ErrAuditBroken) {
			t.Fatalf("VerifyExport of an edited file: %v", err)
		}
		// Events cut from the start of the export are caught.
		first := bytes.Index(file, []byte(`{"kind":"event"`))
		headless := append(append([]byte(nil), file[:first]...), file[first+bytes.IndexByte(file[first:], '\n')+1:]...)
		if _, err := VerifyExport(bytes.NewReader(headless), f.log.Key.Public().Fingerprint()); !errors.Is(err, store.ErrAuditBroken) || !strings.Contains(err.Error(), "events cut") {
			t.Fatalf("VerifyExport without its first event: %v", err)
		}
		// The export file cut short is caught.
		lines := bytes.SplitAfter(file, []byte("\n"))
		cut := bytes.Join(lines[:len(lines)-3], nil)
		if _, err := VerifyExport(bytes.NewReader(cut), f.log.Key.Public().Fingerprint()); !errors.Is(err, store.ErrAuditBroken) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("VerifyExport of a cut file: %v", err)
		}
	})
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, dsn(t), 8, 6)
			tamper(t, f.st, tc.change)
			ctx := context.Background()
			if _, err := f.log.Verify(ctx); !errors.Is(err, store.ErrAuditBroken) || !strings.Contains(err.Error(), tc.online) {
				t.Fatalf("Verify = %v, want %q", err, tc.online)
			}
			if _, err := f.log.Checkpoint(ctx); !errors.Is(err, store.ErrAuditBroken) {
				t.Fatalf("Checkpoint signed over a tampered log: %v", err)
			}
			sum, off, _, err := f.export(t, 1)
			if sum.Verified || !errors.Is(err, store.ErrAuditBroken) {
				t.Fatalf("export %+v, offline %+v: %v", sum, off, err)
			}
			t.Logf("offline: %v", err)
		})
	}
	t.Run("head file missing", func(t *testing.T) {
		f := newFixture(t, dsn(t), 3, 3)
		if err := os.Remove(f.log.HeadFile); err != nil {
			t.Fatal(err)
		}
		if _, err := f.log.Verify(context.Background()); !errors.Is(err, store.ErrAuditBroken) || !strings.Contains(err.Error(), "head file") {
			t.Fatalf("Verify without head file: %v", err)
		}
	})
}

func TestTamperSQLite(t *testing.T) {
	runTampers(t, func(t testing.TB) string { return filepath.Join(t.TempDir(), "eacgate.db") })
}

func TestTamperPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	runTampers(t, pgtest.DSN)
}

// The key file: created once, reloaded the same; missing or another while the log has
// keyed events, refused.
func TestLoadKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, filepath.Join(t.TempDir(), "eacgate.db"), 2, 0)
	path := filepath.Join(f.dir, "audit.key")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	k, err := LoadKey(ctx, f.st, path, false, nil)
	if err != nil || k.Public().Fingerprint() != f.log.Key.Public().Fingerprint() {
		t.Fatalf("reload: %v", err)
	}
	if _, err := LoadKey(ctx, f.st, filepath.Join(f.dir, "absent.key"), true, nil); err == nil || !strings.Contains(err.Error(), "is missing but the audit log has keyed events") {
		t.Fatalf("missing key file: %v", err)
	}
	other := filepath.Join(f.dir, "other.key")
	if err := os.WriteFile(other, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(ctx, f.st, other, false, nil); err == nil || !strings.Contains(err.Error(), "does not match the audit log") {
		t.Fatalf("other key file: %v", err)
	}
	empty, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if _, err := LoadKey(ctx, empty, filepath.Join(t.TempDir(), "audit.key"), false, nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key file, unkeyed log: %v", err)
	}
}

// Run checkpoints at start and once more when its context ends (shutdown).
func TestRunCheckpointsAtShutdown(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "eacgate.db"), 3, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.log.Run(ctx, time.Hour)
	head, ok, err := ReadHead(f.log.HeadFile)
	if err != nil || !ok || head.Seq != 3 {
		t.Fatalf("head after Run = %+v, %v, %v", head, ok, err)
	}
}
