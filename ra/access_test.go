package ra

import (
	"context"
	"crypto/x509"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/internal/testenv"
	"eacgate/msg"
	"eacgate/server"
	"eacgate/store"
)

// clientCert makes a self-signed TLS client certificate valid from notBefore to notAfter
// with the given extended key usages, and its fingerprint.
func clientCert(t testing.TB, notBefore, notAfter time.Time, ekus ...x509.ExtKeyUsage) (*x509.Certificate, string) {
	return testenv.ClientCert(t, "client", notBefore, notAfter, ekus)
}

func openTestStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestCheckClientCertificate(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	year := 365 * 24 * time.Hour
	for name, tc := range map[string]struct {
		from, to time.Time
		ekus     []x509.ExtKeyUsage
		want     string // "" accepted, else a part of the error
	}{
		"valid, no EKU":     {now.Add(-year), now.Add(year), nil, ""},
		"valid, clientAuth": {now.Add(-year), now.Add(year), []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, ""},
		"valid, any usage":  {now.Add(-year), now.Add(year), []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, ""},
		"expired":           {time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 12, 31, 0, 0, 0, 0, time.UTC), nil, "expired on 2021-12-31"},
		"not yet valid":     {now.Add(time.Hour), now.Add(year), nil, "not valid before"},
		"server usage only": {now.Add(-year), now.Add(year), []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, "extended key usage"},
		"email usage only":  {now.Add(-year), now.Add(year), []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}, "extended key usage"},
	} {
		c, _ := clientCert(t, tc.from, tc.to, tc.ekus...)
		err := server.CheckClientCertificate(c, now)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error with %q", name, err, tc.want)
		}
	}
	if server.CheckClientCertificate(nil, now) == nil {
		t.Error("no certificate accepted")
	}
}

// A holder registered with IP ranges is served only from those addresses (the socket's), on
// every operation, each refused with a code its result type allows; one without ranges from
// anywhere.
func TestHolderIPRangesEnforced(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	now := time.Now()
	cert, fp := clientCert(t, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	anyCert, anyFP := clientCert(t, now.Add(-time.Hour), now.Add(time.Hour))
	for _, h := range []*store.Holder{
		{Country: "UT", Mnemonic: "ISGATE01", Role: store.RoleTerminal, TLSFingerprint: fp, IPRanges: "192.0.2.0/24, 2001:db8::/32"},
		{Country: "UT", Mnemonic: "ISGATE02", Role: store.RoleTerminal, TLSFingerprint: anyFP},
	} {
		if err := st.CreateHolder(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	var logs testenv.Buffer
	svc := &IssuingService{Registry: NewStoreRegistry(st), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Chain:              func(context.Context) ([][]byte, error) { return [][]byte{{0x7f, 0x21, 0}}, nil },
		DocumentSignerList: func(context.Context) ([]byte, error) { return []byte{0x30, 0}, nil }}
	call := func(c *x509.Certificate, fp, remote, op string) authority.ReturnCode {
		return svc.Handle(ctx, msg.Caller{Certificate: c, Fingerprint: fp, RemoteAddr: remote}, msg.Message{Operation: op}).ReturnCode
	}
	for _, remote := range []string{"192.0.2.7:50000", "[2001:db8::1]:443", "[::ffff:192.0.2.9]:1"} {
		if got := call(cert, fp, remote, "GetCACertificates"); got != authority.OKCertAvailable {
			t.Errorf("from %s (in range): %s", remote, got)
		}
	}
	for op, want := range map[string]authority.ReturnCode{
		"GetCACertificates":     authority.FailureRequestNotAccepted,
		"RequestCertificate":    authority.FailureRequestNotAccepted,
		"GetDocumentSignerList": authority.FailureListNotAvailable,
		"SendCertificates":      authority.FailureMessageIDUnknown,
	} {
		for _, remote := range []string{"127.0.0.1:50000", "198.51.100.1:443", "[::1]:443", "garbage"} {
			if got := call(cert, fp, remote, op); got != want {
				t.Errorf("%s from %s (out of range): %s, want %s", op, remote, got, want)
			}
		}
	}
	if !strings.Contains(logs.String(), "not in the holder's registered IP ranges") {
		t.Errorf("refusal not logged with its reason:\n%s", logs.String())
	}
	if got := call(anyCert, anyFP, "127.0.0.1:50000", "GetCACertificates"); got != authority.OKCertAvailable {
		t.Errorf("holder without ranges: %s", got)
	}
}

// Expired, not yet valid and wrong-purpose TLS client certificates of registered holders are
// refused at use, with the reason in the log.
func TestClientCertificateCheckedAtUse(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	good, goodFP := clientCert(t, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	expired, expiredFP := clientCert(t, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	early, earlyFP := clientCert(t, now.Add(time.Hour), now.Add(48*time.Hour))
	server, serverFP := clientCert(t, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageServerAuth)
	for i, fp := range []string{goodFP, expiredFP, earlyFP, serverFP} {
		h := &store.Holder{Country: "UT", Mnemonic: "ISGATE0" + string(rune('1'+i)), Role: store.RoleTerminal, TLSFingerprint: fp}
		if err := st.CreateHolder(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	var logs testenv.Buffer
	svc := &IssuingService{Registry: NewStoreRegistry(st), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Now:   func() time.Time { return now },
		Chain: func(context.Context) ([][]byte, error) { return [][]byte{{0x7f, 0x21, 0}}, nil }}
	call := func(c *x509.Certificate, fp, op string) authority.ReturnCode {
		return svc.Handle(ctx, msg.Caller{Certificate: c, Fingerprint: fp, RemoteAddr: "127.0.0.1:1"}, msg.Message{Operation: op}).ReturnCode
	}
	if got := call(good, goodFP, "GetCACertificates"); got != authority.OKCertAvailable {
		t.Fatalf("valid certificate: %s", got)
	}
	for name, c := range map[string]struct {
		cert *x509.Certificate
		fp   string
	}{"expired": {expired, expiredFP}, "not yet valid": {early, earlyFP}, "server usage": {server, serverFP}} {
		if got := call(c.cert, c.fp, "GetCACertificates"); got != authority.FailureRequestNotAccepted {
			t.Errorf("%s: %s", name, got)
		}
		if got := call(c.cert, c.fp, "SendCertificates"); got != authority.FailureMessageIDUnknown {
			t.Errorf("%s SendCertificates: %s", name, got)
		}
	}
	if !strings.Contains(logs.String(), "expired on 2021-01-01") {
		t.Errorf("expiry not logged:\n%s", logs.String())
	}
}
