// Package catest makes CA issuers for tests.
package catest

import (
	"crypto/rand"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
)

// CVCA is a new CVCA on curve with its self-signed certificate chr (ECDSA-SHA-256, DG3 and
// DG4 rights, valid for a year from today), as an issuer with the default policy.
func CVCA(t testing.TB, chr, curve string) *authority.Issuer {
	t.Helper()
	key, err := ecc.GenerateKey(ecc.CurveByName(curve), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	today := cvc.DateOf(time.Now())
	cert, err := authority.NewCVCA(authority.CVCASpec{CHR: chr, Algorithm: cvc.ECDSA_SHA256,
		CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3|cvc.ISReadDG4), Effective: today, Expiration: today.AddDays(365)}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &authority.Issuer{Path: []*cvc.Certificate{cert}, Signer: key, Policy: authority.DefaultPolicy()}
}
