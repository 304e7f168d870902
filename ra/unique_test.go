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
	"eacgate/store"
)

// staleRegistry reads holders as a request that raced with another one did: before the
// other's certificate was stored.
type staleRegistry struct{ *StoreRegistry }

func (r staleRegistry) HolderByFingerprint(ctx context.Context, fp string) (*Holder, error) {
	h, err := r.StoreRegistry.HolderByFingerprint(ctx, fp)
	if h != nil {
		h.Current = nil
	}
	return h, err
}

func (r staleRegistry) CurrentCertificate(context.Context, int64) (*cvc.Certificate, error) {
	return nil, ErrUnknown
}

// uniqueFixture is a CVCA issuing service on a store with DV holders DVX, DVY, DVZ.
type uniqueFixture struct {
	st   *store.Store
	cvca *authority.Issuer
	svc  *IssuingService
	n    int
}

func newUniqueFixture(t *testing.T) *uniqueFixture {
	ctx := context.Background()
	st := openTestStore(t)
	cvca := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1")
	root := cvca.Certificate()
	if err := st.AddCertificate(ctx, &store.Certificate{CHR: root.CHR, CAR: root.CAR, Role: store.RoleCVCA,
		NotBefore: root.EffectiveDate.Time(), NotAfter: root.ExpirationDate.Time(), Raw: root.Raw}); err != nil {
		t.Fatal(err)
	}
	for _, mn := range []string{"DVX", "DVY", "DVZ"} {
		if err := st.CreateHolder(ctx, &store.Holder{Country: "UT", Mnemonic: mn, Role: store.RoleDVDomestic, TLSFingerprint: "fp-" + mn}); err != nil {
			t.Fatal(err)
		}
	}
	return &uniqueFixture{st: st, cvca: cvca, svc: &IssuingService{Issuer: cvca, Registry: NewStoreRegistry(st)}}
}

func dvKey(t *testing.T) *ecc.PrivateKey {
	t.Helper()
	k, err := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// request sends a request for chr with key (authenticated by outer under outerCHR when not
// nil) as holder mn and returns the answer.
func (f *uniqueFixture) request(t *testing.T, mn, chr string, key, outer *ecc.PrivateKey, outerCHR string) msg.Answer {
	t.Helper()
	pub, err := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	if err != nil {
		t.Fatal(err)
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: "UTCVCA00001", CHR: chr}, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	if outer != nil {
		if req, err = req.Authenticate(outerCHR, outer, cvc.ECDSA_SHA256); err != nil {
			t.Fatal(err)
		}
	}
	f.n++
	m := msg.Message{Operation: "RequestCertificate", MessageID: "m-" + chr + "-" + string(rune('a'+f.n)), CertReq: req.Raw}
	return f.svc.Handle(context.Background(), msg.Caller{Fingerprint: "fp-" + mn, RemoteAddr: "127.0.0.1:1"}, m)
}

// A key certified before, not only the current one, is refused: for the same holder's
// renewal and for another holder.
func TestEarlierKeyNotCertifiedAgain(t *testing.T) {
	f := newUniqueFixture(t)
	k1, k2 := dvKey(t), dvKey(t)
	if a := f.request(t, "DVX", "UTDVX00001", k1, nil, ""); a.ReturnCode != authority.OKCertAvailable {
		t.Fatalf("initial: %s", a.ReturnCode)
	}
	if a := f.request(t, "DVX", "UTDVX00002", k2, k1, "UTDVX00001"); a.ReturnCode != authority.OKCertAvailable {
		t.Fatalf("renewal: %s", a.ReturnCode)
	}
	if a := f.request(t, "DVX", "UTDVX00003", k1, k2, "UTDVX00002"); a.ReturnCode != authority.FailureRequestNotAccepted {
		t.Errorf("renewal back to the first key: %s", a.ReturnCode)
	}
	if a := f.request(t, "DVY", "UTDVY00001", k2, nil, ""); a.ReturnCode != authority.FailureRequestNotAccepted {
		t.Errorf("another holder with a certified key: %s", a.ReturnCode)
	}
	if rows, _ := f.st.CertificatesByCAR(context.Background(), "UTCVCA00001"); len(rows) != 3 { // the CVCA root and two DV certificates
		t.Errorf("%d certificates stored, want 3", len(rows))
	}
}

// Of two requests for one CHR that raced (both read the holder before either's certificate
// was stored), one gets the certificate and the other a clean refusal, stored as its answer.
func TestRacingRequestsForOneCHR(t *testing.T) {
	f := newUniqueFixture(t)
	if a := f.request(t, "DVZ", "UTDVZ00001", dvKey(t), nil, ""); a.ReturnCode != authority.OKCertAvailable {
		t.Fatalf("first: %s", a.ReturnCode)
	}
	f.svc.Registry = staleRegistry{f.svc.Registry.(*StoreRegistry)}
	a := f.request(t, "DVZ", "UTDVZ00001", dvKey(t), nil, "")
	if a.ReturnCode != authority.FailureRequestNotAccepted || len(a.Certificates) != 0 {
		t.Fatalf("second: %s with %d certificates", a.ReturnCode, len(a.Certificates))
	}
	rows, err := f.st.CertificatesByCHR(context.Background(), "UTDVZ00001")
	if err != nil || len(rows) != 1 {
		t.Fatalf("%d certificates UTDVZ00001: %v", len(rows), err)
	}
	prev, err := f.st.MessageAnswerByOriginator(context.Background(), Originator(*rows[0].HolderID), "m-UTDVZ00001-"+string(rune('a'+f.n)))
	if err != nil || prev.ReturnCode != string(authority.FailureRequestNotAccepted) {
		t.Fatalf("stored answer of the refused request: %+v %v", prev, err)
	}
}
