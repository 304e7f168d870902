package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"eacgate/internal/pgtest"
	"eacgate/internal/testenv"
	"eacgate/store"
)

// The DV of the load generator's gateways, which signs the terminal certificates.
const loadDV = "UTDVLOAD00001"

// loadGenerator builds cmd/eacgate-load once per test run.
func loadGenerator(t *testing.T) string { return testenv.GoBinary(t, "./cmd/eacgate-load") }

// forEachDatabase runs fn with a fresh SQLite file and a fresh PostgreSQL database.
func forEachDatabase(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("SQLite", func(t *testing.T) { fn(t, filepath.Join(t.TempDir(), "eacgate.db")) })
	t.Run("PostgreSQL", func(t *testing.T) { fn(t, pgtest.DSN(t)) })
}

// checkIssuanceAudit checks the database after a load run: every certificate the DV
// signed has exactly one ca.issue event naming its SHA-256, every ca.issue event (the DV's,
// and the CVCA's of the DV's own certificate) names a stored certificate, and the chain
// verifies. It returns the number of certificates.
func checkIssuanceAudit(t *testing.T, dsn string) int {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.VerifyAudit(ctx); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	certs, err := st.CertificatesByCAR(ctx, loadDV)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{} // SHA-256 -> CHR
	for _, c := range certs {
		stored[store.CertificateSHA256(c.Raw)] = c.CHR
	}
	evs, err := st.ListAudit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]int{}
	for _, e := range evs {
		if e.Action != store.ActionIssue {
			continue
		}
		var d store.IssueDetails
		if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
			t.Fatalf("event %d: %v", e.Seq, err)
		}
		if d.CAR != loadDV { // our CVCA's signature of the DV's own certificate (init dv)
			if !certificateStored(ctx, t, st, d.CHR, d.SHA256) {
				t.Errorf("event %d (%s by %s): no such certificate stored", e.Seq, d.CHR, d.CAR)
			}
			continue
		}
		events[d.SHA256]++
		if chr, ok := stored[d.SHA256]; !ok || chr != d.CHR || d.CAR != loadDV || e.Actor != "ca:"+loadDV {
			t.Errorf("event %d (%s, %s): no such certificate stored", e.Seq, d.CHR, d.SHA256)
		}
	}
	for sum, chr := range stored {
		if events[sum] != 1 {
			t.Errorf("certificate %s: %d ca.issue events", chr, events[sum])
		}
	}
	if len(events) != len(stored) {
		t.Errorf("%d certificates, ca.issue events for %d", len(stored), len(events))
	}
	return len(stored)
}

// certificateStored reports whether a certificate chr with this SHA-256 is stored.
func certificateStored(ctx context.Context, t *testing.T, st *store.Store, chr, sum string) bool {
	t.Helper()
	cs, err := st.CertificatesByCHR(ctx, chr)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if store.CertificateSHA256(c.Raw) == sum {
			return true
		}
	}
	return false
}

// A load run of N renewals through the real binary (16 in flight) leaves exactly one
// ca.issue event per certificate: N renewals and the terminals' initial certificates.
func TestIssuanceAuditedUnderLoad(t *testing.T) {
	const renewals, terminals = 300, 16
	forEachDatabase(t, func(t *testing.T, dsn string) {
		cmd := exec.Command(loadGenerator(t), "--spawn", "--eacgate", eacgateBinary(t), "--db", dsn, "--curve", "P-256",
			"--keystore", "soft", "--concurrency", "16", "--terminals", fmt.Sprint(terminals), "--requests", fmt.Sprint(renewals),
			"--duration", "5m", "--bound-time", "0", "--json")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("eacgate-load: %v\n%s\n%s", err, stdout.String(), stderr.String())
		}
		var res struct{ OK int }
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.OK != renewals {
			t.Fatalf("eacgate-load: %d renewals ok (%v)\n%s", res.OK, err, stdout.String())
		}
		if n := checkIssuanceAudit(t, dsn); n != renewals+terminals {
			t.Errorf("%d certificates, want %d renewals and %d initial ones", n, renewals, terminals)
		}
	})
}

// The gateway is killed (SIGKILL) while renewals are being issued: afterwards no
// certificate lacks its ca.issue event, no event lacks its certificate, and the chain
// verifies.
func TestIssuanceAuditSurvivesSIGKILL(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, dsn string) {
		g := &gateway{bin: eacgateBinary(t), data: t.TempDir()}
		cfg := filepath.Join(t.TempDir(), "eacgate.yaml")
		if err := os.WriteFile(cfg, fmt.Appendf(nil, "country: UT\ndv_mnemonic: DVLOAD\ndb: %q\n", dsn), 0o600); err != nil {
			t.Fatal(err)
		}
		g.extra = []string{"--config", cfg}
		g.run(t, "init", "cvca", "--chr", "UTCVCA00001", "--alg", "ECDSA_SHA_256", "--curve", "P-256")
		g.run(t, "init", "dv", "--chr", loadDV)
		g.start(t, g.extra...)

		load := exec.Command(loadGenerator(t), "--url", g.base, "--db", dsn, "--server-ca", filepath.Join(g.data, "tls.crt"),
			"--concurrency", "16", "--duration", "2m", "--bound-time", "0", "--json")
		var out bytes.Buffer
		load.Stdout, load.Stderr = &out, &out
		if err := load.Start(); err != nil {
			t.Fatal(err)
		}
		loadDone := make(chan struct{})
		go func() { _ = load.Wait(); close(loadDone) }()
		stopLoad := sync.OnceFunc(func() { _ = load.Process.Kill(); <-loadDone })
		t.Cleanup(stopLoad)

		st, err := store.Open(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Renewals are being issued (more certificates than the 16 initial ones) when it
		// is killed.
		testenv.EventuallyReport(t, 2*time.Minute, func() bool {
			certs, err := st.CertificatesByCAR(context.Background(), loadDV)
			if err != nil {
				t.Fatal(err)
			}
			return len(certs) > 100
		}, func() string { return "renewals did not start:\n" + out.String() })
		_ = st.Close()
		g.kill(t)
		stopLoad()
		if n := checkIssuanceAudit(t, dsn); n <= 100 {
			t.Errorf("%d certificates", n)
		}
	})
}
