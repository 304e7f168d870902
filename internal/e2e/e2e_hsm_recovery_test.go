package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/hsm/softhsmtest"
	"eacgate/internal/testenv"
	"eacgate/store"
)

// outageMaxAttempts is callback.max_attempts of the gateway in
// TestHSMTokenLossAndRecovery: low, so that processing errors during the outage would
// dead-letter the items if they counted as delivery attempts.
const outageMaxAttempts = 2

// The token of a gateway with its CA keys in SoftHSM2 disappears (its directory renamed
// away) while the gateway serves synchronous terminal renewals and acknowledges
// asynchronous requests, whose processing then fails, and comes back. Without a restart, synchronous
// requests succeed again and every request acknowledged during the outage is delivered
// with its certificate; nothing is dead-lettered.
func TestHSMTokenLossAndRecovery(t *testing.T) {
	zeepPython(t)
	tok := softhsmtest.NewToken(t, "eacgate-rec")
	t.Setenv("EACGATE_TEST_PIN", tok.PIN)
	recv := startReceiver(t, false)
	dsn := filepath.Join(t.TempDir(), "eacgate.db")
	g := &gateway{bin: eacgateBinary(t), data: t.TempDir()}
	cfg := filepath.Join(t.TempDir(), "eacgate.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
country: UT
dv_mnemonic: DVREC
db: %q
keystore:
  backend: pkcs11
  pkcs11:
    module: %s
    token: eacgate-rec
    pin:
      env: EACGATE_TEST_PIN
processing:
  terminal: async
callback:
  workers: 2
  poll_interval: 100ms
  backoff_initial: 200ms
  backoff_max: 1s
  processing_backoff_max: 2s
  max_attempts: %d
  call_timeout: 5s
  lease: 10s
  ca_file: %q
  allow_private_addresses: true
`, dsn, tok.Module, outageMaxAttempts, recv.certFile)), 0o600)
	g.extra = []string{"--config", cfg}
	g.run(t, "init", "cvca", "--chr", "UTCVCA00001")
	g.run(t, "init", "dv", "--chr", "UTDVREC00001")
	g.start(t, g.extra...)

	const dvCHR = "UTDVREC00001"
	term := g.register(t, "UT", "ISREC01", "terminal")
	req, key := newRequest(t, "brainpoolP256r1", "UTISREC0100001", dvCHR, "", nil)
	if res := g.zeep(t, "/dv", term, requestCall("r-1", req)); res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("initial request: %v", res[0])
	}
	seq, current := 1, "UTISREC0100001"
	// renew asks synchronously for the terminal's next certificate, authenticated with
	// its current one, and returns the return code.
	renew := func(messageID string) any {
		t.Helper()
		seq++
		chr := fmt.Sprintf("UTISREC01%05d", seq)
		r, k := newRequest(t, "brainpoolP256r1", chr, dvCHR, current, key)
		rc := g.zeep(t, "/dv", term, requestCall(messageID, r))[0]["returnCode"]
		if rc == "ok_cert_available" {
			current, key = chr, k
		}
		return rc
	}
	if rc := renew("r-2"); rc != "ok_cert_available" {
		t.Fatalf("renewal before the outage: %v", rc)
	}

	// The token goes away.
	away := tok.Dir + ".away"
	if err := os.Rename(tok.Dir, away); err != nil {
		t.Fatal(err)
	}
	restored := false
	t.Cleanup(func() {
		if !restored {
			os.Rename(away, tok.Dir)
		}
	})
	if rc := renew("r-3"); rc == "ok_cert_available" {
		t.Fatalf("a renewal was signed while the token was away")
	}
	const async = 3
	for i := range async {
		mn := fmt.Sprintf("ISRECA%d", i)
		c := g.register(t, "UT", mn, "terminal")
		r, _ := newRequest(t, "brainpoolP256r1", "UT"+mn+"00001", dvCHR, "", nil)
		if res := g.zeep(t, "/dv", c, asyncCall("a-"+mn, recv.url, r)); res[0]["returnCode"] != "ok_syntax" {
			t.Fatalf("asynchronous request %s during the outage: %v", mn, res[0])
		}
	}
	// The outage lasts until the workers have tried, and failed, to process every
	// acknowledged item.
	st, err := store.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	testenv.EventuallyReport(t, 30*time.Second, func() bool {
		items, err := st.ListOutbox(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		tried := 0
		for _, it := range items {
			if strings.Contains(it.LastError, "eacgate-rec") { // the token's name in the keystore error
				tried++
			}
		}
		return len(items) == async && tried == async
	}, func() string {
		return fmt.Sprintf("the workers did not try the acknowledged items during the outage:\n%s", g.run(t, "outbox", "list"))
	})
	if got := recv.received(t); len(got) != 0 {
		t.Fatalf("delivered while the token was away: %v", got)
	}

	// The token comes back; the gateway is not restarted.
	if err := os.Rename(away, tok.Dir); err != nil {
		t.Fatal(err)
	}
	restored = true

	// Every request acknowledged during the outage is delivered with its certificate.
	testenv.EventuallyReport(t, 60*time.Second, func() bool { return len(recv.received(t)) >= async }, func() string {
		return fmt.Sprintf("callbacks received after the token came back: %d of %d\n%s",
			len(recv.received(t)), async, g.run(t, "outbox", "list"))
	})
	for id, recs := range recv.received(t) {
		if recs[0].StatusInfo != "ok_cert_available" || len(recs[0].Certificates) != 1 {
			t.Errorf("%s: received %+v", id, recs[0])
		}
	}
	// The workers have reconnected: a synchronous renewal succeeds at once.
	if rc := renew("r-4"); rc != "ok_cert_available" {
		t.Fatalf("renewal after the token came back: %v", rc)
	}

	stats, err := st.OutboxStatistics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Dead != 0 {
		t.Fatalf("dead-lettered: %+v\n%s", stats, g.run(t, "outbox", "list", "--state", "dead"))
	}
}
