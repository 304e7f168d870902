package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/internal/openpace"
	"eacgate/internal/pgtest"
	"eacgate/internal/testenv"
	"eacgate/server"
	"eacgate/store"
)

func TestMain(m *testing.M) {
	// The gateways these tests configure take their software keystore's passphrase from the
	// environment, as a configured gateway must (it makes no passphrase file of its own).
	if os.Getenv("EACGATE_KEYSTORE_PASSPHRASE") == "" {
		os.Setenv("EACGATE_KEYSTORE_PASSPHRASE", "eacgate e2e throwaway passphrase")
	}
	os.Exit(pgtest.Main(m))
}

// callbackReceiver is testdata/callback_receiver.py: Python's http.server with zeep parsing
// our callbacks against the DV WSDL.
type callbackReceiver struct {
	url, certFile, record, down string
}

func startReceiver(t *testing.T, down bool) *callbackReceiver {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM, err := server.SelfSignedCertificate("127.0.0.1", []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := &callbackReceiver{certFile: filepath.Join(dir, "cert.pem"), record: filepath.Join(dir, "received.jsonl"), down: filepath.Join(dir, "down")}
	keyFile := filepath.Join(dir, "key.pem")
	os.WriteFile(r.certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	if down {
		os.WriteFile(r.down, nil, 0o600)
	}
	wsdlFile := filepath.Join(testenv.RepoRoot(), "wsdl", "dv-1.1.wsdl")
	cmd := exec.Command(zeepPython(t), filepath.Join(testenv.RepoRoot(), "internal", "e2e", "testdata", "callback_receiver.py"),
		wsdlFile, r.certFile, keyFile, r.record, r.down)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("receiver log:\n%s", stderr.String())
		}
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			port <- strings.TrimSpace(sc.Text())
		}
	}()
	select {
	case p := <-port:
		r.url = "https://127.0.0.1:" + p + "/callback"
	case <-time.After(30 * time.Second):
		t.Fatalf("receiver did not start:\n%s", stderr.String())
	}
	return r
}

type received struct {
	MessageID    string   `json:"messageID"`
	StatusInfo   string   `json:"statusInfo"`
	Certificates []string `json:"certificates"`
}

func (r *callbackReceiver) received(t *testing.T) map[string][]received {
	t.Helper()
	b, err := os.ReadFile(r.record)
	if os.IsNotExist(err) {
		return map[string][]received{}
	}
	if err != nil {
		t.Fatal(err)
	}
	// The receiver appends one line per callback; the file can exist before its first line is
	// written, and a line being written has no newline yet: only complete lines are records.
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	out := map[string][]received{}
	for line := range bytes.Lines(b) {
		var rec received
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("receiver record %q: %v", line, err)
		}
		out[rec.MessageID] = append(out[rec.MessageID], rec)
	}
	return out
}

func asyncCall(messageID, responseURL string, certReq []byte) call {
	return call{Op: "RequestCertificate", Args: map[string]any{
		"callbackIndicator": "callback_possible",
		"messageID":         map[string]any{"messageID": messageID},
		"responseURL":       map[string]any{"string": responseURL},
		"certReq":           b64(certReq),
	}}
}

// asyncGateway is a configured gateway (country UT) whose terminals are answered
// asynchronously and whose DVs need an operator's approval, delivering callbacks to the
// receiver (trusted through callback.ca_file) with short retry intervals.
func asyncGateway(t *testing.T, dsn string, recv *callbackReceiver) *gateway {
	t.Helper()
	g := &gateway{bin: eacgateBinary(t), data: t.TempDir()}
	cfg := filepath.Join(t.TempDir(), "eacgate.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
country: UT
dv_mnemonic: DVASYNC
db: %q
processing:
  terminal: async
  dv_domestic: approval
callback:
  allow_private_addresses: true # the receivers listen on 127.0.0.1
  workers: 2
  poll_interval: 100ms
  backoff_initial: 200ms
  backoff_max: 1s
  max_attempts: 1000
  call_timeout: 5s
  lease: 10s
  ca_file: %q
`, dsn, recv.certFile)), 0o600)
	g.extra = []string{"--config", cfg}
	g.run(t, "init", "cvca", "--chr", "UTCVCA00001")
	g.run(t, "init", "dv", "--chr", "UTDVASYNC00001")
	return g
}

var requestRow = regexp.MustCompile(`(?m)^(\d+)\s`)

// The gateway is killed (SIGKILL) after it acknowledged asynchronous requests and while
// their callbacks cannot be delivered; held requests are approved while it is down. After
// the restart every callback arrives, with exactly the certificate stored for it, and
// nothing was issued twice. (An item the killed process had claimed is taken up again when
// its lease runs out: 10 s here, 30 s by default.)
func TestCallbacksSurviveSIGKILL(t *testing.T) {
	zeepPython(t)
	for _, db := range []string{"SQLite", "PostgreSQL"} {
		t.Run(db, func(t *testing.T) {
			recv := startReceiver(t, true)
			dsn := filepath.Join(t.TempDir(), "eacgate.db")
			if db == "PostgreSQL" {
				dsn = pgtest.DSN(t)
			}
			g := asyncGateway(t, dsn, recv)
			g.start(t, g.extra...)

			const terminals = 4
			for i := range terminals {
				mn := fmt.Sprintf("ISASYNC%d", i)
				c := g.register(t, "UT", mn, "terminal")
				req, _ := newRequest(t, "brainpoolP256r1", "UT"+mn+"00001", "UTDVASYNC00001", "", nil)
				res := g.zeep(t, "/dv", c, asyncCall("t-"+mn, recv.url, req))
				if res[0]["returnCode"] != "ok_syntax" {
					t.Fatalf("terminal %s: %v", mn, res[0])
				}
			}
			dvClient := g.register(t, "UT", "DVB", "dv_domestic")
			dvReq, _ := newRequest(t, "brainpoolP256r1", "UTDVB00001", "UTCVCA00001", "", nil)
			res := g.zeep(t, "/cvca", dvClient, asyncCall("dv-1", recv.url, dvReq), requestCall("dv-2", dvReq))
			if res[0]["returnCode"] != "ok_syntax" || res[1]["returnCode"] != "failure_synchronous_processing_not_possible" {
				t.Fatalf("DV: %v / %v", res[0]["returnCode"], res[1]["returnCode"])
			}
			st, err := store.Open(context.Background(), dsn, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			// Some work has started (certificates issued, deliveries failed) when it is killed.
			testenv.EventuallyReport(t, 30*time.Second, func() bool {
				items, err := st.ListOutbox(context.Background(), "")
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range items {
					if it.Attempts > 0 {
						return true
					}
				}
				return false
			}, func() string { return "no failed delivery before the kill:\n" + g.run(t, "outbox", "list") })
			g.kill(t)

			// While the gateway is down, the operator approves the DV's request.
			list := g.run(t, "request", "list")
			ids := requestRow.FindAllStringSubmatch(list, -1)
			if len(ids) != 1 || !strings.Contains(list, "UTDVB00001") {
				t.Fatalf("pending requests:\n%s", list)
			}
			g.run(t, "request", "approve", ids[0][1])
			if got := recv.received(t); len(got) != 0 {
				t.Fatalf("delivered while the receiver was down: %v", got)
			}

			os.Remove(recv.down)
			g.start(t, g.extra...)
			want := terminals + 1
			testenv.EventuallyReport(t, 60*time.Second, func() bool { return len(recv.received(t)) >= want }, func() string {
				return fmt.Sprintf("callbacks received: %d of %d\n%s", len(recv.received(t)), want, g.run(t, "outbox", "list"))
			})

			got := recv.received(t)
			check := func(messageID, chr string) {
				t.Helper()
				recs := got[messageID]
				if len(recs) == 0 || recs[0].StatusInfo != "ok_cert_available" || len(recs[0].Certificates) != 1 {
					t.Fatalf("%s: received %+v", messageID, recs)
				}
				stored, err := st.CertificatesByCHR(context.Background(), chr)
				if err != nil || len(stored) != 1 {
					t.Fatalf("%s: %d certificates stored (%v)", chr, len(stored), err)
				}
				for _, rec := range recs { // at-least-once: any repeat carries the same bytes
					raw, _ := base64.StdEncoding.DecodeString(rec.Certificates[0])
					if !bytes.Equal(raw, stored[0].Raw) {
						t.Fatalf("%s: delivered certificate differs from the stored one", messageID)
					}
				}
			}
			for i := range terminals {
				mn := fmt.Sprintf("ISASYNC%d", i)
				check("t-"+mn, "UT"+mn+"00001")
			}
			check("dv-1", "UTDVB00001")

			// The delivered terminal certificate verifies with openpace under the chain.
			var chain []*cvc.Certificate
			for _, chr := range []string{"UTCVCA00001", "UTDVASYNC00001"} {
				rows, _ := st.CertificatesByCHR(context.Background(), chr)
				c, _ := cvc.ParseCertificate(rows[0].Raw)
				chain = append(chain, c)
			}
			raw, _ := base64.StdEncoding.DecodeString(got["t-ISASYNC0"][0].Certificates[0])
			leaf, err := cvc.ParseCertificate(raw)
			if err != nil {
				t.Fatal(err)
			}
			openpace.Verifies(t, chain, leaf)
			// Nothing left in the queue.
			var stats store.OutboxStats
			testenv.EventuallyReport(t, 20*time.Second, func() bool {
				stats, err = st.OutboxStatistics(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				return stats.Pending == 0 && stats.Held == 0 && stats.Dead == 0
			}, func() string { return fmt.Sprintf("outbox not drained: %+v", stats) })
		})
	}
}

// Two gateway instances on one PostgreSQL database share the outbox: requests accepted by
// either are delivered exactly once between them.
func TestTwoInstancesDeliverOnce(t *testing.T) {
	zeepPython(t)
	recv := startReceiver(t, false)
	dsn := pgtest.DSN(t)
	g := asyncGateway(t, dsn, recv)
	g.start(t, g.extra...)
	g2 := &gateway{bin: g.bin, data: g.data, extra: g.extra}
	g2.start(t, g.extra...)
	const n = 8
	for i := range n {
		inst := g
		if i%2 == 1 {
			inst = g2
		}
		mn := fmt.Sprintf("ISTWO%d", i)
		c := g.register(t, "UT", mn, "terminal")
		req, _ := newRequest(t, "brainpoolP256r1", "UT"+mn+"00001", "UTDVASYNC00001", "", nil)
		if res := inst.zeep(t, "/dv", c, asyncCall("two-"+mn, recv.url, req)); res[0]["returnCode"] != "ok_syntax" {
			t.Fatalf("%s: %v", mn, res[0])
		}
	}
	testenv.EventuallyReport(t, 60*time.Second, func() bool { return len(recv.received(t)) >= n }, func() string {
		return fmt.Sprintf("received %d of %d", len(recv.received(t)), n)
	})
	// Both instances stop (SIGTERM: deliveries in flight finish first): a duplicate would
	// have arrived by the time they have exited.
	for _, inst := range []*gateway{g, g2} {
		if err := inst.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-inst.exited
	}
	for id, recs := range recv.received(t) {
		if len(recs) != 1 || recs[0].StatusInfo != "ok_cert_available" {
			t.Fatalf("%s delivered %d times: %+v", id, len(recs), recs)
		}
	}
}
