package dvclient

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/ecc"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
)

// recordingCVCA is a CVCA that records what it was asked; issue (nil: fail) answers requests.
type recordingCVCA struct {
	calls   []string
	pending bool
	issue   func(Request) (*cvc.Certificate, error)
}

func (r *recordingCVCA) FetchCACertificates(context.Context) (int, error) {
	r.calls = append(r.calls, "FetchCACertificates")
	return 0, nil
}

func (r *recordingCVCA) Pending(context.Context, int64, string, time.Time) (bool, error) {
	r.calls = append(r.calls, "Pending")
	return r.pending, nil
}

func (r *recordingCVCA) Chain(context.Context, string) ([]*cvc.Certificate, error) {
	r.calls = append(r.calls, "Chain")
	return nil, nil // the DV's current chain
}

func (r *recordingCVCA) Request(_ context.Context, req Request) (authority.ReturnCode, *cvc.Certificate, error) {
	r.calls = append(r.calls, "Request")
	if r.issue == nil {
		return "", nil, errors.New("recordingCVCA: not expected to issue")
	}
	cert, err := r.issue(req)
	return authority.OKCertAvailable, cert, err
}

// issueAndRecord issues a DV request with the fixture's CVCA and stores the certificate, as
// a CVCA and the DV's answer handling would.
func (f *fixture) issueAndRecord() func(Request) (*cvc.Certificate, error) {
	return func(r Request) (*cvc.Certificate, error) {
		cert, err := f.cvca.Issue(r.Message.CertReq, authority.Applicant{Country: "UT", Mnemonic: "DVDEMO", Role: cvc.RoleDVDomestic,
			Status: authority.StatusActive, Current: r.Current})
		if err != nil {
			return nil, err
		}
		return cert, (ra.NewStoreRegistry(f.st)).RecordCertificate(context.Background(), r.Holder.ID, cert)
	}
}

// The scheduler asks the CVCA it was given, in order (Pending, Chain, Request), and no
// other: the domestic renewal never touches the foreign route, and a pending request means
// no key and no second request.
func TestRenewAsksTheDomesticCVCA(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	domestic, foreign := &recordingCVCA{issue: f.issueAndRecord()}, &recordingCVCA{}
	f.c.Domestic, f.c.Foreign = domestic, foreign
	cert, err := f.c.Renew(ctx, due, time.Now())
	if err != nil || cert == nil || cert.CHR != "UTDVDEMO00002" {
		t.Fatalf("renewed %v (%v)", cert, err)
	}
	if got := f.c.Current().Certificate().CHR; got != cert.CHR {
		t.Fatalf("in use: %s", got)
	}
	if !slices.Contains(f.c.Current().OwnCHRs, "UTDVDEMO00001") {
		t.Fatalf("the previous certificate is no longer accepted as CAR: %v", f.c.Current().OwnCHRs)
	}
	if want := []string{"Pending", "Chain", "Request"}; !slices.Equal(domestic.calls, want) || len(foreign.calls) != 0 {
		t.Fatalf("domestic asked %v, foreign %v; want %v and nothing", domestic.calls, foreign.calls, want)
	}

	waiting := &recordingCVCA{pending: true}
	f.c.Domestic = waiting
	if cert, err := f.c.Renew(ctx, due, time.Now()); err != nil || cert != nil {
		t.Fatalf("renewed %v (%v) while a request is pending", cert, err)
	}
	if !slices.Equal(waiting.calls, []string{"Pending"}) || f.hasKey(t, "dv-UTDVDEMO00003") {
		t.Fatalf("pending request: asked %v, key made %v", waiting.calls, f.hasKey(t, "dv-UTDVDEMO00003"))
	}
}

// Without a CVCA the renewal fails with Unavailable's reason, before a key is made.
func TestRenewUnavailable(t *testing.T) {
	f := newFixture(t)
	why := errors.New("no CVCA configured")
	f.c.Domestic = Unavailable{Err: why}
	if _, err := f.c.Renew(context.Background(), due, time.Now()); !errors.Is(err, why) {
		t.Fatalf("renewal without a CVCA: %v", err)
	}
	if f.hasKey(t, "dv-UTDVDEMO00002") {
		t.Fatal("a key was made for a request that cannot be sent")
	}
}

// The CVCA in process issues, records and audits the renewal; a suspended CVCA refuses
// before a key is made.
func TestInProcessRenewal(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	suspended := errors.New("issuer CVCA UTCVCA00001 is suspended")
	f.cvca.Active = func() error { return suspended }
	if _, err := f.c.Renew(ctx, due, time.Now()); !errors.Is(err, suspended) {
		t.Fatalf("renewal by a suspended CVCA: %v", err)
	}
	if f.hasKey(t, "dv-UTDVDEMO00002") {
		t.Fatal("a key was made for a refused renewal")
	}
	f.cvca.Active = nil
	cert, err := f.c.Renew(ctx, due, time.Now())
	if err != nil || cert == nil || cert.CAR != "UTCVCA00001" || f.c.Current().Certificate().CHR != cert.CHR {
		t.Fatalf("renewed %v (%v)", cert, err)
	}
	events, err := f.st.ListAudit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(events, func(e store.AuditEvent) bool { return e.Action == "dv.renew" && e.Target == cert.CHR }) {
		t.Fatalf("no dv.renew audit event for %s: %+v", cert.CHR, events)
	}
}

// countingTransport counts the round trips of the HTTP client it is part of.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

type serviceFunc func(context.Context, msg.Caller, msg.Message) msg.Answer

func (f serviceFunc) Handle(ctx context.Context, c msg.Caller, m msg.Message) msg.Answer {
	return f(ctx, c, m)
}

// A remote CVCA is asked over TR-03129 through the HTTP client it was given: the renewal's
// certificate answered at once is stored and put in use, the message named by the injected
// clock; GetCACertificates adds a link certificate that verifies.
func TestRemoteCVCA(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	root := f.cvca.Path[0]
	newKey, _ := ecc.GenerateKey(ecc.CurveByName("P-256"), rand.Reader)
	today := cvc.DateOf(time.Now())
	link, err := authority.NewLink(authority.CVCASpec{CHR: "UTCVCA00002", Algorithm: cvc.ECDSA_SHA256, CHAT: root.CHAT,
		Effective: today, Expiration: today.AddDays(365)}, newKey, root, f.cvca.Signer)
	if err != nil {
		t.Fatal(err)
	}
	var got []msg.Message
	srv := httptest.NewServer(&server.Endpoint{Protocols: server.CVCAProtocols, Logger: quiet,
		Service: serviceFunc(func(_ context.Context, _ msg.Caller, m msg.Message) msg.Answer {
			got = append(got, m)
			switch m.Operation {
			case "GetCACertificates":
				return msg.Answer{ReturnCode: authority.OKCertAvailable, Certificates: [][]byte{root.Raw, link.Raw}}
			case "RequestCertificate":
				cert, err := f.cvca.Issue(m.CertReq, authority.Applicant{Country: "UT", Mnemonic: "DVDEMO", Role: cvc.RoleDVDomestic,
					Status: authority.StatusActive, Current: f.c.Current().Certificate()})
				if err != nil {
					return msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}
				}
				return msg.Answer{ReturnCode: authority.OKCertAvailable, Certificates: [][]byte{cert.Raw}}
			}
			return msg.Answer{ReturnCode: authority.FailureSyntax}
		})})
	defer srv.Close()
	rt := &countingTransport{}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	remote := &Remote{URL: srv.URL, HTTP: &http.Client{Transport: rt}, Store: f.st, Country: "UT", Logger: quiet}
	f.c.Domestic, f.c.Now = remote, func() time.Time { return now }

	seq := f.lastSeq(t)
	cert, err := f.c.Renew(ctx, due, time.Now())
	if err != nil || cert == nil || f.c.Current().Certificate().CHR != cert.CHR {
		t.Fatalf("renewed %v (%v)", cert, err)
	}
	// Signed by another CVCA: recorded as received, with the answer, not as our signature.
	if evs := f.eventsAfter(t, seq); len(evs) != 2 || evs[0].Action != cvca.EventKeyGenerate {
		t.Fatalf("events of the remote renewal: %+v", evs)
	} else {
		checkSigned(t, evs[1], cvca.EventReceived, cert, "UTDVDEMO")
	}
	if want := "renew-UTDVDEMO00002-" + strconv.FormatInt(now.UnixNano(), 36); len(got) != 1 || got[0].MessageID != want {
		var ids []string
		for _, m := range got {
			ids = append(ids, m.Operation+" "+m.MessageID)
		}
		t.Fatalf("the CVCA got %v, want one request %s", ids, want)
	}
	n, err := remote.FetchCACertificates(ctx)
	if err != nil || n != 1 {
		t.Fatalf("added %d CVCA certificates (%v), want the link", n, err)
	}
	if chain, err := f.st.CVCAChain(ctx, "UT"); err != nil || len(chain) != 2 || chain[1].CHR != link.CHR {
		t.Fatalf("stored CVCA chain: %d (%v)", len(chain), err)
	}
	if rt.n.Load() != 2 {
		t.Fatalf("%d calls went through the given HTTP client, want 2", rt.n.Load())
	}
}

// fakeForwarder is a SPOC's forwarder: it records the countries fetched and answers the
// requests forwarded with code.
type fakeForwarder struct {
	code    authority.ReturnCode
	fetched []string
	got     []msg.Message
}

func (f *fakeForwarder) FetchCACertificates(_ context.Context, country string) (int, error) {
	f.fetched = append(f.fetched, country)
	return 0, nil
}

func (f *fakeForwarder) Forward(_ context.Context, _ *ra.Holder, m msg.Message) msg.Answer {
	f.got = append(f.got, m)
	return msg.Answer{ReturnCode: f.code}
}

// A foreign certificate goes through the SPOC: the country's CVCA certificates are fetched,
// and a request to the newest of them, authenticated with the domestic certificate, is
// forwarded; a refusal is an error carrying the code. The domestic CVCA is not asked.
func TestObtainForeignViaSPOC(t *testing.T) {
	ctx := context.Background()
	for _, code := range []authority.ReturnCode{authority.OKRequestForwarded, authority.FailureRequestNotAccepted} {
		t.Run(string(code), func(t *testing.T) {
			f := newFixture(t)
			zzKey, _ := ecc.GenerateKey(ecc.CurveByName("P-256"), rand.Reader)
			today := cvc.DateOf(time.Now())
			zz, err := authority.NewCVCA(authority.CVCASpec{CHR: "ZZCVCA00001", Algorithm: cvc.ECDSA_SHA256,
				CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3|cvc.ISReadDG4), Effective: today, Expiration: today.AddDays(365)}, zzKey)
			if err != nil {
				t.Fatal(err)
			}
			addCVCA(t, f.st, zz)
			fwd := &fakeForwarder{code: code}
			domestic := &recordingCVCA{}
			f.c.Domestic = domestic
			f.c.Foreign = ViaSPOC{Forwarder: fwd, Outgoing: func(c string) string { return "spoc:" + c }, Store: f.st}
			got, err := f.c.ObtainForeign(ctx, due, "ZZ", time.Now())
			if got != code || (err == nil) != code.OK() {
				t.Fatalf("answer %s (%v), want %s", got, err, code)
			}
			if len(fwd.got) != 1 || !slices.Equal(fwd.fetched, []string{"ZZ"}) || len(domestic.calls) != 0 {
				t.Fatalf("forwarded %d, fetched %v, domestic asked %v", len(fwd.got), fwd.fetched, domestic.calls)
			}
			m := fwd.got[0]
			req, err := cvc.ParseRequest(m.CertReq)
			if err != nil {
				t.Fatal(err)
			}
			if m.Operation != "RequestForeignCertificate" || m.ForeignCAR != zz.CHR || req.CAR != zz.CHR || req.CHR != "UTDVDEMO00002" ||
				req.OuterCAR != "UTDVDEMO00001" || !f.hasKey(t, "dv-ZZCVCA00001-UTDVDEMO00002") {
				t.Fatalf("forwarded %s to %s: request %s by %s, outer %s", m.Operation, m.ForeignCAR, req.CHR, req.CAR, req.OuterCAR)
			}
		})
	}
}

// TR-03139 Table 2 step 3: once the DV holds a valid certificate from a foreign country, its
// next request there is authenticated by that certificate, not by the domestic one.
func TestObtainForeignSuccessiveSignedByForeignCertificate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	zzKey, _ := ecc.GenerateKey(ecc.CurveByName("P-256"), rand.Reader)
	today := cvc.DateOf(time.Now())
	zzCert, err := authority.NewCVCA(authority.CVCASpec{CHR: "ZZCVCA00001", Algorithm: cvc.ECDSA_SHA256,
		CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3|cvc.ISReadDG4), Effective: today, Expiration: today.AddDays(365)}, zzKey)
	if err != nil {
		t.Fatal(err)
	}
	addCVCA(t, f.st, zzCert)
	zz := &authority.Issuer{Path: []*cvc.Certificate{zzCert}, Signer: zzKey, Policy: authority.DefaultPolicy()}
	fwd := &fakeForwarder{code: authority.OKRequestForwarded}
	f.c.Domestic = &recordingCVCA{}
	f.c.Foreign = ViaSPOC{Forwarder: fwd, Outgoing: func(c string) string { return "spoc:" + c }, Store: f.st}
	if _, err := f.c.ObtainForeign(ctx, due, "ZZ", time.Now()); err != nil {
		t.Fatal(err)
	}
	first, err := cvc.ParseRequest(fwd.got[0].CertReq)
	if err != nil {
		t.Fatal(err)
	}
	if first.OuterCAR != "UTDVDEMO00001" {
		t.Fatalf("initial request authenticated by %s", first.OuterCAR)
	}
	// ZZ's answer, stored as the forwarder stores it.
	foreign, err := zz.Issue(first.Inner, authority.Applicant{Country: "UT", Mnemonic: "DVDEMO", Role: cvc.RoleDVForeign, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	if err := ra.NewStoreRegistry(f.st).RecordCertificate(ctx, f.holder(t).ID, foreign); err != nil {
		t.Fatal(err)
	}
	if err := f.c.LoadForeign(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.ObtainForeign(ctx, due, "ZZ", time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(fwd.got) != 2 {
		t.Fatalf("forwarded %d requests", len(fwd.got))
	}
	next, err := cvc.ParseRequest(fwd.got[1].CertReq)
	if err != nil {
		t.Fatal(err)
	}
	if next.OuterCAR != foreign.CHR {
		t.Fatalf("successive request authenticated by %s, want the ZZ certificate %s", next.OuterCAR, foreign.CHR)
	}
	if err := next.VerifyOuterWith(foreign, cvc.Domain(zz.Path)); err != nil {
		t.Fatalf("outer signature: %v", err)
	}
}
