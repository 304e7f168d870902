package spoc

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/catest"
	"eacgate/internal/testenv"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
)

// TR-03139 Table 2 steps 5-7: a DV's initial foreign request leaves with our CVCA's outer
// signature (checked by libeac's cvcverify with our CVCA certificate), audited as a use of
// the CVCA key; a successive one leaves as the DV signed it with its certificate from that
// country; a DV not allowed to ask that country is refused and nothing is forwarded.
func TestForwardCountersignsInitialRequests(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	reg := ra.NewStoreRegistry(st)
	dv := &store.Holder{Country: "UT", Mnemonic: "DVN", Role: store.RoleDVDomestic, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, dv); err != nil {
		t.Fatal(err)
	}
	ut := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1")
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	for _, c := range []*authority.Issuer{ut, zz} {
		if _, err := reg.Trust().AddCVCACertificate(ctx, c.Certificate(), true); err != nil {
			t.Fatal(err)
		}
	}
	newKey := func() (*ecc.PrivateKey, cvc.PublicKey) {
		key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
		pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
		return key, pub
	}
	dvKey, dvPub := newKey()
	dvReq, _ := cvc.NewRequest(cvc.RequestTemplate{CHR: "UTDVN00001"}, dvPub, dvKey)
	dvCert, err := ut.Issue(dvReq.Raw, authority.Applicant{Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVDomestic, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.RecordCertificate(ctx, dv.ID, dvCert); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var received [][]byte
	partner := httptest.NewTLSServer(&server.Endpoint{Protocols: server.SPOCProtocols,
		Service: serviceFunc(func(_ context.Context, _ msg.Caller, m msg.Message) msg.Answer {
			mu.Lock()
			defer mu.Unlock()
			received = append(received, m.CertReq)
			return msg.Answer{ReturnCode: authority.OKReceptionAck}
		})})
	defer partner.Close()
	f := &Forwarder{Country: "UT", Store: st, Registry: reg,
		Config:   Config{Partners: []Partner{{Country: "ZZ", URL: partner.URL}}},
		Clients:  map[string]*http.Client{"ZZ": partner.Client()},
		Domestic: func() []*cvc.Certificate { return ut.Path },
		CVCA:     func() *authority.Issuer { return ut }}
	h := &ra.Holder{ID: dv.ID, Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVDomestic, Status: authority.StatusActive}
	n := 1
	forward := func(outerCHR string, outerKey *ecc.PrivateKey) (authority.ReturnCode, *ecc.PrivateKey, *cvc.Request) {
		t.Helper()
		n++
		key, pub := newKey()
		req, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: "ZZCVCA00001", CHR: fmt.Sprintf("UTDVN%05d", n)}, pub, key)
		req, err := req.Authenticate(outerCHR, outerKey, cvc.ECDSA_SHA256)
		if err != nil {
			t.Fatal(err)
		}
		code := f.Forward(ctx, h, msg.Message{Operation: "RequestForeignCertificate", Namespace: server.CVCAProtocols[0].Namespace,
			MessageID: fmt.Sprintf("dv-%d", n), ForeignCAR: "ZZCVCA00001", CertReq: req.Raw}).ReturnCode
		return code, key, req
	}
	last := func() *cvc.Request {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		r, err := cvc.ParseRequest(received[len(received)-1])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Not on the RA's list for ZZ: refused, nothing forwarded.
	if code, _, _ := forward(dvCert.CHR, dvKey); code != authority.FailureRequestNotAccepted || len(received) != 0 {
		t.Fatalf("DV not allowed for ZZ: %s, %d forwarded", code, len(received))
	}
	if err := st.SetHolderForeignCountries(ctx, dv.ID, []string{"ZZ"}); err != nil {
		t.Fatal(err)
	}

	// Initial: countersigned by the CVCA.
	code, key, sent := forward(dvCert.CHR, dvKey)
	if code != authority.OKRequestForwarded || len(received) != 1 {
		t.Fatalf("initial request: %s, %d forwarded", code, len(received))
	}
	got := last()
	if got.OuterCAR != "UTCVCA00001" || got.CHR != sent.CHR || string(got.Inner) != string(sent.Inner) {
		t.Fatalf("forwarded: outer CAR %s, CHR %s, same inner request %v", got.OuterCAR, got.CHR, string(got.Inner) == string(sent.Inner))
	}
	if err := got.VerifyOuterWith(ut.Certificate(), nil); err != nil {
		t.Fatalf("outer signature: %v", err)
	}
	libeacVerifiesOuter(t, got.Raw, ut.Certificate())
	events, err := st.ListAudit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var audited bool
	for _, e := range events {
		var d map[string]string
		_ = json.Unmarshal([]byte(e.Details), &d)
		audited = audited || (e.Action == AuditCountersign && e.Target == sent.CHR && d["outerCAR"] == "UTCVCA00001" && d["requestSHA256"] != "")
	}
	if !audited {
		t.Fatalf("no countersignature in the audit log: %+v", events)
	}

	// The DV now holds a certificate from ZZ: its next request is authenticated by it and
	// forwarded as is; authenticated by its domestic certificate, it is refused.
	foreign, err := zz.Issue(sent.Inner, authority.Applicant{Country: "UT", Mnemonic: "DVN", Role: cvc.RoleDVForeign, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.RecordCertificate(ctx, dv.ID, foreign); err != nil {
		t.Fatal(err)
	}
	code, _, sent = forward(foreign.CHR, key)
	if code != authority.OKRequestForwarded || len(received) != 2 {
		t.Fatalf("successive request: %s, %d forwarded", code, len(received))
	}
	if got := last(); string(got.Raw) != string(sent.Raw) || got.OuterCAR != foreign.CHR {
		t.Fatalf("successive request not forwarded as is: outer CAR %s", got.OuterCAR)
	}
	if code, _, _ := forward(dvCert.CHR, dvKey); code != authority.FailureOuterSignature || len(received) != 2 {
		t.Fatalf("successive request signed by the domestic certificate: %s, %d forwarded", code, len(received))
	}
}

// libeacVerifiesOuter checks req's outer signature with cvcverify (tools/cvcverify, libeac)
// under signer, our CVCA's certificate.
func libeacVerifiesOuter(t *testing.T, req []byte, signer *cvc.Certificate) {
	t.Helper()
	tool := testenv.CVCVerify(t)
	dir := t.TempDir()
	for name, b := range map[string][]byte{"req.cvreq": req, "cvca.cvcert": signer.Raw} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(tool, "req", filepath.Join(dir, "req.cvreq"), filepath.Join(dir, "cvca.cvcert")).CombinedOutput()
	if err != nil {
		t.Fatalf("cvcverify: %v\n%s", err, out)
	}
	t.Logf("cvcverify: %s", strings.TrimSpace(string(out)))
}
