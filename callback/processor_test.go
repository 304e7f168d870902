package callback

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/catest"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
	"eacgate/trust"
)

// A foreign DV's request queued from /spoc has its outer signature checked again when it is
// processed (TR-03139 Table 2 step 9): an initial one signed by the registered CVCA of the
// DV's country is issued; an unauthenticated one, or one whose CVCA certificate has expired
// by then, is refused with its code and audited, and nothing is issued.
func TestQueuedForeignRequestVerified(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	tr := trust.New(st)
	ut := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1")
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	for _, c := range []*cvc.Certificate{ut.Certificate(), zz.Certificate()} {
		if _, err := tr.AddCVCACertificate(ctx, c, true); err != nil {
			t.Fatal(err)
		}
	}
	dv := &store.Holder{Country: "ZZ", Mnemonic: "DVF", Role: store.RoleDVForeign, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, dv); err != nil {
		t.Fatal(err)
	}
	request := func(chr string, signed bool) []byte {
		key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
		pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
		req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: "UTCVCA00001", CHR: chr}, pub, key)
		if err != nil {
			t.Fatal(err)
		}
		if signed {
			if req, err = req.Authenticate("ZZCVCA00001", zz.Signer, cvc.ECDSA_SHA256); err != nil {
				t.Fatal(err)
			}
		}
		return req.Raw
	}
	issuer := *ut
	p := &IssuerProcessor{Registry: ra.NewStoreRegistry(st), Issuer: func(string) *authority.Issuer { return &issuer }}
	hid := dv.ID
	process := func(id string, raw []byte) (authority.ReturnCode, *store.Certificate) {
		t.Helper()
		code, row, err := p.Process(ctx, &store.Message{MessageID: id, Operation: "RequestCertificate", Request: raw, HolderID: &hid,
			Protocol: server.SPOCProtocols[0].Namespace})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return code, row
	}
	audited := func(id string, code authority.ReturnCode) {
		t.Helper()
		ev, err := st.ListAudit(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(ev) != 1 || ev[0].Action != "foreign_request.refused" || ev[0].Outcome != string(code) || !strings.Contains(ev[0].Details, id) {
			t.Errorf("%s: last audit event %+v, want the refusal %s", id, ev, code)
		}
	}

	if code, row := process("unauthenticated", request("ZZDVF00001", false)); code != authority.FailureOuterSignature || row != nil {
		t.Errorf("unauthenticated: %s %v", code, row)
	}
	audited("unauthenticated", authority.FailureOuterSignature)
	later := time.Now().AddDate(2, 0, 0) // the partner's CVCA certificate has expired by then
	issuer.Now = func() time.Time { return later }
	if code, row := process("expired", request("ZZDVF00001", true)); code != authority.FailureExpired || row != nil {
		t.Errorf("CVCA certificate expired at processing: %s %v", code, row)
	}
	audited("expired", authority.FailureExpired)
	issuer.Now = nil
	code, row := process("initial", request("ZZDVF00001", true))
	if code != authority.OKCertAvailable || row == nil || row.CHR != "ZZDVF00001" || row.CAR != "UTCVCA00001" {
		t.Fatalf("initial request signed by the registered CVCA: %s %+v", code, row)
	}
	// The row goes to the store marked as signed here for the DV, relayed by its SPOC.
	if want := (store.Issuance{Requester: "ZZDVF", Caller: "spoc:ZZ", MessageID: "initial"}); row.Issued == nil || *row.Issued != want {
		t.Errorf("issuance %+v, want %+v", row.Issued, want)
	}
}
