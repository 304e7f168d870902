package authority

import (
	"errors"
	"testing"

	"eacgate/cvc"
)

// An authenticated renewal must name a CHR whose sequence number is above the current
// certificate's: naming the current CHR again (or an earlier one) is refused.
func TestRenewalSequenceNumberMustIncrease(t *testing.T) {
	f := newFixture(t)
	dvKey := genKey(t, "brainpoolP256r1")
	cur, err := f.cvca.Issue(request(t, "UTDVBORDER00005", "UTCVCA00001", cvc.ECDSA_SHA256, dvKey).Raw, f.dvApp)
	if err != nil {
		t.Fatal(err)
	}
	f.dvApp.Current = cur
	for _, chr := range []string{"UTDVBORDER00005", "UTDVBORDER00004", "UTDVBORDER00001"} {
		req := request(t, chr, "UTCVCA00001", cvc.ECDSA_SHA256, genKey(t, "brainpoolP256r1"))
		auth, err := req.Authenticate(cur.CHR, dvKey, cvc.ECDSA_SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.cvca.Issue(auth.Raw, f.dvApp); !errors.Is(err, ErrNotAccepted) || CodeFor(err) != FailureRequestNotAccepted {
			t.Errorf("renewal as %s: %v", chr, err)
		}
	}
	req := request(t, "UTDVBORDER00006", "UTCVCA00001", cvc.ECDSA_SHA256, genKey(t, "brainpoolP256r1"))
	auth, err := req.Authenticate(cur.CHR, dvKey, cvc.ECDSA_SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cvca.Issue(auth.Raw, f.dvApp); err != nil {
		t.Fatalf("renewal as UTDVBORDER00006: %v", err)
	}
}
