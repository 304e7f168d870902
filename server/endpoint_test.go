package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"eacgate/authority"
	"eacgate/generated/dv10"
	"eacgate/generated/dv11"
	"eacgate/msg"
)

// echoService answers with what it was given, so the tests can see the decoded message.
type echoService struct{ last msg.Message }

func (s *echoService) Handle(_ context.Context, _ msg.Caller, m msg.Message) msg.Answer {
	s.last = m
	switch m.Operation {
	case "RequestCertificate":
		if string(m.CertReq) == "panic" {
			panic("boom")
		}
		return msg.Answer{ReturnCode: authority.OKCertAvailable, Certificates: [][]byte{m.CertReq}}
	case "GetCACertificates":
		return msg.Answer{ReturnCode: authority.OKCertAvailable, Certificates: [][]byte{{0x7F, 0x21, 0x00}, {0x00, 0xFF}}}
	case "GetDocumentSignerList":
		return msg.Answer{ReturnCode: authority.FailureListNotAvailable}
	}
	return msg.Answer{ReturnCode: authority.FailureSyntax}
}

func envelope(ns, body string) string {
	return `<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>` +
		strings.ReplaceAll(body, "NS", ns) + `</soapenv:Body></soapenv:Envelope>`
}

func post(t *testing.T, url, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, "text/xml; charset=utf-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestEndpoint(t *testing.T) {
	svc := &echoService{}
	srv := httptest.NewServer(&Endpoint{Protocols: DVProtocols, Service: svc, MaxBody: 4096})
	defer srv.Close()

	certReq := []byte{0x7F, 0x21, 0x01, 0x00, 0xFF, '<', '&'}
	rc := `<n1:RequestCertificate xmlns:n1="NS"><callbackIndicator>callback_not_possible</callbackIndicator>` +
		`<messageID><b:messageID xmlns:b="uri:eacBT/1.1">m-42</b:messageID></messageID><responseURL/>` +
		`<certReq>` + base64.StdEncoding.EncodeToString(certReq) + `</certReq></n1:RequestCertificate>`

	t.Run("RequestCertificate v1.1", func(t *testing.T) {
		resp, body := post(t, srv.URL, envelope(dv11.Namespace, rc))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if svc.last.MessageID != "m-42" || svc.last.CallbackPossible || !bytes.Equal(svc.last.CertReq, certReq) {
			t.Fatalf("decoded %+v", svc.last)
		}
		env, err := ParseEnvelope(body)
		if err != nil {
			t.Fatal(err)
		}
		var out dv11.RequestCertificateResponse
		if err := env.DecodeOperation(&out); err != nil {
			t.Fatal(err)
		}
		if *out.Result.ReturnCode != "ok_cert_available" || !bytes.Equal(out.Result.CertificateSeq.Certificate[0], certReq) {
			t.Fatalf("%s", body)
		}
	})
	t.Run("v1.0 is answered in v1.0", func(t *testing.T) {
		_, body := post(t, srv.URL, envelope(dv10.Namespace, strings.ReplaceAll(rc, "eacBT/1.1", "eacBT/1.0")))
		env, err := ParseEnvelope(body)
		if err != nil || env.Operation.Space != dv10.Namespace {
			t.Fatalf("%v %s", err, body)
		}
	})
	t.Run("garbage base64 is failure_syntax", func(t *testing.T) {
		_, body := post(t, srv.URL, envelope(dv11.Namespace, strings.Replace(rc, base64.StdEncoding.EncodeToString(certReq), "!!not base64!!", 1)))
		if !bytes.Contains(body, []byte("failure_syntax")) {
			t.Fatalf("%s", body)
		}
	})
	t.Run("panic is failure_internal_error", func(t *testing.T) {
		_, body := post(t, srv.URL, envelope(dv11.Namespace, strings.Replace(rc, base64.StdEncoding.EncodeToString(certReq), base64.StdEncoding.EncodeToString([]byte("panic")), 1)))
		if !bytes.Contains(body, []byte("failure_internal_error")) || bytes.Contains(body, []byte("boom")) {
			t.Fatalf("%s", body)
		}
	})
	t.Run("document signer list", func(t *testing.T) {
		_, body := post(t, srv.URL, envelope(dv11.Namespace, `<n1:GetDocumentSignerList xmlns:n1="NS"><callbackIndicator>callback_not_possible</callbackIndicator><messageID/><responseURL/></n1:GetDocumentSignerList>`))
		if !bytes.Contains(body, []byte("failure_list_not_available")) {
			t.Fatalf("%s", body)
		}
	})
	for name, tc := range map[string]struct {
		body   string
		status int
	}{
		"malformed":         {"<soap", 500},
		"unknown operation": {envelope(dv11.Namespace, `<n1:Nope xmlns:n1="NS"/>`), 500},
		"unknown namespace": {envelope("urn:other", `<n1:GetCACertificates xmlns:n1="NS"/>`), 500},
		"too large":         {envelope(dv11.Namespace, rc+strings.Repeat(" ", 5000)), 413},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := post(t, srv.URL, tc.body)
			if resp.StatusCode != tc.status || !bytes.Contains(body, []byte("Fault")) {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("WSDL", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/dv?wsdl")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(b, []byte(srv.URL+"/dv")) || !bytes.Contains(b, []byte(dv11.Namespace)) {
			t.Fatalf("%s", b)
		}
		resp, _ = http.Get(srv.URL)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET without ?wsdl: %d", resp.StatusCode)
		}
	})
}

// Absent optional parts decode as empty strings, never as reflect's "<invalid Value>".
func TestMessageFromEmptyParts(t *testing.T) {
	m := MessageFrom("GetCACertificates", &dv11.GetCACertificatesRequest{})
	if m.MessageID != "" || m.ResponseURL != "" || m.CallbackPossible || m.CertReq != nil {
		t.Fatalf("%+v", m)
	}
	id := dv11.MessageIDType("m-7")
	m = MessageFrom("GetCACertificates", &dv11.GetCACertificatesRequest{MessageID: &dv11.OptionalMessageIDType{MessageID: &id}})
	if m.MessageID != "m-7" {
		t.Fatalf("%+v", m)
	}
}

func TestEndpointMetrics(t *testing.T) {
	m := NewMetrics(nil)
	srv := httptest.NewServer(&Endpoint{Protocols: DVProtocols, Service: &echoService{}, Name: "dv", Metrics: m})
	defer srv.Close()
	body := envelope(dv11.Namespace, `<n1:GetCACertificates xmlns:n1="NS"><callbackIndicator>callback_not_possible</callbackIndicator><messageID/><responseURL/></n1:GetCACertificates>`)
	for range 3 {
		post(t, srv.URL, body)
	}
	out := scrapeMetrics(t, m)
	for _, want := range []string{
		`eacgate_soap_requests_total{code="ok_cert_available",endpoint="dv",operation="GetCACertificates"} 3`,
		`eacgate_soap_request_duration_seconds_bucket{endpoint="dv",operation="GetCACertificates",le="+Inf"} 3`,
		`eacgate_soap_request_duration_seconds_count{endpoint="dv",operation="GetCACertificates"} 3`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in\n%s", want, out)
		}
	}
}

// admitService admits callers by a header the test sets (standing for the TLS identity)
// and records whether Handle saw what Admit put in the context.
type admitService struct{ sawAdmitted bool }

type admitKey struct{}

func (s *admitService) Admit(ctx context.Context, c msg.Caller) (context.Context, bool) {
	if c.RemoteAddr == "" || !strings.HasPrefix(c.RemoteAddr, "127.") {
		return ctx, false
	}
	return context.WithValue(ctx, admitKey{}, true), true
}

func (s *admitService) Handle(ctx context.Context, _ msg.Caller, _ msg.Message) msg.Answer {
	s.sawAdmitted, _ = ctx.Value(admitKey{}).(bool)
	return msg.Answer{ReturnCode: authority.OKCertAvailable}
}

// A caller the service does not admit cannot make the endpoint read a large body: past
// UnidentifiedMaxBody it gets a fault (413) before anything is parsed; an admitted caller's
// body may be up to MaxBody, and Handle gets Admit's context.
func TestUnadmittedCallerBodyIsSmall(t *testing.T) {
	svc := &admitService{}
	e := &Endpoint{Protocols: DVProtocols, Service: svc}
	pad := strings.Repeat(" ", 64<<10) // whitespace: still a well-formed envelope
	body := envelope(dv11.Namespace, `<n1:GetCACertificates xmlns:n1="NS"><callbackIndicator>callback_not_possible</callbackIndicator><messageID/><responseURL/></n1:GetCACertificates>`+pad)
	for _, tc := range []struct {
		remote string
		want   int
	}{{"192.0.2.1:1000", http.StatusRequestEntityTooLarge}, {"127.0.0.1:1000", http.StatusOK}} {
		req := httptest.NewRequest(http.MethodPost, "/dv", strings.NewReader(body))
		req.RemoteAddr = tc.remote
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("from %s: status %d, want %d\n%s", tc.remote, rec.Code, tc.want, rec.Body.String())
		}
	}
	if !svc.sawAdmitted {
		t.Error("Handle did not get the context Admit returned")
	}
}
