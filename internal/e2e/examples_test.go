package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/openpace"
	"eacgate/internal/testenv"
	"eacgate/msg"
	"eacgate/server"
)

// The examples/ clients run against the real binary as examples/README.md tells an
// integrator to: a TLS client certificate made with openssl, registered with `eacgate holder
// add`, then each example twice (first certificate and a renewal, then a renewal from the
// kept state). What they store must verify, with our code and with openpace.

// openSSLClient makes a TLS client certificate with the openssl command of examples/README.md
// and registers it for holder UT+mnemonic.
func (g *gateway) openSSLClient(t *testing.T, mnemonic, role string) client {
	t.Helper()
	dir := t.TempDir()
	c := client{cert: filepath.Join(dir, "client.pem"), key: filepath.Join(dir, "client.key")}
	out, err := exec.Command(testenv.Tool(t, "openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", c.key, "-out", c.cert, "-days", "365", "-subj", "/CN=UT"+mnemonic,
		"-addext", "extendedKeyUsage=clientAuth").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	g.run(t, "holder", "add", "--country", "UT", "--mnemonic", mnemonic, "--role", role, "--tls-cert", c.cert)
	return c
}

// buildExample compiles examples/go/NAME.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "./examples/go/"+name)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build example %s: %v\n%s", name, err, out)
	}
	return bin
}

// runExample runs an example and returns its standard output.
func runExample(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// caChain asks an endpoint for its GetCACertificates answer, as c.
func (g *gateway) caChain(t *testing.T, path string, c client, p server.Protocol) []*cvc.Certificate {
	t.Helper()
	tlsCert, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := server.CertPool(false, filepath.Join(g.data, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.BaseTLSConfig()
	cfg.RootCAs, cfg.Certificates = roots, []tls.Certificate{tlsCert}
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	body, err := server.EncodeRequest(p, msg.Message{Operation: "GetCACertificates"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := server.Call(context.Background(), hc, g.base+path, p, "GetCACertificates", body)
	if err != nil {
		t.Fatal(err)
	}
	return parseChain(t, a.Certificates)
}

// checkIssued asserts that the example's output names each CHR as issued with how it was
// asked for, and that dir holds a certificate for it that chains to the gateway's CVCA and
// certifies the key kept beside it.
func checkIssued(t *testing.T, out, dir string, chain []*cvc.Certificate, issued map[string]string) {
	t.Helper()
	for chr, kind := range issued {
		if line := fmt.Sprintf("issued %s (%s)", chr, kind); !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
		raw, err := os.ReadFile(filepath.Join(dir, chr+".cvcert"))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := cvc.ParseCertificate(raw)
		if err != nil {
			t.Fatal(err)
		}
		if cert.CHR != chr {
			t.Fatalf("%s.cvcert holds %s", chr, cert.CHR)
		}
		opts := cvc.VerifyOptions{Anchors: chain[:1], Intermediates: chain[1:]}
		if _, err := cvc.Verify(cert, opts); err != nil {
			t.Fatalf("%s: %v", chr, err)
		}
		openpace.Verifies(t, chain, cert)
		der, err := os.ReadFile(filepath.Join(dir, chr+".pkcs8"))
		if err != nil {
			t.Fatal(err)
		}
		key, err := ecc.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatalf("key of %s: %v", chr, err)
		}
		pub, err := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), false)
		if err != nil {
			t.Fatal(err)
		}
		if !cert.PublicKey.Equal(&pub) {
			t.Fatalf("%s does not certify the key kept in %s.pkcs8", chr, chr)
		}
	}
}

// expiredState registers a terminal, gives it a certificate that expired last month (see
// expiredCertificate) and writes certificate and key into a new state directory as the
// examples keep them.
func (g *gateway) expiredState(t *testing.T, mnemonic string, chain []*cvc.Certificate) (client, string) {
	t.Helper()
	c := g.openSSLClient(t, mnemonic, "terminal")
	cert, key := g.issueAt(t, mnemonic, chain, time.Now().AddDate(0, 0, -60))
	der, err := ecc.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, cert.CHR+".cvcert"), cert.Raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, cert.CHR+".pkcs8"), der, 0o600); err != nil {
		t.Fatal(err)
	}
	return c, dir
}

func TestGoExamples(t *testing.T) {
	g := startGateway(t)
	ca := filepath.Join(g.data, "tls.crt")

	term := g.openSSLClient(t, "ISEXGO01", "terminal")
	chain := g.caChain(t, "/dv", term, server.DVProtocols[0])
	bin, dir := buildExample(t, "terminal"), t.TempDir()
	args := []string{"-url", g.base + "/dv", "-cert", term.cert, "-key", term.key, "-ca", ca, "-holder", "UTISEXGO01", "-dir", dir}
	checkIssued(t, runExample(t, bin, args...), dir, chain, map[string]string{
		"UTISEXGO0100001": "initial request", "UTISEXGO0100002": "renewal authenticated by UTISEXGO0100001"})
	checkIssued(t, runExample(t, bin, args...), dir, chain, map[string]string{
		"UTISEXGO0100003": "renewal authenticated by UTISEXGO0100002"})

	// With an expired certificate kept, a new unauthenticated request, then a renewal.
	expired, dir := g.expiredState(t, "ISEXGO02", chain)
	out := runExample(t, bin, "-url", g.base+"/dv", "-cert", expired.cert, "-key", expired.key, "-ca", ca, "-holder", "UTISEXGO02", "-dir", dir)
	if !strings.Contains(out, "UTISEXGO0200001 expired on") {
		t.Errorf("no word of the expired certificate:\n%s", out)
	}
	checkIssued(t, out, dir, chain, map[string]string{
		"UTISEXGO0200002": "initial request", "UTISEXGO0200003": "renewal authenticated by UTISEXGO0200002"})

	dv := g.openSSLClient(t, "DVEXGO", "dv_domestic")
	chain = g.caChain(t, "/cvca", dv, server.CVCAProtocols[0])
	bin, dir = buildExample(t, "dv"), t.TempDir()
	args = []string{"-url", g.base + "/cvca", "-cert", dv.cert, "-key", dv.key, "-ca", ca, "-holder", "UTDVEXGO", "-dir", dir}
	checkIssued(t, runExample(t, bin, args...), dir, chain, map[string]string{
		"UTDVEXGO00001": "initial request", "UTDVEXGO00002": "renewal authenticated by UTDVEXGO00001"})
	checkIssued(t, runExample(t, bin, args...), dir, chain, map[string]string{
		"UTDVEXGO00003": "renewal authenticated by UTDVEXGO00002"})
}

func TestPythonExample(t *testing.T) {
	python := zeepPython(t)
	g := startGateway(t)
	term := g.openSSLClient(t, "ISEXPY01", "terminal")
	chain := g.caChain(t, "/dv", term, server.DVProtocols[0])
	script := filepath.Join(testenv.RepoRoot(), "examples", "python", "terminal.py")
	dir := t.TempDir()
	args := []string{script, "--cert", term.cert, "--key", term.key, "--ca", filepath.Join(g.data, "tls.crt"),
		"--holder", "UTISEXPY01", "--dir", dir, "--eacgate", g.bin}
	// A key on the wrong curve is refused, and the attempt leaves nothing in the way of the next.
	cmd := exec.Command(python, append(args, "--wsdl", g.base+"/dv?wsdl", "--curve", "P-256")...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "failure_domain_parameters") {
		t.Fatalf("wrong curve: %v\n%s", err, out)
	}
	// First from the served WSDL, then from the repository's file with the endpoint given.
	out := runExample(t, python, append(args, "--wsdl", g.base+"/dv?wsdl")...)
	checkIssued(t, out, dir, chain, map[string]string{
		"UTISEXPY0100001": "initial request", "UTISEXPY0100002": "renewal authenticated by UTISEXPY0100001"})
	out = runExample(t, python, append(args, "--wsdl", filepath.Join(testenv.RepoRoot(), "wsdl", "dv-1.1.wsdl"), "--url", g.base+"/dv")...)
	checkIssued(t, out, dir, chain, map[string]string{"UTISEXPY0100003": "renewal authenticated by UTISEXPY0100002"})

	expired, dir := g.expiredState(t, "ISEXPY02", chain)
	out = runExample(t, python, script, "--cert", expired.cert, "--key", expired.key, "--ca", filepath.Join(g.data, "tls.crt"),
		"--holder", "UTISEXPY02", "--dir", dir, "--eacgate", g.bin, "--wsdl", g.base+"/dv?wsdl")
	if !strings.Contains(out, "UTISEXPY0200001 expired on") {
		t.Errorf("no word of the expired certificate:\n%s", out)
	}
	checkIssued(t, out, dir, chain, map[string]string{
		"UTISEXPY0200002": "initial request", "UTISEXPY0200003": "renewal authenticated by UTISEXPY0200002"})
}
