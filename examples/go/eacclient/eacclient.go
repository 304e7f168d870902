// Package eacclient is the example TR-03129 client the terminal and DV examples share: it
// asks an eacgate endpoint for the CA chain (GetCACertificates), for the holder's first CV
// certificate (RequestCertificate, unauthenticated) and for a renewal (RequestCertificate
// authenticated with the current certificate's key), over mutual TLS.
//
// State lives in Config.Dir: CHR.cvcert and CHR.pkcs8 for each certificate received. The
// first run asks for HOLDER00001 and renews it to HOLDER00002; every later run renews the
// newest certificate found there. See examples/README.md.
package eacclient

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/msg"
	"eacgate/server"
)

// Config is one holder's client.
type Config struct {
	URL      string // the endpoint: https://HOST:PORT/dv (terminals) or /cvca (DVs)
	CertFile string // TLS client certificate (PEM), registered with eacgate holder add
	KeyFile  string // its private key (PEM)
	CAFile   string // trust anchor of the gateway's TLS certificate (PEM)
	Holder   string // country code and mnemonic the holder is registered with
	Dir      string // where certificates and keys are kept between runs
	// Protocol is the endpoint's interface: server.DVProtocols[0] at /dv,
	// server.CVCAProtocols[0] at /cvca.
	Protocol server.Protocol
	// Issuer is the role of the chain's certificate the holder's are issued under: the
	// domestic DV for terminals, the CVCA for DVs.
	Issuer cvc.Role
}

// Run fetches the CA chain, asks for the holder's first certificate unless cfg.Dir holds a
// valid one, and renews the newest certificate.
func Run(ctx context.Context, cfg Config) error {
	url, certFile, keyFile, caFile, holder, dir := cfg.URL, cfg.CertFile, cfg.KeyFile, cfg.CAFile, cfg.Holder, cfg.Dir
	hc, err := httpClient(certFile, keyFile, caFile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}

	// 1. The CA chain: the country's CVCA certificates (link certificates included, the
	// newest last), and at /dv then the DV certificate terminals are issued under.
	a, err := call(ctx, hc, url, cfg.Protocol, msg.Message{Operation: "GetCACertificates"})
	if err != nil {
		return err
	}
	chain, err := parseAll(a.Certificates)
	if err != nil {
		return err
	}
	var anchors, intermediates []*cvc.Certificate
	var issuer *cvc.Certificate
	for _, c := range chain {
		fmt.Printf("CA certificate: %s (%s, issued by %s, valid until %s)\n", c.CHR, c.Role(), c.CAR, c.ExpirationDate)
		switch {
		case c.IsSelfSigned():
			anchors = append(anchors, c)
		default:
			intermediates = append(intermediates, c)
		}
		if c.Role() == cfg.Issuer {
			issuer = c // the last one: the certificate the gateway issues under
		}
	}
	if issuer == nil {
		return fmt.Errorf("GetCACertificates: no %s certificate in the chain", cfg.Issuer)
	}
	// In production the CVCA certificate is the trust anchor you got out of band, not one
	// taken from the same answer.
	opts := cvc.VerifyOptions{Anchors: anchors, Intermediates: intermediates, At: time.Now()}
	path, err := cvc.Verify(issuer, opts)
	if err != nil {
		return fmt.Errorf("%s certificate %s: %w", cfg.Issuer, issuer.CHR, err)
	}
	curve := cvc.Domain(path) // the holder's key must be on the chain's curve

	// 2. The first certificate, unless -dir already holds a valid one. An expired certificate
	// cannot authenticate a renewal (failure_expired); once it has expired, the gateway takes
	// an unauthenticated request again, with a higher sequence number.
	cur, curKey, err := newest(dir)
	if err != nil {
		return err
	}
	first := holder + "00001"
	if cur != nil && !cur.ValidAt(time.Now()) {
		fmt.Printf("%s expired on %s: asking for a new certificate without authentication\n", cur.CHR, cur.ExpirationDate)
		if first, err = nextCHR(cur.CHR); err != nil {
			return err
		}
		cur = nil
	}
	if cur == nil {
		if cur, curKey, err = request(ctx, hc, url, cfg.Protocol, dir, curve, issuer.CHR, first, nil, nil, opts); err != nil {
			return err
		}
	}
	// 3. The renewal: a new key and the next sequence number, the request signed a second
	// time (outer signature) with the current certificate's key. Unauthenticated requests
	// are refused while the holder has a valid certificate.
	next, err := nextCHR(cur.CHR)
	if err != nil {
		return err
	}
	_, _, err = request(ctx, hc, url, cfg.Protocol, dir, curve, issuer.CHR, next, cur, curKey, opts)
	return err
}

// request makes a key and a CV certificate request for chr, authenticated by (cur, curKey)
// when cur is set, sends it and stores and verifies what comes back.
func request(ctx context.Context, hc *http.Client, url string, proto server.Protocol, dir string, curve *ecc.Curve, car, chr string,
	cur *cvc.Certificate, curKey *ecc.PrivateKey, opts cvc.VerifyOptions) (*cvc.Certificate, *ecc.PrivateKey, error) {
	key, err := ecc.GenerateKey(curve, rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	pub, err := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	if err != nil {
		return nil, nil, fmt.Errorf("public key: %w", err)
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: car, CHR: chr}, pub, key)
	if err != nil {
		return nil, nil, fmt.Errorf("request %s: %w", chr, err)
	}
	kind := "initial request"
	if cur != nil {
		kind = "renewal authenticated by " + cur.CHR
		if req, err = req.Authenticate(cur.CHR, curKey, cur.PublicKey.Algorithm); err != nil {
			return nil, nil, fmt.Errorf("authenticate %s: %w", chr, err)
		}
	}
	// Keep the key before sending: a lost answer can be fetched again by repeating the
	// request with the same messageID, and the certificate is useless without its key.
	der, err := ecc.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, chr+".pkcs8"), der, 0o600); err != nil {
		return nil, nil, fmt.Errorf("write key: %w", err)
	}
	// The messageID makes the request idempotent: the gateway answers a repeated messageID
	// with its first answer and issues nothing twice. Use a fresh one per request.
	a, err := call(ctx, hc, url, proto, msg.Message{Operation: "RequestCertificate", MessageID: messageID(), CertReq: req.Raw})
	if err != nil {
		return nil, nil, err
	}
	if len(a.Certificates) == 0 {
		return nil, nil, fmt.Errorf("RequestCertificate %s: %s without a certificate", chr, a.ReturnCode)
	}
	cert, err := cvc.ParseCertificate(a.Certificates[0])
	if err != nil {
		return nil, nil, fmt.Errorf("RequestCertificate %s: %w", chr, err)
	}
	if _, err := cvc.Verify(cert, opts); err != nil {
		return nil, nil, fmt.Errorf("issued certificate %s: %w", cert.CHR, err)
	}
	if !cert.PublicKey.Equal(&pub) {
		return nil, nil, fmt.Errorf("issued certificate %s: not for the key sent", cert.CHR)
	}
	if err := os.WriteFile(filepath.Join(dir, cert.CHR+".cvcert"), cert.Raw, 0o644); err != nil {
		return nil, nil, fmt.Errorf("write certificate: %w", err)
	}
	fmt.Printf("issued %s (%s) by %s, valid %s to %s: %s\n", cert.CHR, kind, cert.CAR, cert.EffectiveDate, cert.ExpirationDate,
		filepath.Join(dir, cert.CHR+".cvcert"))
	return cert, key, nil
}

// call sends one operation in protocol p (TR-03129 v1.1) and returns the answer if
// its return code is ok_cert_available.
func call(ctx context.Context, hc *http.Client, url string, p server.Protocol, m msg.Message) (msg.Answer, error) {
	body, err := server.EncodeRequest(p, m)
	if err != nil {
		return msg.Answer{}, fmt.Errorf("%s: %w", m.Operation, err)
	}
	a, err := server.Call(ctx, hc, url, p, m.Operation, body)
	if err != nil {
		return msg.Answer{}, fmt.Errorf("%s: %w", m.Operation, err)
	}
	if a.ReturnCode != authority.OKCertAvailable {
		// A failure code is a well-formed answer: the gateway's log says why.
		return msg.Answer{}, fmt.Errorf("%s: return code %s", m.Operation, a.ReturnCode)
	}
	return a, nil
}

func httpClient(certFile, keyFile, caFile string) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS client certificate: %w", err)
	}
	roots, err := server.CertPool(false, caFile)
	if err != nil {
		return nil, err
	}
	cfg := server.BaseTLSConfig()
	cfg.RootCAs = roots
	cfg.Certificates = []tls.Certificate{cert}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}, nil
}

func parseAll(raws [][]byte) ([]*cvc.Certificate, error) {
	out := make([]*cvc.Certificate, 0, len(raws))
	for i, raw := range raws {
		c, err := cvc.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("certificate %d of the chain: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// newest returns the certificate with the highest CHR in dir and its key, or nil if none.
func newest(dir string) (*cvc.Certificate, *ecc.PrivateKey, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.cvcert"))
	if err != nil || len(names) == 0 {
		return nil, nil, err
	}
	sort.Strings(names)
	last := names[len(names)-1]
	raw, err := os.ReadFile(last)
	if err != nil {
		return nil, nil, err
	}
	cert, err := cvc.ParseCertificate(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", last, err)
	}
	der, err := os.ReadFile(strings.TrimSuffix(last, ".cvcert") + ".pkcs8")
	if err != nil {
		return nil, nil, fmt.Errorf("key of %s: %w", cert.CHR, err)
	}
	key, err := ecc.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, nil, fmt.Errorf("key of %s: %w", cert.CHR, err)
	}
	return cert, key, nil
}

// nextCHR raises the 5-digit sequence number at the end of a CHR: a renewal must carry a
// higher one than the current certificate.
func nextCHR(chr string) (string, error) {
	if len(chr) < 5 {
		return "", fmt.Errorf("CHR %q: too short", chr)
	}
	n, err := strconv.Atoi(chr[len(chr)-5:])
	if err != nil || n >= 99999 {
		return "", fmt.Errorf("CHR %s: sequence number is not a number this example can raise", chr)
	}
	return fmt.Sprintf("%s%05d", chr[:len(chr)-5], n+1), nil
}

func messageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
