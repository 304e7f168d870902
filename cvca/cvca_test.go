package cvca

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/server"
	"eacgate/store"
)

var quiet = slog.New(slog.DiscardHandler)

// clock is a settable clock for Authority.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a store and a software keystore in dir.
type fixture struct {
	dir  string
	st   *store.Store
	keys hsm.Keystore
	clk  *clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "eacgate.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &fixture{dir: dir, st: st, keys: openKeys(t, filepath.Join(dir, "keys")), clk: &clock{t: time.Now()}}
}

func openKeys(t *testing.T, dir string) hsm.Keystore {
	t.Helper()
	keys, err := hsm.OpenSoft(hsm.SoftConfig{Dir: dir, Passphrase: hsm.Secret{Value: []byte("test passphrase")},
		KDF: hsm.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	return keys
}

// authority returns a CVCA of UT on the fixture's store and keystore, on its clock.
func (f *fixture) authority(partners ...Partner) *Authority {
	return &Authority{Store: f.st, Keys: f.keys, Country: "UT", KeyLabel: "cvca", Policy: authority.DefaultPolicy(),
		Partners: partners, Logger: quiet, Now: f.clk.Now}
}

// demo returns a loaded CVCA (the demo one, UTCVCA00001 on brainpoolP256r1).
func (f *fixture) demo(t *testing.T, partners ...Partner) *Authority {
	t.Helper()
	a := f.authority(partners...)
	iss, err := a.Open(context.Background(), true)
	if err != nil || iss == nil || a.Current() != iss {
		t.Fatalf("open the demo CVCA: %v", err)
	}
	return a
}

// Open without a stored CVCA finds none; with createDemo it creates the demo CVCA, valid
// from the injected clock's today; a second CVCA of the country is refused.
func TestOpenCreatesTheDemoCVCA(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.clk.t = time.Date(2030, 5, 6, 12, 0, 0, 0, time.UTC)
	a := f.authority()
	if iss, err := a.Open(ctx, false); iss != nil || err != nil || a.Current() != nil {
		t.Fatalf("open without a CVCA: %v, %v", iss, err)
	}
	iss, err := a.Open(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Certificate()
	if c.CHR != "UTCVCA00001" || c.Role() != cvc.RoleCVCA || iss.Domain().Name() != "brainpoolP256r1" || a.Current() != iss {
		t.Fatalf("demo CVCA %s on %v", c.CHR, iss.Domain())
	}
	if c.EffectiveDate != cvc.DateOf(f.clk.Now()) {
		t.Fatalf("effective %s, clock's today %s", c.EffectiveDate, cvc.DateOf(f.clk.Now()))
	}
	if _, err := a.Init(ctx, Ceremony{}, "UTCVCA00002", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP256r1"}, 3); err == nil {
		t.Fatal("a second CVCA of UT was created without a link certificate")
	}
}

// A rollover certifies the new key in a link certificate that verifies under the old root,
// stores it, queues a new_cer_available_notification for every partner, and switches the
// CVCA in use at once (the old certificate stays one of its own); Wrap readies every issuer
// with the label of its key.
func TestRolloverMakesALinkCertificate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var labels []string
	a := f.authority(Partner{Country: "ZZ", URL: "https://spoc.zz.example/spoc"})
	a.Wrap = func(iss *authority.Issuer, label string) *authority.Issuer {
		labels = append(labels, label)
		return iss
	}
	if _, err := a.Open(ctx, true); err != nil {
		t.Fatal(err)
	}
	root := a.Current().Certificate()
	for _, chr := range []string{"ZZCVCA00002", "UTCVCA00001"} {
		if _, err := a.Rollover(ctx, Ceremony{}, chr, hsm.KeySpec{}, 3); err == nil {
			t.Fatalf("rollover to %s accepted", chr)
		}
	}
	labels = nil
	link, err := a.Rollover(ctx, Ceremony{}, "UTCVCA00002", hsm.KeySpec{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if link.CAR != root.CHR || link.Role() != cvc.RoleCVCA || !link.PublicKey.HasDomainParameters() {
		t.Fatalf("link certificate %s by %s, role %v", link.CHR, link.CAR, link.Role())
	}
	if _, err := cvc.Verify(link, cvc.VerifyOptions{Anchors: []*cvc.Certificate{root}}); err != nil {
		t.Fatalf("link certificate under the old root: %v", err)
	}
	cur := a.Current()
	if cur.Certificate().CHR != link.CHR || len(cur.OwnCHRs) != 1 || cur.OwnCHRs[0] != root.CHR {
		t.Fatalf("CVCA in use %s, own %v", cur.Certificate().CHR, cur.OwnCHRs)
	}
	// The rollover loads the issuer of the key in use, then takes up the new one.
	if want := []string{"cvca", "cvca-UTCVCA00002"}; strings.Join(labels, " ") != strings.Join(want, " ") {
		t.Fatalf("Wrap labels %v, want %v", labels, want)
	}
	chain, err := a.Chain(ctx)
	if err != nil || len(chain) != 2 || string(chain[0]) != string(root.Raw) || string(chain[1]) != string(link.Raw) {
		t.Fatalf("Chain: %d certificates, %v", len(chain), err)
	}
	items, err := f.st.ListOutbox(ctx, store.OutboxPending)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].TargetURL != "https://spoc.zz.example/spoc" {
		t.Fatalf("outbox: %+v", items)
	}
	note, err := server.ParseEnvelope(items[0].Payload)
	if err != nil || note.Operation.Local != "SendCertificatesRequest" || !strings.Contains(string(items[0].Payload), "new_cer_available_notification") {
		t.Fatalf("notification %v: %s", err, items[0].Payload)
	}
}

// A rollover made by another instance (the CLI) is taken up by a request naming the new
// certificate, at most one lookup a second on the injected clock, or by Refresh (Watch).
func TestRolloverTakenUpFromAnotherInstance(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	serving := f.demo(t)
	root := serving.Current().Certificate()
	if serving.ByCAR(root.CHR) != nil || serving.ByCAR("ZZCVCA00002") != nil {
		t.Fatal("ByCAR answered for the certificate in use or another country's")
	}
	if serving.ByCAR("UTCVCA00002") != nil { // takes the lookup turn: nothing there yet
		t.Fatal("ByCAR answered for a CVCA certificate that does not exist")
	}
	cli := f.authority()
	link, err := cli.Rollover(ctx, Ceremony{}, "UTCVCA00002", hsm.KeySpec{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if cli.Current() != nil {
		t.Fatal("the CLI's rollover put a CVCA in use there")
	}
	if serving.Current().Certificate().CHR != root.CHR {
		t.Fatal("the serving CVCA switched before looking")
	}
	f.clk.Add(999 * time.Millisecond)
	if serving.ByCAR(link.CHR) != nil || serving.Current().Certificate().CHR != root.CHR {
		t.Fatal("a second lookup within a second")
	}
	f.clk.Add(time.Millisecond)
	if next := serving.ByCAR(link.CHR); next == nil || next.Certificate().CHR != link.CHR || serving.Current() != next {
		t.Fatal("a request naming the new CVCA certificate did not switch the issuer")
	}

	other := f.demo(t)
	if other.Current().Certificate().CHR != link.CHR {
		t.Fatalf("a new instance loads %s", other.Current().Certificate().CHR)
	}
	third, err := cli.Rollover(ctx, Ceremony{}, "UTCVCA00003", hsm.KeySpec{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Refresh(ctx); err != nil || other.Current().Certificate().CHR != third.CHR {
		t.Fatalf("Refresh: %v, in use %s", err, other.Current().Certificate().CHR)
	}
}

// A keystore without the new key (copied before the rollover) does not sign with the old
// key under the new certificate: the CVCA stays off with a clear error.
func TestKeyMustMatchCertificate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a := f.demo(t)
	copied := filepath.Join(t.TempDir(), "keys")
	if err := os.CopyFS(copied, os.DirFS(filepath.Join(f.dir, "keys"))); err != nil {
		t.Fatal(err)
	}
	keys, _ := filepath.Glob(filepath.Join(copied, "*"))
	for _, k := range keys {
		if err := os.Chmod(k, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	link, err := a.Rollover(ctx, Ceremony{}, "UTCVCA00002", hsm.KeySpec{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	other := f.authority()
	other.Keys = openKeys(t, copied)
	_, err = other.Load(ctx)
	if !errors.Is(err, hsm.ErrKeyNotFound) || !strings.Contains(err.Error(), "no key for CVCA certificate "+link.CHR) {
		t.Fatalf("load without the new key: %v", err)
	}
	if other.Current() != nil {
		t.Fatal("a CVCA without its key was put in use")
	}
}

// A rollover that stopped after making its key (no link certificate stored) can be run again:
// the key is used when it fits the requested kind, refused when it does not.
func TestRolloverAgainAfterAnInterruptedOne(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a := f.demo(t)
	key, err := a.Keys.Generate(ctx, a.keyLabel("UTCVCA00002"), hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP256r1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rollover(ctx, Ceremony{}, "UTCVCA00002", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA384, Curve: "brainpoolP384r1"}, 3); err == nil {
		t.Fatal("a key of another kind was used")
	}
	link, err := a.Rollover(ctx, Ceremony{}, "UTCVCA00002", hsm.KeySpec{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !sameKey(key, link) {
		t.Fatal("the link certificate does not certify the key the interrupted attempt made")
	}
}
