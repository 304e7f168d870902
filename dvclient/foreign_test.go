package dvclient

import (
	"context"
	"crypto"
	"crypto/rand"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/hsm"
	"eacgate/ra"
	"eacgate/store"
)

// The DV's certificates from foreign CVCAs become issuers for terminals: one per country,
// the newest unexpired certificate with the key made for it; a certificate whose key is
// missing, or that has expired, is left out; GetCACertificates at /dv lists the foreign
// chains after the domestic one.
func TestForeignDVChains(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	client := f.c
	dv := f.holder(t)
	reg := ra.NewStoreRegistry(f.st)
	prefix := client.Country + client.Mnemonic
	// foreignCert makes a foreign CVCA (stored), a DV key under the label the DV client
	// uses (unless keyless), and the DV's certificate from that CVCA, issued at issuedAt.
	cvcas := map[string]*authority.Issuer{}
	foreignCert := func(cvcaCHR, curve, chr string, issuedAt time.Time, keyless bool) *cvc.Certificate {
		t.Helper()
		is := cvcas[cvcaCHR]
		if is == nil {
			cvcaKey, _ := ecc.GenerateKey(ecc.CurveByName(curve), rand.Reader)
			start := cvc.DateOf(time.Now().AddDate(-1, 0, 0))
			root, err := authority.NewCVCA(authority.CVCASpec{CHR: cvcaCHR, Algorithm: cvc.ECDSA_SHA256,
				CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3|cvc.ISReadDG4), Effective: start, Expiration: start.AddDays(3 * 365)}, cvcaKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.st.AddCertificate(ctx, &store.Certificate{CHR: root.CHR, CAR: root.CAR, Role: store.RoleCVCA,
				NotBefore: root.EffectiveDate.Time(), NotAfter: root.ExpirationDate.Time(), Status: store.CertValid, Raw: root.Raw}); err != nil {
				t.Fatal(err)
			}
			is = &authority.Issuer{Path: []*cvc.Certificate{root}, Signer: cvcaKey, Policy: authority.DefaultPolicy()}
			cvcas[cvcaCHR] = is
		}
		var key crypto.Signer
		var err error
		if keyless {
			key, _ = ecc.GenerateKey(ecc.CurveByName(curve), rand.Reader)
		} else if key, err = f.keys.Generate(ctx, client.KeyLabel+"-"+cvcaCHR+"-"+chr, hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: curve}); err != nil {
			t.Fatal(err)
		}
		pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
		req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: cvcaCHR, CHR: chr}, pub, key)
		if err != nil {
			t.Fatal(err)
		}
		is.Now = func() time.Time { return issuedAt }
		cert, err := is.Issue(req.Raw, authority.Applicant{Country: client.Country, Mnemonic: client.Mnemonic,
			Role: cvc.RoleDVForeign, Status: authority.StatusActive})
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.RecordCertificate(ctx, dv.ID, cert); err != nil {
			t.Fatal(err)
		}
		return cert
	}
	zz := foreignCert("ZZCVCA00001", "P-256", prefix+"00002", time.Now(), false)
	qq := foreignCert("QQCVCA00001", "brainpoolP256r1", prefix+"00003", time.Now(), true)
	yy := foreignCert("YYCVCA00001", "brainpoolP256r1", prefix+"00004", time.Now().AddDate(0, 0, -200), false)
	if err := client.LoadForeign(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	is := client.ForeignIssuer(zz.CHR)
	if is == nil || !is.Certificate().Equal(zz) || len(is.Path) != 2 || is.Domain().Name() != "P-256" {
		t.Fatalf("ZZ issuer: %+v", is)
	}
	for _, c := range []*cvc.Certificate{qq, yy, client.Current().Certificate()} {
		if client.ForeignIssuer(c.CHR) != nil {
			t.Errorf("issuer for %s", c.CHR)
		}
	}
	chains, err := client.Chains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(chains) != len(client.Current().Path)+2 || string(chains[len(chains)-1]) != string(zz.Raw) {
		t.Fatalf("GetCACertificates: %d certificates", len(chains))
	}

	// A renewed ZZ certificate takes over; the earlier one stays accepted as CAR.
	zz2 := foreignCert("ZZCVCA00001", "P-256", prefix+"00005", time.Now(), false)
	if err := client.LoadForeign(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, chr := range []string{zz.CHR, zz2.CHR} {
		if is := client.ForeignIssuer(chr); is == nil || !is.Certificate().Equal(zz2) {
			t.Fatalf("issuer for %s: %+v", chr, is)
		}
	}
}
