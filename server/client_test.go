package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"eacgate/authority"
	"eacgate/msg"
)

// TestSendCertificatesRoundTrip encodes SendCertificates in both DV protocol versions,
// serves it to a real Endpoint, and decodes the answer.
func TestSendCertificatesRoundTrip(t *testing.T) {
	var got msg.Message
	ep := &Endpoint{Protocols: DVProtocols, Service: serviceFunc(func(_ context.Context, _ msg.Caller, m msg.Message) msg.Answer {
		got = m
		return msg.Answer{ReturnCode: authority.OKReceivedCorrectly}
	})}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	for _, p := range DVProtocols {
		want := msg.Message{Operation: "SendCertificates", MessageID: "msg-" + p.Namespace, StatusInfo: "ok_cert_available",
			Certificates: [][]byte{{0x7f, 0x21, 0x00}, {1, 2, 3}}}
		body, err := EncodeRequest(p, want)
		if err != nil {
			t.Fatal(err)
		}
		a, err := Call(context.Background(), srv.Client(), srv.URL, p, "SendCertificates", body)
		if err != nil {
			t.Fatalf("%s: %v", p.Namespace, err)
		}
		if a.ReturnCode != authority.OKReceivedCorrectly {
			t.Fatalf("%s: %s", p.Namespace, a.ReturnCode)
		}
		if got.MessageID != want.MessageID || got.StatusInfo != want.StatusInfo || len(got.Certificates) != 2 ||
			!bytes.Equal(got.Certificates[1], []byte{1, 2, 3}) || got.Namespace != p.Namespace {
			t.Fatalf("%s: received %+v", p.Namespace, got)
		}
	}
	if CallbackProtocol("uri:EAC-PKI-CVCA-Protocol/1.0").Namespace != DVProtocols[1].Namespace ||
		CallbackProtocol("uri:EAC-PKI-CVCA-Protocol/1.1").Namespace != DVProtocols[0].Namespace {
		t.Fatal("CallbackProtocol")
	}
}

func TestCallErrors(t *testing.T) {
	p := DVProtocols[0]
	body, _ := EncodeRequest(p, msg.Message{Operation: "SendCertificates", MessageID: "x", StatusInfo: "ok_cert_available"})
	for name, h := range map[string]http.HandlerFunc{
		"503": func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) },
		"fault": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(500)
			_ = WriteFault(w, false, false, "nope")
		},
		"garbage": func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>hello</html>")) },
		"wrong": func(w http.ResponseWriter, _ *http.Request) {
			resp, _ := p.NewResponse("GetCACertificates")
			_ = WriteEnvelope(w, false, resp)
		},
	} {
		srv := httptest.NewServer(h)
		_, err := Call(context.Background(), srv.Client(), srv.URL, p, "SendCertificates", body)
		srv.Close()
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

type serviceFunc func(context.Context, msg.Caller, msg.Message) msg.Answer

func (f serviceFunc) Handle(ctx context.Context, c msg.Caller, m msg.Message) msg.Answer {
	return f(ctx, c, m)
}
