package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The gateway keys the audit log from its first start, the CLI's writes are keyed too,
// and a graceful stop signs a checkpoint of the last event: after it the whole log is
// covered, and an export verifies offline against the key printed by "audit key".
func TestAuditCheckpointAtShutdownAndExport(t *testing.T) {
	g := startGateway(t)
	g.register(t, "UT", "AUDIT01", "terminal") // eacgate holder add: an audit event
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("eacgate did not stop on SIGTERM")
	}
	out := g.run(t, "audit", "verify")
	if m := regexp.MustCompile(`audit chain OK: (\d+) events \((\d+) keyed, 0 from before the key\), \d+ signed checkpoints, head at seq (\d+), 0 events not yet checkpointed`).FindStringSubmatch(out); m == nil || m[1] != m[2] || m[1] != m[3] {
		t.Fatalf("audit verify after a graceful stop: %s", out)
	}
	key := g.run(t, "audit", "key")
	i := strings.Index(key, "fingerprint (SHA-256): ")
	if i < 0 {
		t.Fatalf("audit key: %s", key)
	}
	fp := strings.TrimSpace(key[i+len("fingerprint (SHA-256): "):])
	export := filepath.Join(t.TempDir(), "audit.jsonl")
	g.run(t, "audit", "export", "--out", export)
	res, err := exec.Command(g.bin, "audit", "verify", "--file", export, "--fingerprint", fp).CombinedOutput()
	if err != nil || !strings.Contains(string(res), "audit export OK: ") {
		t.Fatalf("audit verify --file: %v\n%s", err, res)
	}
}
