package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The extended key usages CSN 36 9791 gives SPOC TLS client and server certificates
// (id-csn-369791-tls-client and -server).
var (
	OIDCSNTLSClient = asn1.ObjectIdentifier{1, 2, 203, 7064, 1, 1, 369791, 1}
	OIDCSNTLSServer = asn1.ObjectIdentifier{1, 2, 203, 7064, 1, 1, 369791, 2}
)

// CipherSuites are the TLS 1.2 suites the gateway offers and accepts, as server and as
// client: forward secrecy (ECDHE) and AEAD (AES-GCM) only, the suites both BSI TR-02102-2 and
// Mozilla's "intermediate" profile recommend. Go's defaults would add CBC-SHA1 suites. TLS 1.3
// suites are all AEAD and not configurable.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
}

// BaseTLSConfig is the protocol floor of every TLS connection the gateway makes or takes:
// TLS 1.2 or later, CipherSuites for TLS 1.2.
func BaseTLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: CipherSuites}
}

// TLSConfig is the server side of mutual TLS: peers are asked for a client certificate and
// identified by its SHA-256 fingerprint, which an operator registers with the holder
// (certificate pinning, so no TLS client CA is needed). A request without a client
// certificate can still fetch ?wsdl but every SOAP operation refuses it.
func TLSConfig(cert tls.Certificate) *tls.Config {
	c := BaseTLSConfig()
	c.Certificates = []tls.Certificate{cert}
	c.ClientAuth = tls.RequestClientCert
	return c
}

// LoadOrCreateTLSCertificate loads certFile and keyFile (PEM), or, when neither exists,
// creates a demo server certificate for the given host names and addresses (see
// DemoServerCertificate) and writes them (key with mode 0600). For the embedded demo setup;
// production deployments configure their own certificate.
func LoadOrCreateTLSCertificate(certFile, keyFile string, hosts []string) (tls.Certificate, error) {
	_, errC := os.Stat(certFile)
	_, errK := os.Stat(keyFile)
	if errC == nil && errK == nil {
		return tls.LoadX509KeyPair(certFile, keyFile)
	}
	if !errors.Is(errC, os.ErrNotExist) || !errors.Is(errK, os.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("server: TLS files: only one of %s and %s exists", certFile, keyFile)
	}
	certPEM, keyPEM, err := DemoServerCertificate(hosts[0], hosts, 365*24*time.Hour)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("server: %w", err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("server: write TLS key: %w", err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("server: write TLS certificate: %w", err)
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// DemoServerCertificate makes the embedded default's TLS certificate: an end-entity
// certificate (not a CA: its key cannot certify anything) issued by a one-off CA whose key is
// discarded at once. certPEM holds both, leaf first, so a client that takes the file as its
// trust anchors (Python's ssl, curl --cacert, Go's CertPool) finds the CA in it.
func DemoServerCertificate(commonName string, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("server: TLS CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: commonName + " demo TLS CA", Organization: []string{"eacgate"}},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("server: TLS CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, fmt.Errorf("server: TLS CA certificate: %w", err)
	}
	certPEM, keyPEM, err = tlsPair(tlsTemplate(commonName, hosts, validity), ca, caKey)
	if err != nil {
		return nil, nil, err
	}
	return append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...), keyPEM, nil
}

// SelfSignedCertificate makes a PEM certificate and PKCS#8 key for TLS (server and client
// use), for demos and tests.
func SelfSignedCertificate(commonName string, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	tmpl := tlsTemplate(commonName, hosts, validity)
	// Self-signed, so it is its own trust anchor: OpenSSL-based peers (Python's ssl) accept
	// it only as a CA certificate. For test peers and demos; the gateway's own default
	// certificate is DemoServerCertificate.
	tmpl.KeyUsage |= x509.KeyUsageCertSign
	tmpl.IsCA = true
	return tlsPair(tmpl, nil, nil)
}

// tlsTemplate is an end-entity TLS certificate for server and client use, also for
// SPOC-to-SPOC traffic (the CSN 36 9791 usages).
func tlsTemplate(commonName string, hosts []string, validity time.Duration) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"eacgate"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		UnknownExtKeyUsage:    []asn1.ObjectIdentifier{OIDCSNTLSClient, OIDCSNTLSServer},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return tmpl
}

// tlsPair makes a new P-256 key and tmpl's certificate for it, issued by (issuer, issuerKey),
// or self-signed when issuer is nil, as PEM.
func tlsPair(tmpl, issuer *x509.Certificate, issuerKey crypto.Signer) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("server: TLS key: %w", err)
	}
	if issuer == nil {
		issuer, issuerKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, issuerKey)
	if err != nil {
		return nil, nil, fmt.Errorf("server: TLS certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("server: TLS key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), nil
}

func randomSerial() *big.Int {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail (Go 1.24+)
	}
	return serial
}

// CertPool builds a pool of trust anchors: the system's roots when withSystem is set, plus
// the certificates of the PEM files (each must hold at least one).
func CertPool(withSystem bool, files ...string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if withSystem {
		if sys, err := x509.SystemCertPool(); err == nil && sys != nil {
			pool = sys
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("server: trust anchors: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("server: trust anchors: no PEM certificates in %s", f)
		}
	}
	return pool, nil
}

// CertReloader serves the TLS certificate from a certificate and a key file and picks up
// new files without a restart: each handshake checks the files' modification time and size
// (a stat, no read) and reloads when they changed; Reload forces it (eacgate serve calls it
// on SIGHUP). A pair that does not load (half-written, key not matching) is logged and the
// previous certificate stays in use, so a botched renewal does not take the gateway down.
type CertReloader struct {
	certFile, keyFile string
	logger            *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   fileStamp
	lastErr string // the last failed pair's error, logged once
}

// fileStamp identifies a version of the certificate and key files.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// NewCertReloader loads the pair once (an error if it does not load).
func NewCertReloader(certFile, keyFile string, logger *slog.Logger) (*CertReloader, error) {
	if logger == nil {
		logger = slog.Default()
	}
	r := &CertReloader{certFile: certFile, keyFile: keyFile, logger: logger}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *CertReloader) stat() (fileStamp, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("server: TLS certificate: %w", err)
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("server: TLS key: %w", err)
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// Reload reads the files now. On error the previous certificate stays in use.
func (r *CertReloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked()
}

func (r *CertReloader) reloadLocked() error {
	st, err := r.stat()
	if err == nil {
		var cert tls.Certificate
		if cert, err = tls.LoadX509KeyPair(r.certFile, r.keyFile); err == nil {
			old := r.cert
			r.cert, r.stamp, r.lastErr = &cert, st, ""
			if old != nil {
				r.logger.Info("TLS certificate reloaded", "cert", r.certFile, "not_after", cert.Leaf.NotAfter)
			}
			return nil
		}
		err = fmt.Errorf("server: TLS certificate %s: %w", r.certFile, err)
	}
	r.stamp = st // do not retry the same broken files on every handshake
	if r.cert != nil && err.Error() != r.lastErr {
		r.logger.Error("TLS certificate not reloaded; keeping the previous one", "err", err)
	}
	r.lastErr = err.Error()
	return err
}

// Certificate returns the certificate in use, reloading first if the files changed.
func (r *CertReloader) Certificate() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, err := r.stat(); err == nil && st != r.stamp {
		_ = r.reloadLocked()
	}
	return r.cert
}

// GetCertificate implements tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.Certificate(), nil
}

// TLSConfig is TLSConfig with the certificate served by r.
func (r *CertReloader) TLSConfig() *tls.Config {
	c := TLSConfig(tls.Certificate{})
	c.Certificates = nil
	c.GetCertificate = r.GetCertificate
	return c
}
