package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"testing"
	"time"
)

// ClientCert makes a self-signed TLS client certificate named cn, valid from notBefore to
// notAfter, with the extended key usages ekus and unknown (none: no EKU extension), and
// returns it with its hex SHA-256 fingerprint, by which holders and operators are registered.
func ClientCert(t testing.TB, cn string, notBefore, notAfter time.Time, ekus []x509.ExtKeyUsage, unknown ...asn1.ObjectIdentifier) (*x509.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter, ExtKeyUsage: ekus, UnknownExtKeyUsage: unknown}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return c, hex.EncodeToString(sum[:])
}
