package ra

import (
	"context"
	"crypto/rand"
	"testing"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/catest"
	"eacgate/msg"
)

// testRequest makes a request for chr with a new key on curve, naming car (may be empty),
// authenticated by outer's key when outer is set.
func testRequest(t testing.TB, curve, chr, car string, outer *cvc.Certificate, outerKey *ecc.PrivateKey) ([]byte, *ecc.PrivateKey) {
	t.Helper()
	key, _ := ecc.GenerateKey(ecc.CurveByName(curve), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: car, CHR: chr}, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	if outer != nil {
		if req, err = req.Authenticate(outer.CHR, outerKey, cvc.ECDSA_SHA256); err != nil {
			t.Fatal(err)
		}
	}
	return req.Raw, key
}

// A DV holding a domestic certificate and one from a foreign CVCA (another curve) certifies
// a terminal in both chains: a request naming the foreign DV certificate as CAR is issued
// under it, and each chain's renewals are authenticated by the terminal's current
// certificate of that chain, whichever of its certificates is newest.
func TestTerminalInTwoChains(t *testing.T) {
	ctx := context.Background()
	ut, zz := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1"), catest.CVCA(t, "ZZCVCA00001", "P-256")
	dvReq, dvKey := testRequest(t, "brainpoolP256r1", "UTDVA00001", "", nil, nil)
	dvDom, err := ut.Issue(dvReq, authority.Applicant{Country: "UT", Mnemonic: "DVA", Role: cvc.RoleDVDomestic, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	zzReq, zzKey := testRequest(t, "P-256", "UTDVA00002", "ZZCVCA00001", nil, nil)
	dvZZ, err := zz.Issue(zzReq, authority.Applicant{Country: "UT", Mnemonic: "DVA", Role: cvc.RoleDVForeign, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	domestic := &authority.Issuer{Path: []*cvc.Certificate{ut.Certificate(), dvDom}, Signer: dvKey, Policy: authority.DefaultPolicy()}
	foreign := &authority.Issuer{Path: []*cvc.Certificate{zz.Certificate(), dvZZ}, Signer: zzKey, Policy: authority.DefaultPolicy()}
	reg := newMemRegistry()
	reg.holders["fp-t"] = &Holder{ID: 2, Country: "UT", Mnemonic: "TERM1", Role: cvc.RoleTerminal, Status: authority.StatusActive}
	svc := &IssuingService{Issuer: domestic, Registry: reg, ByCAR: func(car string) *authority.Issuer {
		if car == dvZZ.CHR {
			return foreign
		}
		return nil
	}}
	term := msg.Caller{Fingerprint: "fp-t"}
	n := 0
	send := func(raw []byte) msg.Answer {
		n++
		return svc.Handle(ctx, term, msg.Message{Operation: "RequestCertificate", MessageID: "m" + string(rune('a'+n)), CertReq: raw})
	}
	issued := func(t *testing.T, a msg.Answer, car string, anchor *cvc.Certificate, dv *cvc.Certificate) *cvc.Certificate {
		t.Helper()
		if a.ReturnCode != authority.OKCertAvailable {
			t.Fatalf("%s", a.ReturnCode)
		}
		c, err := cvc.ParseCertificate(a.Certificates[0])
		if err != nil {
			t.Fatal(err)
		}
		if c.CAR != car {
			t.Fatalf("%s issued under %s, want %s", c.CHR, c.CAR, car)
		}
		if _, err := cvc.Verify(c, cvc.VerifyOptions{Anchors: []*cvc.Certificate{anchor}, Intermediates: []*cvc.Certificate{dv}}); err != nil {
			t.Fatalf("%s: %v", c.CHR, err)
		}
		return c
	}

	r1, k1 := testRequest(t, "brainpoolP256r1", "UTTERM100001", "", nil, nil)
	t1 := issued(t, send(r1), "UTDVA00001", ut.Certificate(), dvDom)
	// The first certificate of the foreign chain: unauthenticated (nothing from that chain
	// yet), although the terminal holds a valid domestic one.
	r2, k2 := testRequest(t, "P-256", "UTTERM100002", "UTDVA00002", nil, nil)
	z1 := issued(t, send(r2), "UTDVA00002", zz.Certificate(), dvZZ)
	// Domestic renewal by the domestic certificate, while the foreign one is newer.
	r3, k3 := testRequest(t, "brainpoolP256r1", "UTTERM100003", "", t1, k1)
	t2 := issued(t, send(r3), "UTDVA00001", ut.Certificate(), dvDom)
	// Foreign renewal by the foreign certificate.
	r4, _ := testRequest(t, "P-256", "UTTERM100004", "UTDVA00002", z1, k2)
	issued(t, send(r4), "UTDVA00002", zz.Certificate(), dvZZ)

	for name, tc := range map[string]struct {
		raw  []byte
		want authority.ReturnCode
	}{
		"foreign again unauthenticated":    {first(testRequest(t, "P-256", "UTTERM100005", "UTDVA00002", nil, nil)), authority.FailureRequestNotAccepted},
		"foreign signed by domestic":       {first(testRequest(t, "P-256", "UTTERM100005", "UTDVA00002", t2, k3)), authority.FailureOuterSignature},
		"domestic signed by foreign":       {first(testRequest(t, "brainpoolP256r1", "UTTERM100005", "", z1, k2)), authority.FailureOuterSignature},
		"foreign chain, domestic curve":    {first(testRequest(t, "brainpoolP256r1", "UTTERM100005", "UTDVA00002", nil, nil)), authority.FailureDomainParameters},
		"a CAR that is no DV certificate":  {first(testRequest(t, "brainpoolP256r1", "UTTERM100005", "QQDVX00001", t2, k3)), authority.FailureRequestNotAccepted},
		"domestic again unauthenticated":   {first(testRequest(t, "brainpoolP256r1", "UTTERM100005", "", nil, nil)), authority.FailureRequestNotAccepted},
		"foreign CVCA named, not the DV":   {first(testRequest(t, "P-256", "UTTERM100005", "ZZCVCA00001", nil, nil)), authority.FailureRequestNotAccepted},
		"domestic named by its CHR, renew": {first(testRequest(t, "brainpoolP256r1", "UTTERM100005", "UTDVA00001", t2, k3)), authority.OKCertAvailable},
	} {
		if got := send(tc.raw).ReturnCode; got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

func first(raw []byte, _ *ecc.PrivateKey) []byte { return raw }

// An endpoint without an issuer (the /cvca of a SPOC without a CVCA) refuses certificate
// requests, synchronous or not.
func TestNoIssuerRefuses(t *testing.T) {
	reg := newMemRegistry()
	reg.holders["fp-dv"] = &Holder{ID: 1, Country: "UT", Mnemonic: "DVA", Role: cvc.RoleDVDomestic, Status: authority.StatusActive}
	raw, _ := testRequest(t, "brainpoolP256r1", "UTDVA00001", "", nil, nil)
	for _, mode := range []Mode{ModeSync, ModeAsync} {
		svc := &IssuingService{Registry: reg, Mode: func(*Holder, msg.Message) Mode { return mode }}
		m := msg.Message{Operation: "RequestCertificate", MessageID: "n-" + mode.String(), CertReq: raw, CallbackPossible: true, ResponseURL: "https://dv.example/cb"}
		if got := svc.Handle(context.Background(), msg.Caller{Fingerprint: "fp-dv"}, m).ReturnCode; got != authority.FailureRequestNotAccepted {
			t.Errorf("%s: %s", mode, got)
		}
	}
	svc := &IssuingService{Registry: reg}
	m := msg.Message{Operation: "GetCACertificates", MessageID: "chain"}
	if got := svc.Handle(context.Background(), msg.Caller{Fingerprint: "fp-dv"}, m).ReturnCode; got != authority.FailureRequestNotAccepted {
		t.Errorf("GetCACertificates without a chain: %s", got)
	}
}
