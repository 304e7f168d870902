package ra

import (
	"bytes"
	"context"
	"testing"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/catest"
	"eacgate/msg"
	"eacgate/store"
)

// A holder's rights (holders.rights) limit its certificates through the StoreRegistry: a
// terminal registered with dg3 gets DG3 only while its DV's certificate allows DG3 and DG4,
// and a DV registered with dg3 gets a DG3-only certificate, which then bounds all of its
// terminals (the authority intersects with the issuer's certificate).
func TestHolderRightsLimitCertificates(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	reg := NewStoreRegistry(st)
	add := func(mnemonic string, role store.Role, rights string) {
		t.Helper()
		h := &store.Holder{Country: "UT", Mnemonic: mnemonic, Role: role, Status: store.HolderActive, TLSFingerprint: "fp-" + mnemonic}
		if err := st.CreateHolder(ctx, h); err != nil {
			t.Fatal(err)
		}
		if err := st.SetHolderRights(ctx, h.ID, rights); err != nil {
			t.Fatal(err)
		}
	}
	add("DVA", store.RoleDVDomestic, "")
	add("DVB", store.RoleDVDomestic, "dg3")
	add("TA1", store.RoleTerminal, "dg3")
	add("TA2", store.RoleTerminal, "")
	add("TB1", store.RoleTerminal, "")

	// request sends mnemonic's first request for chr to svc and returns the certificate's
	// rights and the key to issue with.
	request := func(svc *IssuingService, mnemonic, chr string) (*cvc.Certificate, *ecc.PrivateKey) {
		t.Helper()
		raw, key := testRequest(t, "brainpoolP256r1", chr, "", nil, nil)
		a := svc.Handle(ctx, msg.Caller{Fingerprint: "fp-" + mnemonic}, msg.Message{Operation: "RequestCertificate", MessageID: "m-" + chr, CertReq: raw})
		if a.ReturnCode != authority.OKCertAvailable || len(a.Certificates) != 1 {
			t.Fatalf("%s: %+v", mnemonic, a)
		}
		c, err := cvc.ParseCertificate(a.Certificates[0])
		if err != nil {
			t.Fatal(err)
		}
		return c, key
	}
	both, dg3 := []byte{cvc.ISReadDG3 | cvc.ISReadDG4}, []byte{cvc.ISReadDG3}
	check := func(c *cvc.Certificate, want []byte) {
		t.Helper()
		if got := c.CHAT.Rights(); !bytes.Equal(got, want) {
			t.Errorf("%s rights %x, want %x", c.CHR, got, want)
		}
	}
	cvca := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1")
	atCVCA := &IssuingService{Issuer: cvca, Registry: reg}
	dvA, keyA := request(atCVCA, "DVA", "UTDVA00001")
	check(dvA, both)
	dvB, keyB := request(atCVCA, "DVB", "UTDVB00001")
	check(dvB, dg3)

	underA := &IssuingService{Registry: reg, Issuer: &authority.Issuer{Path: []*cvc.Certificate{cvca.Certificate(), dvA}, Signer: keyA, Policy: authority.DefaultPolicy()}}
	ta1, _ := request(underA, "TA1", "UTTA100001")
	check(ta1, dg3)
	ta2, _ := request(underA, "TA2", "UTTA200001")
	check(ta2, both)
	underB := &IssuingService{Registry: reg, Issuer: &authority.Issuer{Path: []*cvc.Certificate{cvca.Certificate(), dvB}, Signer: keyB, Policy: authority.DefaultPolicy()}}
	tb1, _ := request(underB, "TB1", "UTTB100001")
	check(tb1, dg3)
}
