package spoc

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"net/http/httptest"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/catest"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
)

// RequestForeignCertificate's responseURL passes the responseURL policy (as
// RequestCertificate's does): a DV cannot make the gateway post to an address it chooses
// (issue #17 item 7: http://127.0.0.1:PORT/internal/admin was called, with retries).
func TestForwardChecksResponseURL(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	reg := ra.NewStoreRegistry(st)
	dv := &store.Holder{Country: "UT", Mnemonic: "DVN", Role: store.RoleDVDomestic, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, dv); err != nil {
		t.Fatal(err)
	}
	ut := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1")
	if _, err := reg.Trust().AddCVCACertificate(ctx, ut.Certificate(), true); err != nil {
		t.Fatal(err)
	}
	dvKey, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	dvPub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, dvKey.Public(), true)
	dvReq, _ := cvc.NewRequest(cvc.RequestTemplate{CHR: "UTDVN00001"}, dvPub, dvKey)
	dvCert, err := ut.Issue(dvReq.Raw, authority.Applicant{Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVDomestic, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.RecordCertificate(ctx, dv.ID, dvCert); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	partner := httptest.NewTLSServer(&server.Endpoint{Protocols: server.SPOCProtocols,
		Service: serviceFunc(func(context.Context, msg.Caller, msg.Message) msg.Answer {
			calls.Add(1)
			return msg.Answer{ReturnCode: authority.OKReceptionAck}
		})})
	defer partner.Close()
	f := &Forwarder{Country: "UT", Store: st, Registry: reg,
		Config:   Config{Partners: []Partner{{Country: "ZZ", URL: partner.URL}}, ForeignCountries: ForeignCountriesAny},
		CVCA:     func() *authority.Issuer { return ut },
		Clients:  map[string]*http.Client{"ZZ": partner.Client()},
		Domestic: func() []*cvc.Certificate { return ut.Path }}
	h := &ra.Holder{ID: dv.ID, Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVDomestic, Status: authority.StatusActive}
	n := 0
	forward := func(responseURL string) authority.ReturnCode {
		t.Helper()
		n++
		key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
		pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
		req, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: "ZZCVCA00001", CHR: fmt.Sprintf("UTDVN%05d", n+1)}, pub, key)
		req, err := req.Authenticate(dvCert.CHR, dvKey, cvc.ECDSA_SHA256)
		if err != nil {
			t.Fatal(err)
		}
		return f.Forward(ctx, h, msg.Message{Operation: "RequestForeignCertificate", Namespace: server.CVCAProtocols[0].Namespace,
			MessageID: fmt.Sprintf("dv-%d", n), ForeignCAR: "ZZCVCA00001", CertReq: req.Raw,
			CallbackPossible: true, ResponseURL: responseURL}).ReturnCode
	}
	if got := forward("https://dv.example/cb"); got != authority.OKRequestForwarded || calls.Load() != 1 {
		t.Fatalf("allowed responseURL: %s, partner called %d times", got, calls.Load())
	}
	// The default policy (https only; IP literals of loopback, private, metadata networks
	// refused), then a configured one with allowed prefixes.
	refused := []string{"http://127.0.0.1:8080/internal/admin?action=delete", "https://127.0.0.1:8443/cb",
		"https://169.254.169.254/latest/meta-data/", "https://[::1]/cb", "https://[::ffff:10.0.0.1]/cb", "ftp://dv.example/cb"}
	check := func(policy string) {
		t.Helper()
		for _, u := range refused {
			before := calls.Load()
			if got := forward(u); got != authority.FailureSyntax || calls.Load() != before {
				t.Errorf("%s: %s %s, partner called %d times", policy, u, got, calls.Load()-before)
			}
		}
	}
	check("default")
	f.CheckResponseURL = server.URLPolicy{AllowHTTP: true, AllowedPrefixes: []string{"https://dv.example/", "http://127.0.0.1:8080/cb"}}.Check
	refused = append(refused, "https://intranet.example/cb", "https://dv.example.evil/cb", "http://127.0.0.1:8080/cb")
	check("prefixes")
	if got := forward("https://dv.example/cb2"); got != authority.OKRequestForwarded {
		t.Fatalf("allowed prefix: %s", got)
	}
	if items, _ := st.ListOutbox(ctx, ""); len(items) != 0 {
		t.Fatalf("outbox %+v", items)
	}
}

type serviceFunc func(context.Context, msg.Caller, msg.Message) msg.Answer

func (f serviceFunc) Handle(ctx context.Context, c msg.Caller, m msg.Message) msg.Answer {
	return f(ctx, c, m)
}
