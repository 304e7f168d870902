package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// peerCert makes a self-signed TLS certificate for 127.0.0.1 with the given unknown EKUs.
func peerCert(t *testing.T, cn string, ekus ...asn1.ObjectIdentifier) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		UnknownExtKeyUsage: ekus, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// peerServer serves h over TLS with cert, asking for a client certificate.
func peerServer(t *testing.T, cert tls.Certificate, h http.Handler) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return srv, pool
}

func ok(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

func get(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

// A redirect is answered as it is: the client never follows it to a host nobody configured.
func TestPeerClientRefusesRedirects(t *testing.T) {
	var followed atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/b", http.StatusFound) })
	mux.HandleFunc("/b", func(w http.ResponseWriter, _ *http.Request) { followed.Add(1) })
	srv, roots := peerServer(t, peerCert(t, "peer"), mux)
	c, err := NewPeerClient(PeerClientOptions{Name: "test", Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := get(t, c, srv.URL+"/a")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound || followed.Load() != 0 {
		t.Fatalf("status %d, redirect followed %d times", resp.StatusCode, followed.Load())
	}
}

// With pins, only the pinned certificate is accepted, even when it chains to the roots.
func TestPeerClientPins(t *testing.T) {
	cert := peerCert(t, "peer")
	srv, roots := peerServer(t, cert, http.HandlerFunc(ok))
	sum := sha256.Sum256(cert.Leaf.Raw)
	other := sha256.Sum256([]byte("another certificate"))
	for name, tc := range map[string]struct {
		pins []string
		ok   bool
	}{
		"pinned":     {[]string{hex.EncodeToString(other[:]), hex.EncodeToString(sum[:])}, true},
		"not pinned": {[]string{hex.EncodeToString(other[:])}, false},
		"no pins":    {nil, true},
	} {
		c, err := NewPeerClient(PeerClientOptions{Name: "test", Roots: roots, Pins: tc.pins})
		if err != nil {
			t.Fatal(err)
		}
		_, err = get(t, c, srv.URL)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrPeerCertificate)) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := NewPeerClient(PeerClientOptions{Pins: []string{"abcd"}}); err == nil {
		t.Error("a short pin was taken")
	}
}

// A required extended key usage is checked on the peer's certificate.
func TestPeerClientRequiresEKU(t *testing.T) {
	with, without := peerCert(t, "with", OIDCSNTLSServer), peerCert(t, "without")
	for name, tc := range map[string]struct {
		cert tls.Certificate
		ok   bool
	}{"with": {with, true}, "without": {without, false}} {
		srv, roots := peerServer(t, tc.cert, http.HandlerFunc(ok))
		c, err := NewPeerClient(PeerClientOptions{Name: "SPOC ZZ", Roots: roots, RequireEKU: OIDCSNTLSServer, EKUName: "CSN 36 9791 server"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = get(t, c, srv.URL)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrPeerCertificate)) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The identity is asked for at every handshake and presented to the peer.
func TestPeerClientPresentsIdentity(t *testing.T) {
	var seen atomic.Value
	srv, roots := peerServer(t, peerCert(t, "peer"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			seen.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
	}))
	var current atomic.Pointer[tls.Certificate]
	first, second := peerCert(t, "first"), peerCert(t, "second")
	current.Store(&first)
	c, err := NewPeerClient(PeerClientOptions{Name: "test", Roots: roots,
		Identity: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return current.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, c, srv.URL); err != nil || seen.Load() != "first" {
		t.Fatalf("presented %v (%v)", seen.Load(), err)
	}
	current.Store(&second)
	c.CloseIdleConnections()
	if _, err := get(t, c, srv.URL); err != nil || seen.Load() != "second" {
		t.Fatalf("after a new identity presented %v (%v)", seen.Load(), err)
	}
}

// Every phase of a call is bounded, the TLS floor is BaseTLSConfig's, and Timeout ends a
// call whose answer does not come.
func TestPeerClientTimeouts(t *testing.T) {
	c, err := NewPeerClient(PeerClientOptions{Timeout: 45 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tr := c.Transport.(*http.Transport)
	if c.Timeout != 45*time.Second || tr.TLSHandshakeTimeout <= 0 || tr.ResponseHeaderTimeout < c.Timeout || tr.DialContext == nil ||
		tr.IdleConnTimeout <= 0 || tr.Proxy != nil {
		t.Fatalf("client timeout %v, transport %+v", c.Timeout, tr)
	}
	if cfg := tr.TLSClientConfig; cfg.MinVersion != tls.VersionTLS12 || len(cfg.CipherSuites) != len(CipherSuites) {
		t.Fatalf("TLS floor: %+v", cfg)
	}
	if c, _ := NewPeerClient(PeerClientOptions{}); c.Transport.(*http.Transport).ResponseHeaderTimeout <= 0 {
		t.Fatal("no response header bound without Timeout")
	}

	release := make(chan struct{})
	srv, roots := peerServer(t, peerCert(t, "peer"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer close(release)
	c, err = NewPeerClient(PeerClientOptions{Roots: roots, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var ne net.Error
	if _, err := get(t, c, srv.URL); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("silent peer: %v, want a timeout", err)
	}
}

// With a network policy, addresses it refuses are never dialled.
func TestPeerClientNetworkGuard(t *testing.T) {
	srv, roots := peerServer(t, peerCert(t, "peer"), http.HandlerFunc(ok))
	c, err := NewPeerClient(PeerClientOptions{Roots: roots, Network: &NetworkPolicy{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, c, srv.URL); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("loopback: %v, want ErrForbiddenAddress", err)
	}
	c, err = NewPeerClient(PeerClientOptions{Roots: roots, Network: &NetworkPolicy{AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, c, srv.URL); err != nil {
		t.Fatal(err)
	}
}
