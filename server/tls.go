package server

import (
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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The extended key usages CSN 36 9791 gives SPOC TLS client and server certificates
// (id-csn-369791-tls-client and -server).
var (
	OIDCSNTLSClient = asn1.ObjectIdentifier{1, 2, 203, 7064, 1, 1, 369791, 1}
	OIDCSNTLSServer = asn1.ObjectIdentifier{1, 2, 203, 7064, 1, 1, 369791, 2}
)

// TLSConfig is the server side of mutual TLS: peers are asked for a client certificate and
// identified by its SHA-256 fingerprint, which an operator registers with the holder
// (certificate pinning, so no TLS client CA is needed). A request without a client
// certificate can still fetch ?wsdl but every SOAP operation refuses it.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
	}
}

// LoadOrCreateTLSCertificate loads certFile and keyFile (PEM), or, when neither exists,
// creates a self-signed ECDSA P-256 certificate for the given host names and addresses and
// writes them (key with mode 0600). For the embedded demo setup; production deployments
// configure their own certificate.
func LoadOrCreateTLSCertificate(certFile, keyFile string, hosts []string) (tls.Certificate, error) {
	_, errC := os.Stat(certFile)
	_, errK := os.Stat(keyFile)
	if errC == nil && errK == nil {
		return tls.LoadX509KeyPair(certFile, keyFile)
	}
	if !errors.Is(errC, os.ErrNotExist) || !errors.Is(errK, os.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("server: TLS files: only one of %s and %s exists", certFile, keyFile)
	}
	certPEM, keyPEM, err := SelfSignedCertificate(hosts[0], hosts, 365*24*time.Hour)
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

// SelfSignedCertificate makes a PEM certificate and PKCS#8 key for TLS (server and client
// use), for demos and tests.
func SelfSignedCertificate(commonName string, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("server: TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("server: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"eacgate"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validity),
		// Self-signed, so it is its own trust anchor: OpenSSL-based peers (Python's ssl)
		// accept it only as a CA certificate.
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		// The gateway's certificate also serves SPOC-to-SPOC traffic (CSN 36 9791).
		UnknownExtKeyUsage:    []asn1.ObjectIdentifier{OIDCSNTLSClient, OIDCSNTLSServer},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("server: self-signed certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("server: TLS key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), nil
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
