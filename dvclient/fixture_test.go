package dvclient

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/ra"
	"eacgate/store"
)

// fixture is a DV (UTDVDEMO, first certificate UTDVDEMO00001) certified by a CVCA
// (UTCVCA00001, P-256), in a SQLite store and a software keystore, with a loaded Client
// whose domestic CVCA is that CVCA in process.
type fixture struct {
	st   *store.Store
	keys hsm.Keystore
	cvca *authority.Issuer
	c    *Client
}

var quiet = slog.New(slog.DiscardHandler)

var p256 = hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "P-256"}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "eacgate.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := hsm.OpenSoft(hsm.SoftConfig{Dir: filepath.Join(dir, "keys"), Passphrase: hsm.Secret{Value: []byte("test passphrase")},
		KDF: hsm.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	cvcaKey, err := keys.Generate(ctx, "cvca", p256)
	if err != nil {
		t.Fatal(err)
	}
	today := cvc.DateOf(time.Now())
	root, err := authority.NewCVCA(authority.CVCASpec{CHR: "UTCVCA00001", Algorithm: cvc.ECDSA_SHA256,
		CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3|cvc.ISReadDG4), Effective: today, Expiration: today.AddDays(3 * 365)}, cvcaKey)
	if err != nil {
		t.Fatal(err)
	}
	addCVCA(t, st, root)
	f := &fixture{st: st, keys: keys, cvca: &authority.Issuer{Path: []*cvc.Certificate{root}, Signer: cvcaKey, Policy: authority.DefaultPolicy()}}
	h := &store.Holder{Country: "UT", Mnemonic: "DVDEMO", Role: store.RoleDVDomestic, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, h); err != nil {
		t.Fatal(err)
	}
	dvKey, err := keys.Generate(ctx, "dv", p256)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := cvc.NewPublicKey(dvKey.Algorithm(), dvKey.Public(), true)
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: root.CHR, CHR: "UTDVDEMO00001"}, pub, dvKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := f.cvca.Issue(req.Raw, authority.Applicant{Country: "UT", Mnemonic: "DVDEMO", Role: cvc.RoleDVDomestic, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	if err := (ra.NewStoreRegistry(st)).RecordCertificate(ctx, h.ID, cert); err != nil {
		t.Fatal(err)
	}
	f.c = f.client("a")
	if err := f.c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// client is another DV client on the fixture's store and keystore (another instance).
func (f *fixture) client(instance string) *Client {
	return &Client{Store: f.st, Keys: f.keys, Country: "UT", Mnemonic: "DVDEMO", KeyLabel: "dv", Policy: authority.DefaultPolicy(),
		Instance: instance, Logger: quiet,
		Domestic: InProcess{CVCA: func() *authority.Issuer { return f.cvca }, Store: f.st, Logger: quiet},
		Foreign:  Unavailable{Err: errors.New("no way to foreign CVCAs")}}
}

func (f *fixture) holder(t *testing.T) *store.Holder {
	t.Helper()
	h, err := f.st.HolderByName(context.Background(), "UT", "DVDEMO")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// hasKey reports whether the keystore holds a key labelled label.
func (f *fixture) hasKey(t *testing.T, label string) bool {
	t.Helper()
	_, err := f.keys.Signer(context.Background(), label)
	if err != nil && !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func addCVCA(t *testing.T, st *store.Store, c *cvc.Certificate) {
	t.Helper()
	if err := st.AddCertificate(context.Background(), &store.Certificate{CHR: c.CHR, CAR: c.CAR, Role: store.RoleCVCA,
		NotBefore: c.EffectiveDate.Time(), NotAfter: c.ExpirationDate.Time(), Status: store.CertValid, Raw: c.Raw}); err != nil {
		t.Fatal(err)
	}
}

// due renews whatever can be renewed.
var due = Options{RenewBefore: 1000 * 24 * time.Hour, MinInterval: time.Nanosecond}
