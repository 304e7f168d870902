package callback

import (
	"context"
	"crypto/rand"
	"net/http"
	"sync"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/store"
)

func TestReceiver(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn func() string) {
		f := newFixture(t, dsn(), 0)
		ctx := context.Background()
		// The CVCA is a registered peer; we sent it a request for our DV.
		cvcaHolder := &store.Holder{Country: "UT", Mnemonic: "CVCA", Role: store.RoleCVCA, Status: store.HolderActive}
		other := &store.Holder{Country: "UT", Mnemonic: "OTHERCVCA", Role: store.RoleCVCA, Status: store.HolderActive}
		for _, h := range []*store.Holder{cvcaHolder, other} {
			if err := f.st.CreateHolder(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		dvID := f.dv.ID
		pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, f.dvKey.Public(), true)
		req, _ := cvc.NewRequest(cvc.RequestTemplate{CHR: "UTDVA00001"}, pub, f.dvKey)
		out := &store.Message{Originator: "self", MessageID: "our-1", Operation: "RequestCertificate", Direction: store.Outgoing,
			Peer: ra.Originator(cvcaHolder.ID), HolderID: &dvID, State: store.MessageProcessing, Request: req.Raw}
		if err := f.st.AcceptMessage(ctx, out, nil); err != nil {
			t.Fatal(err)
		}
		dvApplicant := authority.Applicant{Country: "UT", Mnemonic: "DVA", Role: cvc.RoleDVDomestic, Status: authority.StatusActive}
		issued, err := f.cvca.Issue(req.Raw, dvApplicant)
		if err != nil {
			t.Fatal(err)
		}
		// Certificates that do not answer our request: the same CHR for another key, and
		// one for our key signed by a CVCA key we do not know.
		otherKey, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
		otherPub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, otherKey.Public(), true)
		otherReq, _ := cvc.NewRequest(cvc.RequestTemplate{CHR: "UTDVA00001"}, otherPub, otherKey)
		otherKeyCert, err := f.cvca.Issue(otherReq.Raw, dvApplicant)
		if err != nil {
			t.Fatal(err)
		}
		forger := &authority.Issuer{Path: f.cvca.Path, Signer: otherKey, Policy: f.cvca.Policy}
		forged, err := forger.Issue(req.Raw, dvApplicant)
		if err != nil {
			t.Fatal(err)
		}
		r := &Receiver{Store: f.st, Registry: f.reg}
		peer := &ra.Holder{ID: cvcaHolder.ID, Country: "UT", Mnemonic: "CVCA", Role: cvc.RoleCVCA, Status: authority.StatusActive}
		stranger := &ra.Holder{ID: other.ID, Country: "UT", Mnemonic: "OTHERCVCA", Role: cvc.RoleCVCA, Status: authority.StatusActive}
		send := msg.Message{Operation: "SendCertificates", MessageID: "our-1", StatusInfo: "ok_cert_available", Certificates: [][]byte{issued.Raw}}
		for name, tc := range map[string]struct {
			h    *ra.Holder
			m    msg.Message
			want authority.ReturnCode
		}{
			"unknown messageID": {peer, msg.Message{Operation: "SendCertificates", MessageID: "never", StatusInfo: "ok_cert_available"}, authority.FailureMessageIDUnknown},
			"wrong peer":        {stranger, send, authority.FailureMessageIDUnknown},
			"garbage":           {peer, msg.Message{Operation: "SendCertificates", MessageID: "our-1", StatusInfo: "ok_cert_available", Certificates: [][]byte{{1, 2}}}, authority.FailureSyntax},
			"another key":       {peer, msg.Message{Operation: "SendCertificates", MessageID: "our-1", StatusInfo: "ok_cert_available", Certificates: [][]byte{otherKeyCert.Raw}}, authority.FailureSyntax},
			"forged signature":  {peer, msg.Message{Operation: "SendCertificates", MessageID: "our-1", StatusInfo: "ok_cert_available", Certificates: [][]byte{forged.Raw}}, authority.FailureSyntax},
			"no certificate":    {peer, msg.Message{Operation: "SendCertificates", MessageID: "our-1", StatusInfo: "ok_cert_available"}, authority.FailureSyntax},
		} {
			if got := r.Handle(ctx, tc.h, tc.m).ReturnCode; got != tc.want {
				t.Errorf("%s: %s, want %s", name, got, tc.want)
			}
		}
		if got, _ := f.st.CertificatesByCHR(ctx, "UTDVA00001"); len(got) != 0 {
			t.Fatal("a refused callback stored a certificate")
		}
		// At the receiver's clock ten years on, the certificate has expired: refused.
		later := &Receiver{Store: f.st, Registry: f.reg, Now: func() time.Time { return time.Now().AddDate(10, 0, 0) }}
		if got := later.Handle(ctx, peer, send).ReturnCode; got != authority.FailureSyntax {
			t.Fatalf("a certificate expired at the receiver's clock: %s, want %s", got, authority.FailureSyntax)
		}
		// The right peer, twice (at-least-once delivery): stored once, acknowledged twice.
		for range 2 {
			if got := r.Handle(ctx, peer, send).ReturnCode; got != authority.OKReceivedCorrectly {
				t.Fatalf("callback: %s", got)
			}
		}
		got, _ := f.st.CertificatesByCHR(ctx, "UTDVA00001")
		if len(got) != 1 || *got[0].HolderID != f.dv.ID {
			t.Fatalf("stored %+v", got)
		}
		m, _ := f.st.OutgoingByMessageID(ctx, "our-1")
		if m.State != store.MessageAnswered || m.ReturnCode != "ok_cert_available" {
			t.Fatalf("outgoing message %+v", m)
		}

		// A notification (no messageID) with a link certificate that verifies is added to
		// the chain; one from a DV is refused; an unverifiable one is kept aside.
		newKey, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
		today := cvc.DateOf(time.Now())
		link, err := authority.NewLink(authority.CVCASpec{CHR: "UTCVCA00002", Algorithm: cvc.ECDSA_SHA256,
			CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3|cvc.ISReadDG4), Effective: today, Expiration: today.AddDays(365)},
			newKey, f.cvca.Certificate(), f.cvca.Signer)
		if err != nil {
			t.Fatal(err)
		}
		strangerRoot, _ := authority.NewCVCA(authority.CVCASpec{CHR: "UTCVCA00009", Algorithm: cvc.ECDSA_SHA256,
			CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3), Effective: today, Expiration: today.AddDays(365)}, newKey)
		note := msg.Message{Operation: "SendCertificates", Certificates: [][]byte{link.Raw, strangerRoot.Raw}}
		dvSender := &ra.Holder{ID: f.dv.ID, Country: "UT", Mnemonic: "DVA", Role: cvc.RoleDVDomestic, Status: authority.StatusActive}
		if got := r.Handle(ctx, dvSender, note).ReturnCode; got != authority.FailureMessageIDUnknown {
			t.Fatalf("notification from a DV: %s", got)
		}
		if got := r.Handle(ctx, peer, note).ReturnCode; got != authority.OKReceivedCorrectly {
			t.Fatalf("notification: %s", got)
		}
		chain, _ := f.st.CVCAChain(ctx, "UT")
		if len(chain) != 2 || chain[1].CHR != "UTCVCA00002" {
			t.Fatalf("chain after notification: %d certificates", len(chain))
		}
	})
}

// At shutdown a delivery in flight finishes within the grace period; one that cannot is
// returned to the queue without counting as an attempt.
func TestGracefulShutdown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
		// finish: the partner answers once shutdown began (else only when the call is
		// abandoned, after the grace period).
		finish    bool
		wantState store.OutboxState
	}{
		{"finishes", 5 * time.Second, true, store.OutboxDone},
		{"released", 50 * time.Millisecond, false, store.OutboxPending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, t.TempDir()+"/eacgate.db", 0)
			started, release := make(chan struct{}), make(chan struct{})
			var startOnce, releaseOnce sync.Once
			answer := func() { releaseOnce.Do(func() { close(release) }) }
			t.Cleanup(answer) // before the fixture's server closes
			slow := f.server.Config.Handler
			f.server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				startOnce.Do(func() { close(started) })
				select { // in flight until answered, or abandoned by the worker
				case <-release:
				case <-r.Context().Done():
				}
				slow.ServeHTTP(w, r)
			})
			f.enqueue(t, "m-slow", false)
			cfg := fastConfig()
			cfg.ShutdownGrace = tc.grace
			w := f.worker(cfg)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); w.Run(ctx) }()
			<-started
			cancel()
			if tc.finish {
				answer()
			}
			<-done
			items, _ := f.st.ListOutbox(context.Background(), "")
			if len(items) != 1 || items[0].State != tc.wantState || items[0].Attempts != 0 || items[0].LockedBy != "" {
				t.Fatalf("after shutdown: %+v", items)
			}
		})
	}
}
