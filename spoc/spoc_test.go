package spoc

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"path/filepath"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/internal/testenv"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/store"
)

func TestConfigValidate(t *testing.T) {
	good := Config{Partners: []Partner{{Country: "ZZ", URL: "https://zz.example/spoc"}}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{
		"country": {Partners: []Partner{{Country: "ZZZ", URL: "https://x"}}},
		"url":     {Partners: []Partner{{Country: "ZZ"}}},
		"twice":   {Partners: []Partner{{Country: "ZZ", URL: "https://a"}, {Country: "ZZ", URL: "https://b"}}},
		"policy":  {Partners: good.Partners, ForeignDVs: "sometimes"},
	} {
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, ok := good.Partner("ZZ"); !ok {
		t.Fatal("partner ZZ")
	}
	if _, ok := good.Partner("QQ"); ok {
		t.Fatal("partner QQ")
	}
}

func TestCodes(t *testing.T) {
	for in, want := range map[authority.ReturnCode]authority.ReturnCode{
		authority.OKSyntax:                authority.OKReceptionAck,
		authority.OKCertAvailable:         authority.OKCertAvailable,
		authority.FailureExpired:          authority.FailureRequestNotAccepted,
		authority.FailureDomainParameters: authority.FailureRequestNotAccepted,
		authority.FailureInnerSignature:   authority.FailureInnerSignature,
	} {
		if got := csnCode(in); got != want {
			t.Errorf("csnCode(%s) = %s, want %s", in, got, want)
		}
	}
	if ForeignRefusal(authority.FailureInternalError) != authority.FailureRequestNotAcceptedForeign ||
		ForeignRefusal(authority.FailureOuterSignature) != authority.FailureOuterSignature {
		t.Fatal("ForeignRefusal")
	}
}

// certWith makes a self-signed TLS client certificate with the given unknown EKUs.
func certWith(t testing.TB, ekus ...asn1.ObjectIdentifier) (*x509.Certificate, string) {
	return testenv.ClientCert(t, "spoc", time.Now().Add(-time.Hour), time.Now().Add(time.Hour),
		[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, ekus...)
}

// A registered SPOC is refused when its certificate lacks the CSN 36 9791 client usage, when
// its callerID is not its country, and when it has no routing entry.
func TestPartnerIdentification(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	withEKU, fp1 := certWith(t, OIDTLSClient)
	without, fp2 := certWith(t)
	stranger, fp3 := certWith(t, OIDTLSClient)
	for _, h := range []*store.Holder{
		{Country: "ZZ", Mnemonic: "SPOC", Role: store.RoleSPOC, Status: store.HolderActive, TLSFingerprint: fp1},
		{Country: "ZZ", Mnemonic: "SPOC2", Role: store.RoleSPOC, Status: store.HolderActive, TLSFingerprint: fp2},
		{Country: "QQ", Mnemonic: "SPOC", Role: store.RoleSPOC, Status: store.HolderActive, TLSFingerprint: fp3},
	} {
		if err := st.CreateHolder(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	svc := &Service{Config: Config{Partners: []Partner{{Country: "ZZ", URL: "https://zz.example/spoc"}}}, Store: st,
		Registry: ra.NewStoreRegistry(st)}
	message := func(caller string) msg.Message {
		return msg.Message{Operation: "GeneralMessage", CallerID: caller, MessageID: "g-" + caller, Subject: "s", Body: "b"}
	}
	if got := svc.Handle(ctx, msg.Caller{Certificate: withEKU, Fingerprint: fp1}, message("ZZ")).ReturnCode; got != "ok" {
		t.Fatalf("registered SPOC with EKU: %s", got)
	}
	for name, tc := range map[string]struct {
		c      msg.Caller
		caller string
	}{
		"no EKU":         {msg.Caller{Certificate: without, Fingerprint: fp2}, "ZZ"},
		"wrong callerID": {msg.Caller{Certificate: withEKU, Fingerprint: fp1}, "QQ"},
		"no routing":     {msg.Caller{Certificate: stranger, Fingerprint: fp3}, "QQ"},
		"no certificate": {msg.Caller{}, "ZZ"},
	} {
		if got := svc.Handle(ctx, tc.c, message(tc.caller)).ReturnCode; got != authority.FailureInternalError {
			t.Errorf("%s: %s", name, got)
		}
	}
	no := false
	svc.Config.RequireEKU = &no
	if got := svc.Handle(ctx, msg.Caller{Certificate: without, Fingerprint: fp2}, message("ZZ")).ReturnCode; got != "ok" {
		t.Fatalf("EKU not required: %s", got)
	}
}
