package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/dvclient"
	"eacgate/ecc"
	"eacgate/generated/dv11"
	"eacgate/internal/testenv"
	"eacgate/server"
	"eacgate/store"
)

// An officer's suspension of the gateway's own DV (its holder or its certificate) or CVCA
// stops issuance under it within the status TTL, without a restart; reinstating restores it.
func TestSuspendedIssuerIssuesNothing(t *testing.T) {
	ctx := context.Background()
	var logs testenv.Buffer
	g, err := Open(ctx, Options{DataDir: t.TempDir(), Demo: true, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	now := time.Now()
	g.issuerStatus.now = func() time.Time { return now }
	later := func() { now = now.Add(issuerStatusTTL + time.Second) }

	certPEM, _, err := server.SelfSignedCertificate("UTISGATE01", []string{"terminal.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	sum := sha256.Sum256(blk.Bytes)
	tlsCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Store.CreateHolder(ctx, &store.Holder{Country: "UT", Mnemonic: "ISGATE01", Role: store.RoleTerminal,
		TLSFingerprint: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	// Each request has a new key and sequence number, authenticated by the last certificate.
	var current *cvc.Certificate
	var currentKey *ecc.PrivateKey
	n := 0
	request := func() string {
		t.Helper()
		n++
		key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
		pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
		req, err := cvc.NewRequest(cvc.RequestTemplate{CHR: fmt.Sprintf("UTISGATE01%05d", n)}, pub, key)
		if err != nil {
			t.Fatal(err)
		}
		if current != nil {
			if req, err = req.Authenticate(current.CHR, currentKey, cvc.ECDSA_SHA256); err != nil {
				t.Fatal(err)
			}
		}
		body := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><n1:RequestCertificate xmlns:n1="` + dv11.Namespace + `">` +
			`<callbackIndicator>callback_not_possible</callbackIndicator><messageID><b:messageID xmlns:b="uri:eacBT/1.1">m-` + fmt.Sprint(n) + `</b:messageID></messageID>` +
			`<responseURL/><certReq>` + base64.StdEncoding.EncodeToString(req.Raw) + `</certReq></n1:RequestCertificate></s:Body></s:Envelope>`
		r := httptest.NewRequest(http.MethodPost, "/dv", strings.NewReader(body))
		r.Header.Set("Content-Type", "text/xml")
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{tlsCert}}
		w := httptest.NewRecorder()
		g.Handler.ServeHTTP(w, r)
		env, err := server.ParseEnvelope(w.Body.Bytes())
		if err != nil {
			t.Fatalf("%v: %s", err, w.Body.String())
		}
		var out dv11.RequestCertificateResponse
		if err := env.DecodeOperation(&out); err != nil {
			t.Fatal(err)
		}
		if string(*out.Result.ReturnCode) == string(authority.OKCertAvailable) {
			if current, err = cvc.ParseCertificate(out.Result.CertificateSeq.Certificate[0]); err != nil {
				t.Fatal(err)
			}
			currentKey = key
		}
		return string(*out.Result.ReturnCode)
	}
	expect := func(what, want string) {
		t.Helper()
		if got := request(); got != want {
			t.Fatalf("%s: %s, want %s", what, got, want)
		}
	}
	expect("active DV", "ok_cert_available")

	dvHolder, err := g.Store.HolderByName(ctx, "UT", "DVDEMO")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Store.SetHolderStatus(ctx, dvHolder.ID, store.HolderSuspended); err != nil {
		t.Fatal(err)
	}
	// Within the TTL the decision read before stands: requests read no status.
	expect("DV holder suspended, status not read again yet", "ok_cert_available")
	later()
	expect("DV holder suspended", "failure_request_not_accepted")
	expect("DV holder still suspended", "failure_request_not_accepted")
	// The asynchronous path decides with the same issuers.
	term, err := g.Store.HolderByName(ctx, "UT", "ISGATE01")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	asyncReq, err := cvc.NewRequest(cvc.RequestTemplate{CHR: "UTISGATE0199999"}, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	if asyncReq, err = asyncReq.Authenticate(current.CHR, currentKey, cvc.ECDSA_SHA256); err != nil {
		t.Fatal(err)
	}
	w, err := g.Worker()
	if err != nil {
		t.Fatal(err)
	}
	code, row, err := w.Processor.Process(ctx, &store.Message{Operation: "RequestCertificate", HolderID: &term.ID,
		Protocol: dv11.Namespace, Request: asyncReq.Raw})
	if err != nil || code != authority.FailureRequestNotAccepted || row != nil {
		t.Fatalf("asynchronous request under the suspended DV: %s %v %v", code, row, err)
	}
	if !strings.Contains(logs.String(), "issuer DV UTDVDEMO00001 is suspended") {
		t.Errorf("the refusal's reason is not logged:\n%s", logs.String())
	}
	if err := g.Store.SetHolderStatus(ctx, dvHolder.ID, store.HolderActive); err != nil {
		t.Fatal(err)
	}
	later()
	expect("DV holder reinstated", "ok_cert_available")

	rows, err := g.Store.CertificatesByCHR(ctx, g.DV.Certificate().CHR)
	if err != nil || len(rows) != 1 {
		t.Fatalf("DV certificate rows: %d %v", len(rows), err)
	}
	if err := g.Store.SetCertificateStatus(ctx, rows[0].ID, store.CertSuspended); err != nil {
		t.Fatal(err)
	}
	later()
	expect("DV certificate suspended", "failure_request_not_accepted")
	if err := g.Store.SetCertificateStatus(ctx, rows[0].ID, store.CertValid); err != nil {
		t.Fatal(err)
	}
	later()
	expect("DV certificate reinstated", "ok_cert_available")

	// The CVCA: a suspended CVCA certificate certifies no DV.
	cvcaRows, err := g.Store.CertificatesByCHR(ctx, g.CVCA.Certificate().CHR)
	if err != nil || len(cvcaRows) != 1 {
		t.Fatalf("CVCA certificate rows: %d %v", len(cvcaRows), err)
	}
	if err := g.Store.SetCertificateStatus(ctx, cvcaRows[0].ID, store.CertSuspended); err != nil {
		t.Fatal(err)
	}
	later()
	renew := dvclient.Options{RenewBefore: 1000 * 24 * time.Hour, MinInterval: time.Nanosecond}
	if _, err := g.dv.Renew(ctx, renew, time.Now()); !errors.Is(err, authority.ErrNotAccepted) || !strings.Contains(err.Error(), "issuer CVCA UTCVCA00001 is suspended") {
		t.Fatalf("DV renewal under a suspended CVCA: %v", err)
	}
	if err := g.Store.SetCertificateStatus(ctx, cvcaRows[0].ID, store.CertValid); err != nil {
		t.Fatal(err)
	}
	later()
	if renewed, err := g.dv.Renew(ctx, renew, time.Now()); err != nil || renewed == nil {
		t.Fatalf("DV renewal under the reinstated CVCA: %v", err)
	}
}
