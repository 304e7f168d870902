package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"eacgate/generated/dv11"
	"eacgate/internal/testenv"
	"eacgate/server"
)

// serveProc is an eacgate serve whose process the test controls (signals, exit status).
type serveProc struct {
	cmd    *exec.Cmd
	addr   string // host:port
	stderr *testenv.Buffer
	done   chan struct{} // closed when the process has exited; err is then set
	err    error
}

// exited waits up to d for the process to exit.
func (p *serveProc) exited(d time.Duration) (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	case <-time.After(d):
		return false, nil
	}
}

func startServe(t *testing.T, bin, data string) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", data, "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, stderr: &testenv.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := endpointLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- strings.TrimPrefix(m[1], "https://")
			}
		}
	}()
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("eacgate did not print its endpoints:\n%s", p.stderr.String())
	}
	return p
}

// servedCert returns the DER of the TLS certificate the gateway presents now.
func servedCert(t *testing.T, addr string) []byte {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}

// replaceTLS writes a new pair over the gateway's files, stamped at mod.
func replaceTLS(t *testing.T, data string, mod time.Time) []byte {
	t.Helper()
	certPEM, keyPEM, err := server.SelfSignedCertificate("127.0.0.1", []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Key first, then certificate: a handshake in between keeps the old pair (mismatch).
	for _, f := range []struct {
		name string
		b    []byte
	}{{"tls.key", keyPEM}, {"tls.crt", certPEM}} {
		path := filepath.Join(data, f.name)
		if err := os.WriteFile(path+".new", f.b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path+".new", mod, mod); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert.Certificate[0]
}

// The gateway's TLS certificate is replaced on disk: new handshakes get the new one without
// a restart, and SIGHUP reloads too.
func TestTLSCertificateReload(t *testing.T) {
	data := t.TempDir()
	p := startServe(t, eacgateBinary(t), data)
	first := servedCert(t, p.addr)
	if orig, _ := os.ReadFile(filepath.Join(data, "tls.crt")); !bytes.Contains(orig, []byte("CERTIFICATE")) {
		t.Fatal("no tls.crt in the data directory")
	}
	second := replaceTLS(t, data, time.Now().Add(time.Minute))
	if got := servedCert(t, p.addr); bytes.Equal(got, first) || !bytes.Equal(got, second) {
		t.Fatal("the replaced certificate is not served")
	}
	third := replaceTLS(t, data, time.Now().Add(2*time.Minute))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.EventuallyReport(t, 10*time.Second, func() bool {
		return strings.Contains(p.stderr.String(), "SIGHUP: TLS certificate reloaded")
	}, func() string { return "no SIGHUP reload logged:\n" + p.stderr.String() })
	if !bytes.Equal(servedCert(t, p.addr), third) {
		t.Fatal("the certificate after SIGHUP is not the new one")
	}
	if ok, err := p.exited(0); ok {
		t.Fatalf("gateway exited on SIGHUP: %v", err)
	}
}

// SIGTERM while a request is in flight: the gateway stops accepting connections, answers
// the request, and exits 0.
func TestGracefulShutdownFinishesInFlightRequest(t *testing.T) {
	data := t.TempDir()
	g := &gateway{bin: eacgateBinary(t), data: data}
	p := startServe(t, g.bin, data)
	term := g.register(t, "UT", "ISSHUT01", "terminal")
	cert, err := tls.LoadX509KeyPair(term.cert, term.key)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", p.addr, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>` +
		`<n1:GetCACertificates xmlns:n1="` + dv11.Namespace + `"><callbackIndicator>callback_not_possible</callbackIndicator>` +
		`<messageID/><responseURL/></n1:GetCACertificates></soapenv:Body></soapenv:Envelope>`
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /dv HTTP/1.1\r\nHost: %s\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s", p.addr, len(body), body[:half])
	// Kept: the server (another process) shows nothing when it has read the headers.
	time.Sleep(300 * time.Millisecond) // the server is now reading the body
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ok, err := p.exited(500 * time.Millisecond); ok {
		t.Fatalf("gateway exited with a request in flight: %v\n%s", err, p.stderr.String())
	}
	if c, err := tls.Dial("tcp", p.addr, &tls.Config{InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Fatal("new connections still accepted after SIGTERM")
	}
	if _, err := io.WriteString(conn, body[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request: %v\n%s", err, p.stderr.String())
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("ok_cert_available")) {
		t.Fatalf("in-flight request answered %d: %s", resp.StatusCode, b)
	}
	ok, err := p.exited(30 * time.Second)
	if !ok {
		t.Fatal("gateway did not exit after the in-flight request")
	}
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
	}
}

// docker-compose.yml validates with `docker compose config` (or docker-compose), where one
// is installed (no engine needed); the Dockerfile builds the way .ci/run does.
func TestDockerFiles(t *testing.T) {
	root := testenv.RepoRoot()
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"go mod download", "gcc", "libc6-dev", "pkg-config"} {
		if !bytes.Contains(df, []byte(step)) || !bytes.Contains(ci, []byte(step)) {
			t.Errorf("build step %q not in both the Dockerfile and .ci/run", step)
		}
	}
	var cmd *exec.Cmd
	if exec.Command("docker", "compose", "version").Run() == nil {
		cmd = exec.Command("docker", "compose", "config", "-q")
	} else if p, err := exec.LookPath("docker-compose"); err == nil {
		cmd = exec.Command(p, "config", "-q")
	} else {
		testenv.Missing(t, "docker compose or docker-compose (Debian docker-compose)")
	}
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
}
