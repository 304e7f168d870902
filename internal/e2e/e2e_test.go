// Package e2e starts the real eacgate binary and talks to it with tools nobody here wrote:
// python3-zeep clients built from the served ?wsdl over mutual TLS, and openpace's cvc-print
// to check what was issued.
package e2e

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/openpace"
	"eacgate/internal/testenv"
	"eacgate/server"
)

// eacgateBinary builds cmd/eacgate once per test run.
func eacgateBinary(t *testing.T) string { return testenv.GoBinary(t, "./cmd/eacgate") }

func zeepPython(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("EACGATE_PYTHON"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import zeep, requests").Run() == nil {
			return p
		}
	}
	testenv.Missing(t, "python3 with zeep (Debian python3-zeep)")
	return ""
}

type gateway struct {
	bin, data, base string
	extra           []string // arguments every command gets (--config FILE)
	cmd             *exec.Cmd
	exited          chan struct{}
	stdout          *testenv.Buffer // what serve printed
}

var endpointLine = regexp.MustCompile(`(https://127\.0\.0\.1:\d+)/(dv|spoc|cvca) `)

// startGateway runs `eacgate serve` on a free port: the embedded defaults, or with extra
// arguments such as --config.
func startGateway(t *testing.T, args ...string) *gateway {
	t.Helper()
	g := &gateway{bin: eacgateBinary(t), data: t.TempDir()}
	return g.start(t, args...)
}

func (g *gateway) start(t *testing.T, args ...string) *gateway {
	t.Helper()
	cmd := exec.Command(g.bin, append([]string{"serve", "--data", g.data, "--listen", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.cmd, g.exited = cmd, make(chan struct{})
	exited := g.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("eacgate did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("eacgate log:\n%s", stderr.String())
		}
	})
	found := make(chan string, 1)
	g.stdout = &testenv.Buffer{}
	out := g.stdout
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(out, sc.Text())
			if m := endpointLine.FindStringSubmatch(sc.Text()); m != nil {
				select { // the first endpoint's base; keep reading whatever follows
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case g.base = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("eacgate did not print its endpoints:\n%s", stderr.String())
	}
	return g
}

// kill stops the gateway with SIGKILL: no shutdown code runs.
func (g *gateway) kill(t *testing.T) {
	t.Helper()
	if err := g.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-g.exited
}

// run runs an eacgate command with the gateway's data directory and extra arguments.
func (g *gateway) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(g.bin, append(append(args, "--data", g.data), g.extra...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("eacgate %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// client is a registered holder's TLS identity.
type client struct{ cert, key string }

func (g *gateway) register(t *testing.T, country, mnemonic, role string) client {
	t.Helper()
	certPEM, keyPEM, err := server.SelfSignedCertificate(country+mnemonic, []string{"peer.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := client{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	os.WriteFile(c.cert, certPEM, 0o600)
	os.WriteFile(c.key, keyPEM, 0o600)
	if role == "" {
		return c // not registered
	}
	out, err := exec.Command(g.bin, append([]string{"holder", "add", "--data", g.data, "--country", country, "--mnemonic", mnemonic,
		"--role", role, "--tls-cert", c.cert}, g.extra...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("holder add: %v\n%s", err, out)
	}
	return c
}

type call struct {
	Op   string         `json:"op"`
	Args map[string]any `json:"args"`
}

// zeep calls the endpoint (path "/dv" or "/cvca") with a zeep client built from its ?wsdl.
func (g *gateway) zeep(t *testing.T, path string, c client, calls ...call) []map[string]any {
	t.Helper()
	job, _ := json.Marshal(map[string]any{
		"wsdl": g.base + path + "?wsdl", "ca": filepath.Join(g.data, "tls.crt"), "cert": c.cert, "key": c.key, "calls": calls,
	})
	cmd := exec.Command(zeepPython(t), filepath.Join(testenv.RepoRoot(), "internal", "e2e", "testdata", "zeep_call.py"))
	cmd.Stdin = bytes.NewReader(job)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zeep: %v\n%s", err, stderr.String())
	}
	var raw []any
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("zeep output %s: %v", out, err)
	}
	res := make([]map[string]any, len(raw))
	for i, r := range raw {
		switch v := r.(type) {
		case map[string]any:
			res[i] = v
		default: // an operation whose response is one simple value
			res[i] = map[string]any{"value": v}
		}
	}
	return res
}

func b64(b []byte) map[string]any {
	return map[string]any{"$b64": base64.StdEncoding.EncodeToString(b)}
}

func requestCall(messageID string, certReq []byte) call {
	return call{Op: "RequestCertificate", Args: map[string]any{
		"callbackIndicator": "callback_not_possible",
		"messageID":         map[string]any{"messageID": messageID},
		"responseURL":       map[string]any{},
		"certReq":           b64(certReq),
	}}
}

func caCall() call {
	return call{Op: "GetCACertificates", Args: map[string]any{
		"callbackIndicator": "callback_not_possible", "messageID": map[string]any{}, "responseURL": map[string]any{},
	}}
}

// certificates returns the certificateSeq of a decoded result.
func certificates(t *testing.T, res map[string]any) [][]byte {
	t.Helper()
	seq, _ := res["certificateSeq"].(map[string]any)
	list, _ := seq["certificate"].([]any)
	var out [][]byte
	for _, c := range list {
		b, err := base64.StdEncoding.DecodeString(c.(map[string]any)["$b64"].(string))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// parseChain parses certificates (a certificateSeq).
func parseChain(t *testing.T, raws [][]byte) []*cvc.Certificate {
	t.Helper()
	var chain []*cvc.Certificate
	for _, raw := range raws {
		c, err := cvc.ParseCertificate(raw)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	return chain
}

func newRequest(t *testing.T, curve, chr, car string, outerCAR string, outer crypto.Signer) ([]byte, *ecc.PrivateKey) {
	t.Helper()
	k, err := ecc.GenerateKey(ecc.CurveByName(curve), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, k.Public(), true)
	r, err := cvc.NewRequest(cvc.RequestTemplate{CAR: car, CHR: chr}, pub, k)
	if err != nil {
		t.Fatal(err)
	}
	if outer != nil {
		if r, err = r.Authenticate(outerCAR, outer, cvc.ECDSA_SHA256); err != nil {
			t.Fatal(err)
		}
	}
	return r.Raw, k
}

func TestTerminalAndDVOverZeep(t *testing.T) {
	g := startGateway(t)
	term := g.register(t, "UT", "ISGATE01", "terminal")

	res := g.zeep(t, "/dv", term, caCall())
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("GetCACertificates: %v", res[0])
	}
	chain := parseChain(t, certificates(t, res[0]))
	if len(chain) != 2 || chain[0].Role() != cvc.RoleCVCA || chain[1].Role() != cvc.RoleDVDomestic {
		t.Fatalf("CA chain of %d", len(chain))
	}
	cvca, dv := chain[0], chain[1]

	// Initial terminal request, then a renewal authenticated with the first certificate, then
	// the renewal's messageID again.
	req1, key1 := newRequest(t, "brainpoolP256r1", "UTISGATE0100001", dv.CHR, "", nil)
	req2, _ := newRequest(t, "brainpoolP256r1", "UTISGATE0100002", dv.CHR, "UTISGATE0100001", key1)
	res = g.zeep(t, "/dv", term, requestCall("t-1", req1))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("initial: %v", res[0])
	}
	first, err := cvc.ParseCertificate(certificates(t, res[0])[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cvc.Verify(first, cvc.VerifyOptions{Anchors: []*cvc.Certificate{cvca}, Intermediates: []*cvc.Certificate{dv}}); err != nil {
		t.Fatal(err)
	}
	openpace.Verifies(t, chain, first)
	res = g.zeep(t, "/dv", term, requestCall("t-2", req2), requestCall("t-2", req2))
	if res[0]["returnCode"] != "ok_cert_available" || !bytes.Equal(certificates(t, res[0])[0], certificates(t, res[1])[0]) {
		t.Fatalf("renewal and its repeat: %v / %v", res[0]["returnCode"], res[1]["returnCode"])
	}
	renewed, _ := cvc.ParseCertificate(certificates(t, res[0])[0])
	openpace.Verifies(t, chain, renewed)

	// Refusals, each with its return code.
	stranger, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	badOuter, _ := newRequest(t, "brainpoolP256r1", "UTISGATE0100003", dv.CHR, "UTISGATE0100002", stranger)
	wrongCurve, _ := newRequest(t, "P-256", "UTISGATE0100003", dv.CHR, "", nil)
	innerBad := bytes.Clone(req1)
	innerBad[len(innerBad)-5] ^= 1
	cases := []struct {
		req  []byte
		want string
	}{
		{badOuter, "failure_outer_signature"},
		{wrongCurve, "failure_domain_parameters"},
		{innerBad, "failure_inner_signature"},
		{[]byte("not a request"), "failure_syntax"},
	}
	var calls []call
	for i, c := range cases {
		calls = append(calls, requestCall("bad-"+string(rune('a'+i)), c.req))
	}
	res = g.zeep(t, "/dv", term, calls...)
	for i, c := range cases {
		if res[i]["returnCode"] != c.want {
			t.Errorf("case %d: %v, want %s", i, res[i]["returnCode"], c.want)
		}
	}
	stray := g.register(t, "UT", "ISSTRAY", "")
	if res := g.zeep(t, "/dv", stray, requestCall("s-1", req1)); res[0]["returnCode"] != "failure_request_not_accepted" {
		t.Fatalf("unregistered client: %v", res[0])
	}

	// A renewal signed with an expired certificate: failure_expired.
	old := g.register(t, "UT", "ISOLD01", "terminal")
	oldReq, err := g.expiredCertificate(t, "ISOLD01", chain)
	if err != nil {
		t.Fatal(err)
	}
	if res := g.zeep(t, "/dv", old, requestCall("o-1", oldReq)); res[0]["returnCode"] != "failure_expired" {
		t.Fatalf("renewal with an expired certificate: %v", res[0])
	}

	// Suspension takes effect at once; reinstating restores.
	g.holder(t, "suspend", "ISGATE01")
	req3, _ := newRequest(t, "brainpoolP256r1", "UTISGATE0100003", dv.CHR, "UTISGATE0100002", key1)
	if res := g.zeep(t, "/dv", term, requestCall("t-3", req3)); res[0]["returnCode"] != "failure_request_not_accepted" {
		t.Fatalf("suspended terminal: %v", res[0])
	}
	g.holder(t, "reinstate", "ISGATE01")

	// The document signer list: none yet, then the file the operator puts in place.
	dsCall := call{Op: "GetDocumentSignerList", Args: map[string]any{
		"callbackIndicator": "callback_not_possible", "messageID": map[string]any{}, "responseURL": map[string]any{}}}
	if res := g.zeep(t, "/dv", term, dsCall); res[0]["returnCode"] != "failure_list_not_available" {
		t.Fatalf("no list: %v", res[0])
	}
	list := degenerateSignedData(t)
	os.WriteFile(filepath.Join(g.data, "document-signer-list.p7s"), list, 0o644)
	res = g.zeep(t, "/dv", term, dsCall)
	got, _ := res[0]["documentSignerList"].(map[string]any)
	if res[0]["returnCode"] != "ok_list_available" || got == nil {
		t.Fatalf("list: %v", res[0])
	}
	if b, _ := base64.StdEncoding.DecodeString(got["binary"].(map[string]any)["$b64"].(string)); !bytes.Equal(b, list) {
		t.Fatal("the list came back changed")
	}

	// Hostile bodies get faults; the server stays up and keeps answering.
	g.hostile(t, term)
	if res := g.zeep(t, "/dv", term, caCall()); res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("after hostile input: %v", res[0])
	}

	// A DV asks the CVCA endpoint for its first certificate, then renews.
	dvClient := g.register(t, "UT", "DVBORDER", "dv_domestic")
	dvReq1, dvKey1 := newRequest(t, "brainpoolP256r1", "UTDVBORDER00001", cvca.CHR, "", nil)
	dvReq2, _ := newRequest(t, "brainpoolP256r1", "UTDVBORDER00002", cvca.CHR, "UTDVBORDER00001", dvKey1)
	res = g.zeep(t, "/cvca", dvClient, caCall(), requestCall("d-1", dvReq1), requestCall("d-2", dvReq2))
	if res[0]["returnCode"] != "ok_cert_available" || len(certificates(t, res[0])) != 1 || !bytes.Equal(certificates(t, res[0])[0], cvca.Raw) {
		t.Fatalf("GetCACertificates at the CVCA: %v", res[0]["returnCode"])
	}
	res = res[1:]
	for i := range res {
		if res[i]["returnCode"] != "ok_cert_available" {
			t.Fatalf("DV request %d: %v", i, res[i])
		}
		c, _ := cvc.ParseCertificate(certificates(t, res[i])[0])
		openpace.Verifies(t, []*cvc.Certificate{cvca}, c)
	}
}

func (g *gateway) holder(t *testing.T, action, mnemonic string) {
	t.Helper()
	out, err := exec.Command(g.bin, "holder", action, "--data", g.data, "--country", "UT", "--mnemonic", mnemonic,
		"--reason", "end-to-end test").CombinedOutput()
	if err != nil {
		t.Fatalf("holder %s: %v\n%s", action, err, out)
	}
}

// hostile sends malformed, oversize and entity-laden bodies over mutual TLS.
func (g *gateway) hostile(t *testing.T, c client) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(g.data, "tls.crt"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}}
	env := func(inner string) string {
		return `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>` + inner + `</s:Body></s:Envelope>`
	}
	bodies := map[string]string{
		"truncated":      env(`<n1:GetCACertificates xmlns:n1="uri:EAC-PKI-DV-Protocol/1.1">`)[:60],
		"entities":       `<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>` + env(`<x>&b;</x>`),
		"deep nesting":   env(strings.Repeat("<a>", 5000) + strings.Repeat("</a>", 5000)),
		"oversize":       env(strings.Repeat("<a/>", 200000)),
		"garbage":        "\x00\xff garbage",
		"garbage base64": env(`<n1:RequestCertificate xmlns:n1="uri:EAC-PKI-DV-Protocol/1.1"><callbackIndicator>callback_not_possible</callbackIndicator><messageID/><responseURL/><certReq>%%%not-base64%%%</certReq></n1:RequestCertificate>`),
	}
	for name, body := range bodies {
		resp, err := hc.Post(g.base+"/dv", "text/xml", strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(b, []byte("Fault")) && !bytes.Contains(b, []byte("failure_syntax")) {
			t.Errorf("%s: status %d, %s", name, resp.StatusCode, b)
		}
	}
}

// degenerateSignedData is a certificate-only CMS SignedData (RFC 5652, 5.1: no signers),
// standing in for the list the national PKD tooling would provide.
func degenerateSignedData(t *testing.T) []byte {
	t.Helper()
	type encap struct{ Type asn1.ObjectIdentifier }
	sd, err := asn1.Marshal(struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		Encap            encap
		SignerInfos      asn1.RawValue
	}{1, asn1.RawValue{Class: 0, Tag: 17, IsCompound: true}, encap{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}}, asn1.RawValue{Class: 0, Tag: 17, IsCompound: true}})
	if err != nil {
		t.Fatal(err)
	}
	ci, err := asn1.Marshal(struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue // [0] EXPLICIT, written by hand: FullBytes would skip the tag
	}{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd}})
	if err != nil {
		t.Fatal(err)
	}
	return ci
}

// expiredCertificate gives holder UT+mnemonic a certificate that expired last month (issued
// with the gateway's own DV key, straight into its store) and returns a renewal request
// authenticated with it.
func (g *gateway) expiredCertificate(t *testing.T, mnemonic string, chain []*cvc.Certificate) ([]byte, error) {
	t.Helper()
	cert, key := g.issueAt(t, mnemonic, chain, time.Now().AddDate(0, 0, -60))
	renewal, _ := newRequest(t, "brainpoolP256r1", "UT"+mnemonic+"00002", chain[1].CHR, cert.CHR, key)
	return renewal, nil
}
