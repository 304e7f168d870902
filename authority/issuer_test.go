package authority

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
)

func genKey(t *testing.T, curve string) *ecc.PrivateKey {
	t.Helper()
	k, err := ecc.GenerateKey(ecc.CurveByName(curve), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func request(t *testing.T, chr, car string, alg cvc.Algorithm, k crypto.Signer) *cvc.Request {
	t.Helper()
	pub, err := cvc.NewPublicKey(alg, k.Public(), true)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cvc.NewRequest(cvc.RequestTemplate{CAR: car, CHR: chr}, pub, k)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type fixture struct {
	now     time.Time
	cvcaKey *ecc.PrivateKey
	cvca    *Issuer
	dvApp   Applicant
}

func newFixture(t *testing.T) *fixture {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	k := genKey(t, "brainpoolP256r1")
	cert, err := NewCVCA(CVCASpec{
		CHR: "UTCVCA00001", Algorithm: cvc.ECDSA_SHA256, CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3|cvc.ISReadDG4),
		Effective: cvc.DateOf(now), Expiration: cvc.DateOf(now).AddDays(365),
	}, k)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		now: now, cvcaKey: k,
		cvca:  &Issuer{Path: []*cvc.Certificate{cert}, Signer: k, Policy: DefaultPolicy(), Now: func() time.Time { return now }},
		dvApp: Applicant{Country: "UT", Mnemonic: "DVBORDER", Role: cvc.RoleDVDomestic, Status: StatusActive},
	}
}

func TestIssueInitialAndRenewal(t *testing.T) {
	f := newFixture(t)
	dvKey := genKey(t, "brainpoolP256r1")
	req := request(t, "UTDVBORDER00001", "UTCVCA00001", cvc.ECDSA_SHA256, dvKey)
	cert, err := f.cvca.Issue(req.Raw, f.dvApp)
	if err != nil {
		t.Fatal(err)
	}
	if cert.CAR != "UTCVCA00001" || cert.Role() != cvc.RoleDVDomestic || cert.PublicKey.HasDomainParameters() {
		t.Fatalf("issued %+v", cert)
	}
	if cert.EffectiveDate != cvc.DateOf(f.now) || cert.ExpirationDate != cvc.DateOf(f.now).AddDays(89) {
		t.Fatalf("validity %s..%s", cert.EffectiveDate, cert.ExpirationDate)
	}
	if _, err := cvc.Verify(cert, cvc.VerifyOptions{Anchors: f.cvca.Path, At: f.now}); err != nil {
		t.Fatal(err)
	}

	// Renewal: authenticated by the current certificate.
	f.dvApp.Current = cert
	newKey := genKey(t, "brainpoolP256r1")
	renewal, err := request(t, "UTDVBORDER00002", "UTCVCA00001", cvc.ECDSA_SHA256, newKey).Authenticate(cert.CHR, dvKey, cvc.ECDSA_SHA256)
	if err != nil {
		t.Fatal(err)
	}
	cert2, err := f.cvca.Issue(renewal.Raw, f.dvApp)
	if err != nil {
		t.Fatal(err)
	}
	if cert2.CHR != "UTDVBORDER00002" {
		t.Fatal(cert2.CHR)
	}

	// The DV now issues a terminal certificate, with rights narrowed to its own.
	f.dvApp.Current = cert2
	f.dvApp.Rights = []byte{cvc.ISReadDG3}
	cert3, err := f.cvca.Issue(mustAuth(t, request(t, "UTDVBORDER00003", "", cvc.ECDSA_SHA256, genKey(t, "brainpoolP256r1")), cert2.CHR, newKey).Raw, f.dvApp)
	if err != nil {
		t.Fatal(err)
	}
	dv := &Issuer{Path: []*cvc.Certificate{f.cvca.Path[0], cert2}, Signer: newKey, Policy: DefaultPolicy(), Now: f.cvca.Now}
	termKey := genKey(t, "brainpoolP256r1")
	term, err := dv.Issue(request(t, "UTISGATE0100001", "UTDVBORDER00002", cvc.ECDSA_SHA256, termKey).Raw,
		Applicant{Country: "UT", Mnemonic: "ISGATE01", Role: cvc.RoleTerminal, Status: StatusActive, Rights: []byte{0xFF}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(term.CHAT.Bits, []byte{cvc.ISReadDG3 | cvc.ISReadDG4}) {
		t.Fatalf("terminal CHAT % X", term.CHAT.Bits)
	}
	if _, err := cvc.Verify(term, cvc.VerifyOptions{Anchors: f.cvca.Path, Intermediates: []*cvc.Certificate{cert2}, At: f.now}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cert3.CHAT.Bits, []byte{0x80 | cvc.ISReadDG3}) {
		t.Fatalf("narrowed DV CHAT % X", cert3.CHAT.Bits)
	}
}

func mustAuth(t *testing.T, r *cvc.Request, car string, k crypto.Signer) *cvc.Request {
	t.Helper()
	a, err := r.Authenticate(car, k, cvc.ECDSA_SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Every refusal the synchronous issuing path can give, with its return code.
func TestIssueRefusals(t *testing.T) {
	f := newFixture(t)
	dvKey := genKey(t, "brainpoolP256r1")
	current, err := f.cvca.Issue(request(t, "UTDVBORDER00001", "", cvc.ECDSA_SHA256, dvKey).Raw, f.dvApp)
	if err != nil {
		t.Fatal(err)
	}
	withCurrent := f.dvApp
	withCurrent.Current = current
	newKey := genKey(t, "brainpoolP256r1")
	good := mustAuth(t, request(t, "UTDVBORDER00002", "UTCVCA00001", cvc.ECDSA_SHA256, newKey), current.CHR, dvKey)

	tamper := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	otherKey := genKey(t, "brainpoolP256r1")
	cases := []struct {
		name string
		raw  []byte
		app  Applicant
		now  time.Time
		want ReturnCode
	}{
		{"good renewal", good.Raw, withCurrent, f.now, OKCertAvailable},
		{"syntax", good.Raw[:len(good.Raw)-2], withCurrent, f.now, FailureSyntax},
		{"garbage", []byte("<xml/>"), withCurrent, f.now, FailureSyntax},
		{"inner signature", mustAuth(t, func() *cvc.Request {
			r := request(t, "UTDVBORDER00002", "", cvc.ECDSA_SHA256, newKey)
			r.InnerSignature = tamper(r.InnerSignature, 3)
			raw, _ := r.Encode()
			r, _ = cvc.ParseRequest(raw)
			return r
		}(), current.CHR, dvKey).Raw, withCurrent, f.now, FailureInnerSignature},
		{"outer signature by another key", mustAuth(t, request(t, "UTDVBORDER00002", "", cvc.ECDSA_SHA256, newKey), current.CHR, otherKey).Raw, withCurrent, f.now, FailureOuterSignature},
		{"outer CAR not the current certificate", mustAuth(t, request(t, "UTDVBORDER00002", "", cvc.ECDSA_SHA256, newKey), "UTDVBORDER00000", dvKey).Raw, withCurrent, f.now, FailureOuterSignature},
		{"expired current certificate", good.Raw, withCurrent, f.now.AddDate(0, 6, 0), FailureExpired},
		{"P-256 key under a brainpool CVCA", request(t, "UTDVBORDER00002", "", cvc.ECDSA_SHA256, genKey(t, "P-256")).Raw, f.dvApp, f.now, FailureDomainParameters},
		{"other hash", request(t, "UTDVBORDER00002", "", cvc.ECDSA_SHA384, newKey).Raw, f.dvApp, f.now, FailureDomainParameters},
		{"suspended", good.Raw, func() Applicant { a := withCurrent; a.Status = StatusSuspended; return a }(), f.now, FailureRequestNotAccepted},
		{"revoked", good.Raw, func() Applicant { a := withCurrent; a.Status = StatusRevoked; return a }(), f.now, FailureRequestNotAccepted},
		{"unregistered", good.Raw, Applicant{Country: "UT", Mnemonic: "DVBORDER", Role: cvc.RoleDVDomestic}, f.now, FailureRequestNotAccepted},
		{"CHR of another holder", request(t, "UTDVOTHER00002", "", cvc.ECDSA_SHA256, newKey).Raw, f.dvApp, f.now, FailureRequestNotAccepted},
		{"CAR of another CA", request(t, "UTDVBORDER00002", "XXCVCA00001", cvc.ECDSA_SHA256, newKey).Raw, f.dvApp, f.now, FailureRequestNotAccepted},
		{"unauthenticated renewal", request(t, "UTDVBORDER00002", "", cvc.ECDSA_SHA256, newKey).Raw, withCurrent, f.now, FailureRequestNotAccepted},
		{"reused key", mustAuth(t, request(t, "UTDVBORDER00002", "", cvc.ECDSA_SHA256, dvKey), current.CHR, dvKey).Raw, withCurrent, f.now, FailureRequestNotAccepted},
		{"terminal role at a CVCA", good.Raw, func() Applicant { a := withCurrent; a.Role = cvc.RoleTerminal; return a }(), f.now, FailureRequestNotAccepted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := *f.cvca
			now := tc.now
			is.Now = func() time.Time { return now }
			_, err := is.Issue(tc.raw, tc.app)
			if got := CodeFor(err); got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}

func TestLinkCertificate(t *testing.T) {
	f := newFixture(t)
	newKey := genKey(t, "brainpoolP256r1")
	spec := CVCASpec{CHR: "UTCVCA00002", Algorithm: cvc.ECDSA_SHA256, CHAT: f.cvca.Certificate().CHAT,
		Effective: cvc.DateOf(f.now), Expiration: cvc.DateOf(f.now).AddDays(700)}
	link, err := NewLink(spec, newKey, f.cvca.Certificate(), f.cvcaKey)
	if err != nil {
		t.Fatal(err)
	}
	if !link.IsLink() {
		t.Fatal("not a link certificate")
	}
	if _, err := cvc.Verify(link, cvc.VerifyOptions{Anchors: f.cvca.Path, At: f.now}); err != nil {
		t.Fatal(err)
	}
	// After the rollover the CVCA issues with the new key, and requests may still name the
	// old CHR.
	is := &Issuer{Path: []*cvc.Certificate{f.cvca.Certificate(), link}, Signer: newKey, OwnCHRs: []string{"UTCVCA00001"}, Policy: DefaultPolicy(), Now: f.cvca.Now}
	cert, err := is.Issue(request(t, "UTDVBORDER00001", "UTCVCA00001", cvc.ECDSA_SHA256, genKey(t, "brainpoolP256r1")).Raw, f.dvApp)
	if err != nil {
		t.Fatal(err)
	}
	if cert.CAR != "UTCVCA00002" {
		t.Fatal(cert.CAR)
	}
	if _, err := cvc.Verify(cert, cvc.VerifyOptions{Anchors: f.cvca.Path, Intermediates: []*cvc.Certificate{link}, At: f.now}); err != nil {
		t.Fatal(err)
	}
}

// A foreign DV's initial request authenticated by its domestic CVCA is issued only when the
// trust store verified that CVCA certificate (ForeignCVCA): without it the signature is not
// accepted, and the certificate must be the one the outer CAR names, of the DV's country,
// valid, while the DV holds no valid certificate from this issuer.
func TestForeignCVCAAuthenticatesInitialRequest(t *testing.T) {
	f := newFixture(t)
	zzKey := genKey(t, "brainpoolP256r1")
	mk := func(chr string, from, to cvc.Date) *cvc.Certificate {
		c, err := NewCVCA(CVCASpec{CHR: chr, Algorithm: cvc.ECDSA_SHA256, CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3),
			Effective: from, Expiration: to}, zzKey)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	today := cvc.DateOf(f.now)
	zz := mk("ZZCVCA00001", today.AddDays(-10), today.AddDays(300))
	expired := mk("ZZCVCA00001", today.AddDays(-400), today.AddDays(-1))
	qq := mk("QQCVCA00001", today.AddDays(-10), today.AddDays(300))
	req := request(t, "ZZDVF00001", "UTCVCA00001", cvc.ECDSA_SHA256, genKey(t, "brainpoolP256r1"))
	authed, err := req.Authenticate("ZZCVCA00001", zzKey, cvc.ECDSA_SHA256)
	if err != nil {
		t.Fatal(err)
	}
	app := Applicant{Country: "ZZ", Mnemonic: "DVF", Role: cvc.RoleDVForeign, Status: StatusActive}
	if _, err := f.cvca.Issue(authed.Raw, app); CodeFor(err) != FailureOuterSignature {
		t.Fatalf("unverified CVCA signature: %v", err)
	}
	cert, err := f.cvca.Issue(authed.Raw, Applicant{Country: "ZZ", Mnemonic: "DVF", Role: cvc.RoleDVForeign, Status: StatusActive, ForeignCVCA: zz})
	if err != nil {
		t.Fatalf("verified CVCA signature: %v", err)
	}
	for name, tc := range map[string]struct {
		cvca    *cvc.Certificate
		current *cvc.Certificate
		want    ReturnCode
	}{
		"expired CVCA certificate":   {expired, nil, FailureExpired},
		"another country's CVCA":     {qq, nil, FailureOuterSignature},
		"the DV holds a valid one":   {zz, cert, FailureOuterSignature},
		"a DV certificate, not CVCA": {cert, nil, FailureOuterSignature},
	} {
		a := app
		a.ForeignCVCA, a.Current = tc.cvca, tc.current
		if _, err := f.cvca.Issue(authed.Raw, a); CodeFor(err) != tc.want {
			t.Errorf("%s: %v, want %s", name, err, tc.want)
		}
	}
}
