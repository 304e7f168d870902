package gateway

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/dvclient"
	"eacgate/ecc"
	"eacgate/hsm"
	"eacgate/internal/openpace"
	"eacgate/server"
	"eacgate/spoc"
	"eacgate/store"
)

// A CVCA key rollover made by another process on the database (the CLI): the link
// certificate is signed by the old key and carries the new key with its domain parameters;
// the serving gateway takes it up (on the first request naming it), answers GetCACertificates with both certificates, issues
// the DV's next certificate under the new key (verified by openpace through the link
// certificate) and still takes requests naming the old CVCA certificate; the DV's
// GetCACertificates carries the link certificate at once; SPOC partners are
// queued a new_cer_available_notification; a restart finds the new key.
func TestCVCARollover(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	serving := openDemo(t, dir)
	root := serving.CurrentCVCA().Certificate()

	cli, err := OpenStores(ctx, Options{DataDir: dir, GenerateKeystorePassphrase: true, SPOC: spoc.Config{Partners: []spoc.Partner{{Country: "ZZ", URL: "https://spoc.zz.example/spoc"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for _, chr := range []string{"UTCVCA00001", "ZZCVCA00002"} {
		if _, err := cli.RolloverCVCA(ctx, cvca.Ceremony{}, chr, hsm.KeySpec{}, 3); err == nil {
			t.Fatalf("rollover to %s accepted", chr)
		}
	}
	link, err := cli.RolloverCVCA(ctx, cvca.Ceremony{}, "UTCVCA00002", hsm.KeySpec{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if link.CAR != root.CHR || link.Role() != cvc.RoleCVCA || !link.PublicKey.HasDomainParameters() {
		t.Fatalf("link certificate %s by %s, role %v", link.CHR, link.CAR, link.Role())
	}
	if _, err := cvc.Verify(link, cvc.VerifyOptions{Anchors: []*cvc.Certificate{root}}); err != nil {
		t.Fatalf("link certificate under the old root: %v", err)
	}
	items, err := cli.Store.ListOutbox(ctx, store.OutboxPending)
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

	if got := serving.CurrentCVCA().Certificate().CHR; got != root.CHR {
		t.Fatalf("serving gateway switched before its check: %s", got)
	}
	// GetCACertificates answers the stored chain at once, link certificate included.
	if chain, err := serving.cvca.Chain(ctx); err != nil || len(chain) != 2 || string(chain[1]) != string(link.Raw) {
		t.Fatalf("GetCACertificates before the switch: %d certificates, %v", len(chain), err)
	}
	// A request naming the new CVCA certificate makes the serving gateway take it up at once
	// (the DV may have the link certificate from another instance).
	if serving.cvca.ByCAR(root.CHR) != nil {
		t.Fatal("ByCAR answered for the CVCA certificate in use")
	}
	if next := serving.cvca.ByCAR(link.CHR); next == nil || next.Certificate().CHR != link.CHR {
		t.Fatal("a request naming the new CVCA certificate did not switch the issuer")
	}
	cvca := serving.CurrentCVCA()
	if cvca.Certificate().CHR != link.CHR || len(cvca.OwnCHRs) != 1 || cvca.OwnCHRs[0] != root.CHR {
		t.Fatalf("serving CVCA %s, own %v", cvca.Certificate().CHR, cvca.OwnCHRs)
	}
	chain, _ := serving.cvca.Chain(ctx)
	if len(chain) != 2 || string(chain[1]) != string(link.Raw) {
		t.Fatalf("GetCACertificates: %d certificates", len(chain))
	}

	// The DV's certificate is still under the old key, and terminals get the link already.
	dvChain, _ := serving.dv.Chains(ctx)
	if len(dvChain) != 3 || string(dvChain[1]) != string(link.Raw) || string(dvChain[2]) != string(serving.CurrentDV().Certificate().Raw) {
		t.Fatalf("GetCACertificates at /dv: %d certificates", len(dvChain))
	}

	dv, err := serving.dv.Renew(ctx, dvclient.Options{RenewBefore: 1000 * 24 * time.Hour, MinInterval: time.Nanosecond}, time.Now())
	if err != nil || dv == nil {
		t.Fatalf("DV renewal: %v", err)
	}
	if dv.CAR != link.CHR {
		t.Fatalf("DV certificate issued by %s", dv.CAR)
	}
	if _, err := cvc.Verify(dv, cvc.VerifyOptions{Anchors: []*cvc.Certificate{root}, Intermediates: []*cvc.Certificate{link}}); err != nil {
		t.Fatalf("DV certificate through the link: %v", err)
	}
	if _, err := cvc.Verify(dv, cvc.VerifyOptions{Anchors: []*cvc.Certificate{root}}); err == nil {
		t.Fatal("DV certificate verified under the old root without the link certificate")
	}
	openpace.Verifies(t, []*cvc.Certificate{root, link}, dv)

	// A DV whose request still names the old CVCA certificate.
	key, _ := ecc.GenerateKey(cvca.Domain(), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	req, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: root.CHR, CHR: "UTDVB00001"}, pub, key)
	other, err := cvca.Issue(req.Raw, authority.Applicant{Country: "UT", Mnemonic: "DVB", Role: cvc.RoleDVDomestic, Status: authority.StatusActive})
	if err != nil || other.CAR != link.CHR {
		t.Fatalf("request naming %s: %v", root.CHR, err)
	}

	restarted := openDemo(t, dir)
	if got := restarted.CurrentCVCA().Certificate().CHR; got != link.CHR {
		t.Fatalf("after restart: %s", got)
	}
	if got := restarted.CurrentDV().Certificate().CHR; got != dv.CHR {
		t.Fatalf("DV after restart: %s", got)
	}
}

// A rollover to another curve and hash (brainpoolP256r1/SHA-256 to brainpoolP384r1/SHA-384):
// the DV's renewal, authenticated with its key on the old curve, is accepted and certifies a
// key on the new one; a terminal certified under the previous DV certificate renews with an
// outer signature on the old curve, before and after a restart (the DV's earlier
// certificates' curves come from the store); openpace verifies the new terminal certificate
// through the link certificate.
func TestCVCARolloverToAnotherCurve(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	g := openDemo(t, dir)
	root := g.CurrentCVCA().Certificate()
	term := authority.Applicant{Country: "UT", Mnemonic: "ISGATE01", Role: cvc.RoleTerminal, Status: authority.StatusActive}
	oldKey, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	oldPub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, oldKey.Public(), false)
	first, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: g.CurrentDV().Certificate().CHR, CHR: "UTISGATE0100001"}, oldPub, oldKey)
	termCert, err := g.CurrentDV().Issue(first.Raw, term)
	if err != nil {
		t.Fatal(err)
	}

	link, err := g.RolloverCVCA(ctx, cvca.Ceremony{}, "UTCVCA00002", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA384, Curve: "brainpoolP384r1"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	dv, err := g.dv.Renew(ctx, dvclient.Options{RenewBefore: 1000 * 24 * time.Hour, MinInterval: time.Nanosecond}, time.Now())
	if err != nil || dv == nil {
		t.Fatalf("DV renewal across the change of curve: %v", err)
	}
	if dv.CAR != link.CHR || g.CurrentDV().Domain().Name() != "brainpoolP384r1" || dv.PublicKey.Algorithm != cvc.ECDSA_SHA384 {
		t.Fatalf("DV certificate %s by %s on %s", dv.CHR, dv.CAR, g.CurrentDV().Domain().Name())
	}

	renew := func(is *authority.Issuer, chr string) *cvc.Certificate {
		t.Helper()
		key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP384r1"), rand.Reader)
		pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA384, key.Public(), false)
		req, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: dv.CHR, CHR: chr}, pub, key)
		req, err := req.Authenticate(termCert.CHR, oldKey, cvc.ECDSA_SHA256)
		if err != nil {
			t.Fatal(err)
		}
		app := term
		app.Current = termCert
		c, err := is.Issue(req.Raw, app)
		if err != nil {
			t.Fatalf("terminal renewal signed on the old curve: %v", err)
		}
		return c
	}
	leaf := renew(g.CurrentDV(), "UTISGATE0100002")
	openpace.Verifies(t, []*cvc.Certificate{root, link, dv}, leaf)

	restarted := openDemo(t, dir)
	renew(restarted.CurrentDV(), "UTISGATE0100003")
}

// openDemo opens the gateway with the embedded defaults (demo CVCA and DV) in dir, closed
// at the test's end.
func openDemo(t testing.TB, dir string) *Gateway {
	t.Helper()
	g, err := Open(context.Background(), Options{DataDir: dir, Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// A terminal that learned the DV's renewed certificate from one instance and sends its request
// to another, which has not yet made its hourly check, is served: the request naming the
// unknown DV certificate makes that instance take the renewal up at once.
func TestRenewedDVTakenUpOnRequest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := openDemo(t, dir), openDemo(t, dir)
	if b.dvByCAR(b.CurrentDV().Certificate().CHR) != nil {
		t.Fatal("ByCAR answered for the DV certificate in use")
	}
	if b.dvByCAR("UTDVDEMO00099") != nil {
		t.Fatal("ByCAR answered for a DV certificate that does not exist")
	}
	renewed, err := a.dv.Renew(ctx, dvclient.Options{RenewBefore: 1000 * 24 * time.Hour, MinInterval: time.Nanosecond}, time.Now())
	if err != nil || renewed == nil {
		t.Fatalf("renewal: %v", err)
	}
	later := time.Now().Add(2 * time.Second)
	b.dv.Now = func() time.Time { return later } // the lookups are limited to one a second: b's clock is past it
	b.dv.LookupTimeout = time.Minute             // a loaded test machine may need more than the 5 s a request may wait
	if is := b.dvByCAR(renewed.CHR); is == nil || is.Certificate().CHR != renewed.CHR {
		t.Fatal("the other instance did not take the renewed DV certificate up")
	}
	if b.CurrentDV().Certificate().CHR != renewed.CHR {
		t.Fatal("the other instance still issues under the old DV certificate")
	}
}

// The demo PKI a gateway makes itself is audited like the CLI's: the CVCA's key and
// certificate, then the DV's key, its certificate as our CVCA's signature and init.dv, all
// by the demo's actor.
func TestDemoPKIIsAudited(t *testing.T) {
	g := openDemo(t, t.TempDir())
	evs, err := g.Store.ListAudit(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if e.Actor == cvca.DemoCeremony.Actor {
			got = append(got, e.Action+" "+e.Target)
		}
	}
	want := []string{"key.generate cvca", "init.cvca UTCVCA00001", "key.generate dv", "ca.issue UTDVDEMO00001", "init.dv UTDVDEMO00001"}
	if !slices.Equal(got, want) {
		t.Fatalf("demo events %v, want %v", got, want)
	}
}
