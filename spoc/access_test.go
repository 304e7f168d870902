package spoc

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/internal/testenv"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/store"
)

// A registered partner SPOC is refused from outside its registered IP ranges and with an
// expired TLS client certificate.
func TestPartnerAddressAndCertificateValidity(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cert, fp := certWith(t, OIDTLSClient)
	expired, expiredFP := testenv.ClientCert(t, "spoc", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC),
		[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, OIDTLSClient)
	for _, h := range []*store.Holder{
		{Country: "ZZ", Mnemonic: "SPOC", Role: store.RoleSPOC, TLSFingerprint: fp, IPRanges: "192.0.2.0/24"},
		{Country: "ZZ", Mnemonic: "SPOC2", Role: store.RoleSPOC, TLSFingerprint: expiredFP},
	} {
		if err := st.CreateHolder(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	svc := &Service{Config: Config{Partners: []Partner{{Country: "ZZ", URL: "https://zz.example/spoc"}}}, Store: st,
		Registry: ra.NewStoreRegistry(st)}
	m := msg.Message{Operation: "GetCACertificates", CallerID: "ZZ"}
	svc.Chain = func(context.Context) ([][]byte, error) { return [][]byte{{0x7f, 0x21, 0}}, nil }
	if got := svc.Handle(ctx, msg.Caller{Certificate: cert, Fingerprint: fp, RemoteAddr: "192.0.2.1:443"}, m).ReturnCode; got != authority.OKCertAvailable {
		t.Fatalf("from a registered address: %s", got)
	}
	if got := svc.Handle(ctx, msg.Caller{Certificate: cert, Fingerprint: fp, RemoteAddr: "127.0.0.1:443"}, m).ReturnCode; got != authority.FailureRequestNotAccepted {
		t.Errorf("from another address: %s", got)
	}
	if got := svc.Handle(ctx, msg.Caller{Certificate: expired, Fingerprint: expiredFP, RemoteAddr: "127.0.0.1:443"}, m).ReturnCode; got != authority.FailureRequestNotAccepted {
		t.Errorf("expired certificate: %s", got)
	}
}
