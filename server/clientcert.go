package server

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrClientCertificate is wrapped by CheckClientCertificate's refusals.
var ErrClientCertificate = errors.New("TLS client certificate refused")

// certDate is how refusals name a certificate's dates.
const certDate = "2006-01-02 15:04:05 UTC"

// CheckClientCertificate decides whether a TLS client certificate may identify a peer at
// time now: it must be within its validity period and, when it has an extended key usage
// extension, allow client authentication (id-kp-clientAuth, anyExtendedKeyUsage, or the CSN
// 36 9791 client usage of SPOC certificates). Clients are pinned by fingerprint, so the
// handshake does not verify them: every use (SOAP, admin API) and every registration (CLI,
// REST) goes through this one check.
func CheckClientCertificate(cert *x509.Certificate, now time.Time) error {
	if cert == nil {
		return fmt.Errorf("%w: no certificate", ErrClientCertificate)
	}
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%w: the certificate is not valid before %s", ErrClientCertificate, cert.NotBefore.UTC().Format(certDate))
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%w: the certificate expired on %s", ErrClientCertificate, cert.NotAfter.UTC().Format(certDate))
	}
	if len(cert.ExtKeyUsage) == 0 && len(cert.UnknownExtKeyUsage) == 0 {
		return nil // no EKU extension: any use
	}
	if slices.ContainsFunc(cert.ExtKeyUsage, func(u x509.ExtKeyUsage) bool {
		return u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny
	}) || slices.ContainsFunc(cert.UnknownExtKeyUsage, OIDCSNTLSClient.Equal) {
		return nil
	}
	return fmt.Errorf("%w: the certificate's extended key usage does not allow TLS client authentication", ErrClientCertificate)
}
