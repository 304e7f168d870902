package trust

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/catest"
	"eacgate/store"
)

// openStore opens an SQLite store in the test's directory, closed at its end.
func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// newRequest makes a request for chr naming car with a new brainpoolP256r1 key, authenticated
// by outerKey as outerCAR when outerCAR is set.
func newRequest(t testing.TB, chr, car, outerCAR string, outerKey *ecc.PrivateKey) (*cvc.Request, *ecc.PrivateKey) {
	t.Helper()
	key, err := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	if err != nil {
		t.Fatal(err)
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: car, CHR: chr}, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	if outerCAR != "" {
		if req, err = req.Authenticate(outerCAR, outerKey, cvc.ECDSA_SHA256); err != nil {
			t.Fatal(err)
		}
	}
	return req, key
}

// newLink rolls cvca over to a new key: its link certificate chr, and the issuer under it.
func newLink(t testing.TB, cvca *authority.Issuer, chr string) (*cvc.Certificate, *authority.Issuer) {
	t.Helper()
	key, err := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	today := cvc.DateOf(time.Now())
	link, err := authority.NewLink(authority.CVCASpec{CHR: chr, Algorithm: cvc.ECDSA_SHA256, CHAT: cvca.Certificate().CHAT,
		Effective: today, Expiration: today.AddDays(365)}, key, cvca.Certificate(), cvca.Signer)
	if err != nil {
		t.Fatal(err)
	}
	path := append(append([]*cvc.Certificate(nil), cvca.Path...), link)
	return link, &authority.Issuer{Path: path, Signer: key, Policy: cvca.Policy}
}

func chrs(t testing.TB, s *Store, country string) string {
	t.Helper()
	chain, err := s.Chain(context.Background(), country)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range chain {
		out = append(out, c.CHR)
	}
	return strings.Join(out, " ")
}

// A first root is taken on first use only without pins; with pins only a pinned one, the pin
// compared without regard to case and surrounding spaces.
func TestFirstRootTrust(t *testing.T) {
	root := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1").Certificate()
	fp := CertificateSHA256(root)
	if len(fp) != 64 || strings.ToLower(fp) != fp {
		t.Fatalf("fingerprint %q: want 64 lower-case hex digits", fp)
	}
	other := CertificateSHA256(catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1").Certificate())
	for name, tc := range map[string]struct {
		pins            []string
		trusted, pinned bool
	}{
		"no pins":           {nil, true, false},
		"pinned":            {[]string{other, fp}, true, true},
		"pinned, formatted": {[]string{"  " + strings.ToUpper(fp) + "\n"}, true, true},
		"another pin":       {[]string{other}, false, false},
		"an empty pin":      {[]string{""}, false, false},
	} {
		if trusted, pinned := FirstRootTrust(root, tc.pins); trusted != tc.trusted || pinned != tc.pinned {
			t.Errorf("%s: trusted %v pinned %v, want %v %v", name, trusted, pinned, tc.trusted, tc.pinned)
		}
	}
}

// A country's first root is stored only when it is trusted as one; later CVCA certificates
// only when they chain to the stored ones (link certificates, also through an earlier link).
// One already stored is no error and not added again.
func TestAddCVCACertificate(t *testing.T) {
	ctx := context.Background()
	s := New(openStore(t))
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	impostor := catest.CVCA(t, "ZZCVCA00002", "brainpoolP256r1")
	link2, zz2 := newLink(t, zz, "ZZCVCA00002")
	link3, _ := newLink(t, zz2, "ZZCVCA00003")
	req, _ := newRequest(t, "ZZDVA00001", "ZZCVCA00001", "", nil)
	dv, err := zz.Issue(req.Raw, authority.Applicant{Country: "ZZ", Mnemonic: "DVA", Role: cvc.RoleDVDomestic, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name      string
		c         *cvc.Certificate
		firstRoot bool
		added     bool
		err       error
	}{
		{"a DV certificate", dv, true, false, ErrUnverified},
		{"root, not trusted as one", zz.Certificate(), false, false, ErrUnverified},
		{"link before its root", link2, false, false, ErrUnverified},
		{"root, trusted", zz.Certificate(), true, true, nil},
		{"root again", zz.Certificate(), false, false, nil},
		{"another root of the country", impostor.Certificate(), true, false, ErrUnverified},
		{"link", link2, false, true, nil},
		{"link through the earlier link", link3, false, true, nil},
		{"link again", link3, false, false, nil},
	}
	for _, st := range steps {
		added, err := s.AddCVCACertificate(ctx, st.c, st.firstRoot)
		if added != st.added || !errors.Is(err, st.err) || (st.err == nil && err != nil) {
			t.Fatalf("%s: added %v, %v; want %v, %v", st.name, added, err, st.added, st.err)
		}
	}
	if got := chrs(t, s, "ZZ"); got != "ZZCVCA00001 ZZCVCA00002 ZZCVCA00003" {
		t.Fatalf("ZZ chain: %s", got)
	}
}

// An announced certificate (SendCertificates without a messageID) is taken only as a link
// certificate of the sender's country: never as a first root, never another country's.
func TestAddLink(t *testing.T) {
	ctx := context.Background()
	s := New(openStore(t))
	ut := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1")
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	if err := s.AddLink(ctx, "UT", ut.Certificate()); !errors.Is(err, ErrUnverified) {
		t.Fatalf("a root announced: %v, want ErrUnverified", err)
	}
	if _, err := s.AddCVCACertificate(ctx, ut.Certificate(), true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddCVCACertificate(ctx, zz.Certificate(), true); err != nil {
		t.Fatal(err)
	}
	zzLink, _ := newLink(t, zz, "ZZCVCA00002")
	utLink, _ := newLink(t, ut, "UTCVCA00002")
	stranger := catest.CVCA(t, "UTCVCA00003", "brainpoolP256r1").Certificate()
	for name, c := range map[string]*cvc.Certificate{"another country's link": zzLink, "an unlinked root": stranger} {
		if err := s.AddLink(ctx, "UT", c); !errors.Is(err, ErrUnverified) {
			t.Errorf("%s: %v, want ErrUnverified", name, err)
		}
	}
	for range 2 {
		if err := s.AddLink(ctx, "UT", utLink); err != nil {
			t.Fatalf("link: %v", err)
		}
	}
	if got := chrs(t, s, "UT") + " / " + chrs(t, s, "ZZ"); got != "UTCVCA00001 UTCVCA00002 / ZZCVCA00001" {
		t.Fatalf("chains: %s", got)
	}
}

// The certificates received for a request are taken only when they answer it: the request's
// CHR and key, signed through the stored CVCA certificates of the issuer's country (and CVCA
// certificates received with them), not expired.
func TestVerifyAnswer(t *testing.T) {
	ctx := context.Background()
	s := New(openStore(t))
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	impostor := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1") // same CHR, another key
	link, zz2 := newLink(t, zz, "ZZCVCA00002")
	req, _ := newRequest(t, "UTDVN00002", "", "", nil) // no CAR: either ZZ key may answer it
	otherReq, _ := newRequest(t, "UTDVN00002", "", "", nil)
	app := authority.Applicant{Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVForeign, Status: authority.StatusActive}
	issue := func(is *authority.Issuer, raw []byte) []byte {
		t.Helper()
		c, err := is.Issue(raw, app)
		if err != nil {
			t.Fatal(err)
		}
		return c.Raw
	}
	good := issue(zz, req.Raw)
	if _, _, err := s.VerifyAnswer(ctx, req.Raw, [][]byte{good}, time.Now()); !errors.Is(err, ErrAnswerUnverified) || !errors.Is(err, ErrNoCVCAChain) {
		t.Fatalf("nothing of ZZ stored: %v, want ErrNoCVCAChain in ErrAnswerUnverified", err)
	}
	if _, err := s.AddCVCACertificate(ctx, zz.Certificate(), true); err != nil {
		t.Fatal(err)
	}
	expired := &authority.Issuer{Path: zz.Path, Signer: zz.Signer, Policy: zz.Policy,
		Now: func() time.Time { return time.Now().AddDate(0, 0, -200) }}
	underLink := issue(zz2, req.Raw)
	for name, certs := range map[string][][]byte{
		"another key":               {issue(zz, otherReq.Raw)},
		"unknown CVCA key":          {issue(impostor, req.Raw)},
		"no certificate":            nil,
		"garbage":                   {{0x7f, 0x21, 0x01}},
		"CVCA only":                 {zz.Certificate().Raw},
		"expired":                   {issue(expired, req.Raw)},
		"answer plus extra":         {good, issue(zz, otherReq.Raw)},
		"under a link not received": {underLink},
	} {
		if _, _, err := s.VerifyAnswer(ctx, req.Raw, certs, time.Now()); !errors.Is(err, ErrAnswerUnverified) || errors.Is(err, ErrNoCVCAChain) {
			t.Errorf("%s: %v, want ErrAnswerUnverified", name, err)
		}
	}
	if _, _, err := s.VerifyAnswer(ctx, []byte{1, 2, 3}, [][]byte{good}, time.Now()); !errors.Is(err, ErrAnswerUnverified) {
		t.Errorf("unparsable request: %v, want ErrAnswerUnverified", err)
	}
	for name, certs := range map[string][][]byte{
		"with the CVCA":             {good, zz.Certificate().Raw},
		"under a link received too": {underLink, link.Raw},
	} {
		issued, result, err := s.VerifyAnswer(ctx, req.Raw, certs, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(issued) != 1 || issued[0].CHR != "UTDVN00002" || string(result) != string(certs[0])+string(certs[1]) {
			t.Fatalf("%s: issued %d, result of %d bytes", name, len(issued), len(result))
		}
	}
	if got := chrs(t, s, "ZZ"); got != "ZZCVCA00001" {
		t.Fatalf("a received link was stored: %s", got)
	}
}

// A request leaving the country must carry the outer signature of the requester's current
// certificate, valid on the day; the domain parameters come from the chain it was issued
// under.
func TestVerifyOuter(t *testing.T) {
	ut := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1")
	app := authority.Applicant{Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVDomestic, Status: authority.StatusActive}
	first, dvKey := newRequest(t, "UTDVN00001", "", "", nil)
	current, err := ut.Issue(first.Raw, app)
	if err != nil {
		t.Fatal(err)
	}
	second, otherKey := newRequest(t, "UTDVN00002", "", "", nil)
	older, err := ut.Issue(second.Raw, app)
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := newRequest(t, "UTDVN00003", "ZZCVCA00001", current.CHR, dvKey)
	now := time.Now()
	if err := VerifyOuter(signed, current, ut.Path, now); err != nil {
		t.Fatalf("signed by the current certificate: %v", err)
	}
	unsigned, _ := newRequest(t, "UTDVN00003", "ZZCVCA00001", "", nil)
	byOther, _ := newRequest(t, "UTDVN00003", "ZZCVCA00001", older.CHR, otherKey)
	forged, _ := newRequest(t, "UTDVN00003", "ZZCVCA00001", current.CHR, otherKey)
	for name, tc := range map[string]struct {
		req    *cvc.Request
		domain []*cvc.Certificate
		now    time.Time
		want   error
	}{
		"not authenticated":                 {unsigned, ut.Path, now, cvc.ErrOuterSignature},
		"by another certificate":            {byOther, ut.Path, now, cvc.ErrOuterSignature},
		"naming current, another key":       {forged, ut.Path, now, cvc.ErrOuterSignature},
		"without the domain parameters":     {signed, nil, now, cvc.ErrOuterSignature},
		"current certificate expired":       {signed, ut.Path, now.AddDate(5, 0, 0), cvc.ErrExpired},
		"current certificate not yet valid": {signed, ut.Path, now.AddDate(0, 0, -2), cvc.ErrExpired},
	} {
		if err := VerifyOuter(tc.req, current, tc.domain, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// From a peer's GetCACertificates only the CVCA certificates of the peer's country are
// taken: the first root under its pin, then links that verify; the rest is skipped, and a
// refused root is logged with its SHA-256 for the operators.
func TestAddFromPeer(t *testing.T) {
	ctx := context.Background()
	s := New(openStore(t))
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	impostor := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	qq := catest.CVCA(t, "QQCVCA00001", "brainpoolP256r1")
	link, _ := newLink(t, zz, "ZZCVCA00002")
	req, _ := newRequest(t, "ZZDVA00001", "", "", nil)
	dv, err := zz.Issue(req.Raw, authority.Applicant{Country: "ZZ", Mnemonic: "DVA", Role: cvc.RoleDVDomestic, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	pins := []string{CertificateSHA256(zz.Certificate())}

	n, err := s.AddFromPeer(ctx, "ZZ", [][]byte{impostor.Certificate().Raw, link.Raw}, pins, log)
	if err != nil || n != 0 {
		t.Fatalf("unpinned root: %d added, %v", n, err)
	}
	if !strings.Contains(logs.String(), CertificateSHA256(impostor.Certificate())) {
		t.Fatalf("the refused root's SHA-256 is not logged: %s", logs.String())
	}
	certs := [][]byte{{0x7f, 0x21, 0x01}, qq.Certificate().Raw, dv.Raw, zz.Certificate().Raw, link.Raw, impostor.Certificate().Raw}
	if n, err := s.AddFromPeer(ctx, "ZZ", certs, pins, log); err != nil || n != 2 {
		t.Fatalf("pinned root and link: %d added, %v", n, err)
	}
	if n, err := s.AddFromPeer(ctx, "ZZ", certs, pins, log); err != nil || n != 0 {
		t.Fatalf("again: %d added, %v", n, err)
	}
	if got := chrs(t, s, "ZZ") + " / " + chrs(t, s, "QQ"); got != "ZZCVCA00001 ZZCVCA00002 / " {
		t.Fatalf("chains: %q", got)
	}
	// Without pins the first root is taken on first use (the peer is authenticated by TLS),
	// but only one of the peer's own country.
	if n, err := s.AddFromPeer(ctx, "ZZ", [][]byte{qq.Certificate().Raw}, nil, log); err != nil || n != 0 {
		t.Fatalf("another country's root from ZZ: %d added, %v", n, err)
	}
	if n, err := s.AddFromPeer(ctx, "QQ", [][]byte{qq.Certificate().Raw}, nil, log); err != nil || n != 1 {
		t.Fatalf("first use: %d added, %v", n, err)
	}
}
