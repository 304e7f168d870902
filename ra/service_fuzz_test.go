package ra

import (
	"context"
	"io"
	"strings"
	"testing"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/msg"
	"eacgate/server"
)

// FuzzIssuingService feeds SOAP envelopes through the decoding the endpoint does into the
// CVCA's issuing service, called directly so that a panic fails (the endpoint would turn it
// into failure_internal_error), and encodes the answer. Seeds: each operation of the CVCA
// and DV interfaces, with initial and authenticated requests. bare selects a service with
// nothing but its registry (no issuer, chain, receiver or list).
func FuzzIssuingService(f *testing.F) {
	cvcaKey, cvcaCert, reg := newTestCVCA(f)
	issuer := &authority.Issuer{Path: []*cvc.Certificate{cvcaCert}, Signer: cvcaKey, Policy: authority.DefaultPolicy()}
	full := &IssuingService{Issuer: issuer, Registry: reg,
		Chain: func(context.Context) ([][]byte, error) { return [][]byte{cvcaCert.Raw}, nil },
		Mode: func(_ *Holder, m msg.Message) Mode {
			if strings.HasPrefix(m.MessageID, "a") {
				return ModeAsync
			}
			return ModeSync
		}}
	bare := &IssuingService{Registry: reg}
	protocols := append(append([]server.Protocol{}, server.CVCAProtocols...), server.DVProtocols...)
	dv := msg.Caller{Fingerprint: "fp-dv"}

	initial, dvKey := testRequest(f, "brainpoolP256r1", "UTDVA00001", "UTCVCA00001", nil, nil)
	a := full.Handle(context.Background(), dv, msg.Message{Operation: "RequestCertificate", MessageID: "seed", CertReq: initial})
	if a.ReturnCode != authority.OKCertAvailable {
		f.Fatalf("seed request: %s", a.ReturnCode)
	}
	dvCert, err := cvc.ParseCertificate(a.Certificates[0])
	if err != nil {
		f.Fatal(err)
	}
	renewal, _ := testRequest(f, "brainpoolP256r1", "UTDVA00002", "UTCVCA00001", dvCert, dvKey)
	for _, p := range protocols {
		for _, m := range []msg.Message{
			{Operation: "RequestCertificate", MessageID: "s1", CertReq: initial},
			{Operation: "RequestCertificate", MessageID: "s2", CertReq: renewal},
			{Operation: "RequestCertificate", MessageID: "a3", CertReq: renewal, CallbackPossible: true, ResponseURL: "https://dv.example/cb"},
			{Operation: "GetCACertificates", CallbackPossible: false},
			{Operation: "SendCertificates", MessageID: "s4", StatusInfo: "ok_cert_available", Certificates: [][]byte{cvcaCert.Raw}},
			{Operation: "GetDocumentSignerList"},
			{Operation: "RequestForeignCertificate", MessageID: "s5", CertReq: renewal, ForeignCAR: "ZZCVCA00001"},
		} {
			if env, err := server.EncodeRequest(p, m); err == nil {
				f.Add(env, false)
				f.Add(env, true)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, useBare bool) {
		env, err := server.ParseEnvelope(body)
		if err != nil {
			return
		}
		var proto server.Protocol
		for _, p := range protocols {
			if p.Namespace == env.Operation.Space {
				proto = p
			}
		}
		if proto.NewRequest == nil {
			return
		}
		req, op, ok := proto.NewRequest(env.Operation.Local)
		if !ok || env.DecodeOperation(req) != nil {
			return
		}
		m := server.MessageFrom(op, req)
		m.Namespace = proto.Namespace
		svc := full
		if useBare {
			svc = bare
		}
		answer := svc.Handle(context.Background(), dv, m)
		resp, ok := proto.NewResponse(op)
		if !ok {
			t.Fatalf("%s: no response type", op)
		}
		if err := server.FillResponse(resp, answer); err != nil {
			t.Fatalf("%s answered %+v: %v", op, answer, err)
		}
		if err := server.WriteEnvelope(io.Discard, env.SOAP12, resp); err != nil {
			t.Fatalf("%s: write response: %v", op, err)
		}
	})
}
