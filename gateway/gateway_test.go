package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/dvclient"
	"eacgate/ecc"
	"eacgate/generated/dv11"
	"eacgate/internal/testenv"
	"eacgate/server"
	"eacgate/store"
)

// The embedded default end to end over mutual TLS: a registered terminal gets its first
// certificate from the DV endpoint, the answer chains to the demo CVCA, a repeated messageID
// gets the same certificate, and everything survives a restart.
func TestEmbeddedGatewayIssuesTerminalCertificates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var logs testenv.Buffer
	g, err := Open(ctx, Options{DataDir: dir, Demo: true, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := server.SelfSignedCertificate("UTISGATE01", []string{"terminal.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	sum := sha256.Sum256(blk.Bytes)
	if err := g.Store.CreateHolder(ctx, &store.Holder{Country: "UT", Mnemonic: "ISGATE01", Role: store.RoleTerminal,
		Status: store.HolderActive, TLSFingerprint: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(g.Handler)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	clientCert, _ := tls.X509KeyPair(certPEM, keyPEM)
	client := srv.Client()
	client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{clientCert}

	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: g.DV.Certificate().CHR, CHR: "UTISGATE0100001"}, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	call := func(messageID string) *dv11.RequestCertificateResult {
		body := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><n1:RequestCertificate xmlns:n1="` + dv11.Namespace + `">` +
			`<callbackIndicator>callback_not_possible</callbackIndicator><messageID><b:messageID xmlns:b="uri:eacBT/1.1">` + messageID + `</b:messageID></messageID>` +
			`<responseURL/><certReq>` + base64.StdEncoding.EncodeToString(req.Raw) + `</certReq></n1:RequestCertificate></s:Body></s:Envelope>`
		resp, err := client.Post(srv.URL+"/dv", "text/xml", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		env, err := server.ParseEnvelope(b)
		if err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		var out dv11.RequestCertificateResponse
		if err := env.DecodeOperation(&out); err != nil {
			t.Fatal(err)
		}
		return out.Result
	}
	res := call("t-1")
	if *res.ReturnCode != "ok_cert_available" {
		t.Fatalf("return code %s", *res.ReturnCode)
	}
	cert, err := cvc.ParseCertificate(res.CertificateSeq.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cvc.Verify(cert, cvc.VerifyOptions{Anchors: g.CVCA.Path[:1], Intermediates: []*cvc.Certificate{g.DV.Certificate()}}); err != nil {
		t.Fatal(err)
	}
	// One access log line per request, with its outcome (written after the response).
	want := []string{`"msg":"request"`, `"path":"/dv"`, `"op":"RequestCertificate"`, `"code":"ok_cert_available"`,
		`"holder":"UTISGATE01"`, `"chr":"UTISGATE0100001"`, `"request_id":"`}
	testenv.Eventually(t, 5*time.Second, "the access log line", func() bool { return containsAll(logs.String(), want) })
	if !containsAll(logs.String(), want) || strings.Contains(logs.String(), "certificate issued") {
		t.Fatalf("access log:\n%s", logs.String())
	}
	again := call("t-1")
	if !bytes.Equal(again.CertificateSeq.Certificate[0], cert.Raw) {
		t.Fatal("a repeated messageID got another certificate")
	}
	if n, err := g.Store.CertificatesByCHR(ctx, "UTISGATE0100001"); err != nil || len(n) != 1 {
		t.Fatalf("issued %d times: %v", len(n), err)
	}
	cvcaCHR, dvCHR := g.CVCA.Certificate().CHR, g.DV.Certificate().CHR
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	g2, err := Open(ctx, Options{DataDir: dir, Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	if g2.CVCA.Certificate().CHR != cvcaCHR || g2.DV.Certificate().CHR != dvCHR {
		t.Fatal("the demo PKI was created again after a restart")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	g, err := Open(context.Background(), Options{DataDir: t.TempDir(), Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	srv := httptest.NewServer(g.Handler)
	defer srv.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Request-ID") == "" {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	g.Store.Close()
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database closed: %d", resp.StatusCode)
	}
}

// /metrics carries the outbox depth and age, CA key signing times, the certificates
// expiring soon and the expiry of the certificates the gateway issues under, computed when
// scraped.
func TestMetricsGauges(t *testing.T) {
	g := openDemo(t, t.TempDir())
	// A sign through the wrapped CVCA key.
	if _, err := g.dv.Renew(context.Background(), dvclient.Options{RenewBefore: 1000 * 24 * time.Hour, MinInterval: time.Nanosecond}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := g.Store.EnqueueOutbox(context.Background(), &store.OutboxItem{TargetURL: "https://dv.example/cb", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	// A synchronous request through the group committer.
	if err := g.Store.AcceptAnswered(context.Background(), &store.Message{Originator: "holder:1", MessageID: "m-1", Operation: "RequestCertificate"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`eacgate_outbox_items{state="pending"} 1`,
		`eacgate_outbox_items{state="dead"} 0`,
		`eacgate_outbox_oldest_pending_age_seconds `,
		`eacgate_hsm_sign_duration_seconds_count{key="cvca"} 2`, // the demo DV and its renewal
		`eacgate_certificates_expiring{role="dv_domestic",within_days="30"} 0`,
		`eacgate_certificates_expiring{role="cvca",within_days="7"} 0`,
		"# TYPE eacgate_store_group_commits_total counter\neacgate_store_group_commits_total 1\n",
		"eacgate_store_group_committed_requests_total 1\n",
		`eacgate_issuer_certificate_expiry_seconds{chr="UTCVCA00001",issuer="cvca"} `, // labels sorted by name
		`eacgate_issuer_certificate_expiry_seconds{chr="` + g.CurrentDV().Certificate().CHR + `",issuer="dv"} `,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, b)
		}
	}
	// The demo CVCA certificate is valid for three years.
	m := regexp.MustCompile(`eacgate_issuer_certificate_expiry_seconds\{chr="UTCVCA00001",issuer="cvca"\} (\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no CVCA expiry")
	}
	if v, err := strconv.ParseFloat(string(m[1]), 64); err != nil || v < 2*365*86400 || v > 3*366*86400 {
		t.Errorf("CVCA expires in %s s", m[1])
	}
}

func TestResponseURLPolicy(t *testing.T) {
	var o Options
	o.Callback.AllowedURLPrefixes = []string{"https://dv.example:8443/"}
	check := o.Callback.CheckResponseURL()
	for u, ok := range map[string]bool{
		"https://dv.example:8443/cb":      true,
		"https://dv.example:8443.evil/cb": false,
		"https://intranet.local/admin":    false,
		"http://dv.example:8443/cb":       false,
	} {
		if err := check(u); (err == nil) != ok {
			t.Errorf("%s: %v", u, err)
		}
	}
	o.Callback.AllowedURLPrefixes = nil
	o.Callback.AllowHTTP = true
	if err := o.Callback.CheckResponseURL()("http://test.local/cb"); err != nil {
		t.Fatal(err)
	}
}

// Two instances on one database that find the DV certificate due at the same moment renew it
// once: the DV client's lease lets one renew, and the other sees the result.
func TestConcurrentDVRenewalOnce(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var gs []*Gateway
	for range 2 {
		g, err := Open(ctx, Options{DataDir: dir, Demo: true})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		gs = append(gs, g)
	}
	before := gs[0].CurrentDV().Certificate().CHR
	o := dvclient.Options{RenewBefore: 1000 * 24 * time.Hour, MinInterval: time.Nanosecond}
	for round := range 3 {
		var wg sync.WaitGroup
		for _, g := range gs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := g.dv.Renew(ctx, o, time.Now()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		for _, g := range gs {
			if err := g.dv.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
		}
		holder, err := gs[0].Store.HolderByName(ctx, gs[0].Options.Country, gs[0].Options.DVMnemonic)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := gs[0].Store.ListCertificatesOfHolder(ctx, holder.ID)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range rows {
			if seen[r.CHR] {
				t.Fatalf("round %d: two DV certificates %s", round, r.CHR)
			}
			seen[r.CHR] = true
		}
		if len(rows) > round+2 {
			t.Fatalf("round %d: %d DV certificates, want at most %d", round, len(rows), round+2)
		}
		if a, b := gs[0].CurrentDV().Certificate().CHR, gs[1].CurrentDV().Certificate().CHR; a != b || a == before {
			t.Fatalf("round %d: instances use %s and %s (before %s)", round, a, b, before)
		}
		before = gs[0].CurrentDV().Certificate().CHR
	}
}

// containsAll reports whether one line of s holds every part.
func containsAll(s string, parts []string) bool {
	for _, line := range strings.Split(s, "\n") {
		ok := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
