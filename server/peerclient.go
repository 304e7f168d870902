package server

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The transport bounds every peer client shares: a peer that does not accept the
// connection, finish the handshake or start its answer in time is given up on, whatever the
// whole call's Timeout is.
const (
	peerDialTimeout      = 10 * time.Second
	peerKeepAlive        = 30 * time.Second
	peerHandshakeTimeout = 10 * time.Second
	peerHeaderTimeout    = 30 * time.Second
	peerIdleTimeout      = 90 * time.Second
	peerIdleConnsPerHost = 4
)

// ErrPeerCertificate: the peer's TLS server certificate is not the pinned one or lacks the
// required extended key usage.
var ErrPeerCertificate = errors.New("server: peer TLS certificate refused")

// PeerClientOptions describe an HTTP client for calls to a peer: a partner SPOC, a remote
// CVCA, or a callback receiver.
type PeerClientOptions struct {
	// Name says whose endpoint is called, in errors (for example "SPOC ZZ").
	Name string
	// Identity returns the client certificate presented when the peer asks for one (the
	// gateway's TLS certificate, asked at every handshake so that a reloaded one is used at
	// once); nil: none.
	Identity func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	// Roots are the trust anchors of the peer's TLS server certificate; nil: the system's.
	Roots *x509.CertPool
	// Pins, when set, are the only peer certificates accepted (besides chaining to Roots):
	// SHA-256 of the leaf certificate's DER, hex.
	Pins []string
	// RequireEKU, when set, is an extended key usage the peer's certificate must carry (CSN
	// 36 9791's server usage for partner SPOCs).
	RequireEKU asn1.ObjectIdentifier
	// EKUName names RequireEKU in errors (for example "CSN 36 9791 server").
	EKUName string
	// Timeout bounds a whole call, reading the answer included; 0: only the per-phase bounds
	// (the caller bounds the call with its context).
	Timeout time.Duration
	// Network, when set, guards every connection: addresses the policy refuses are never
	// dialled (checked after name resolution), for requester-supplied URLs.
	Network *NetworkPolicy
}

// NewPeerClient returns the HTTP client for calls to a peer: TLS 1.2 or later with
// BaseTLSConfig's suites, the identity, trust anchors, pins and EKU of o, bounded dial,
// handshake and response-header times, no proxy (it would hide the address the dial guard
// judges), and no redirects (a redirect is answered as it is: a SOAP peer has no reason to
// send one, and following it would carry the request to a host nobody configured).
func NewPeerClient(o PeerClientOptions) (*http.Client, error) {
	pins := make([][sha256.Size]byte, 0, len(o.Pins))
	for _, p := range o.Pins {
		b, err := hex.DecodeString(strings.ReplaceAll(p, ":", ""))
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("server: peer %s: pin %q is not a hex SHA-256", o.Name, p)
		}
		pins = append(pins, [sha256.Size]byte(b))
	}
	cfg := BaseTLSConfig()
	cfg.RootCAs, cfg.GetClientCertificate = o.Roots, o.Identity
	if len(pins) > 0 || o.RequireEKU != nil {
		name, eku, ekuName := o.Name, o.RequireEKU, o.EKUName
		if ekuName == "" {
			ekuName = eku.String()
		}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: %s sent no certificate", ErrPeerCertificate, name)
			}
			leaf := cs.PeerCertificates[0]
			if len(pins) > 0 && !slices.Contains(pins, sha256.Sum256(leaf.Raw)) {
				return fmt.Errorf("%w: %s's TLS certificate (SHA-256 %x) is not pinned", ErrPeerCertificate, name, sha256.Sum256(leaf.Raw))
			}
			if eku != nil && !slices.ContainsFunc(leaf.UnknownExtKeyUsage, eku.Equal) {
				return fmt.Errorf("%w: %s's TLS certificate lacks the %s usage", ErrPeerCertificate, name, ekuName)
			}
			return nil
		}
	}
	dial := (&net.Dialer{Timeout: peerDialTimeout, KeepAlive: peerKeepAlive}).DialContext
	if o.Network != nil {
		dial = o.Network.DialContext(peerDialTimeout, peerKeepAlive)
	}
	header := peerHeaderTimeout
	if o.Timeout > header {
		header = o.Timeout
	}
	transport := &http.Transport{
		TLSClientConfig:       cfg,
		DialContext:           dial,
		TLSHandshakeTimeout:   peerHandshakeTimeout,
		ResponseHeaderTimeout: header,
		MaxIdleConnsPerHost:   peerIdleConnsPerHost,
		IdleConnTimeout:       peerIdleTimeout,
	}
	return &http.Client{Timeout: o.Timeout, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}
