package generated_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"eacgate/generated/cvca10"
	"eacgate/generated/cvca11"
	"eacgate/generated/dv10"
	"eacgate/generated/dv11"
	"eacgate/generated/spoc"
	"eacgate/wsdl/soapenc"

	"github.com/hooklift/gowsdl/soap"
)

const (
	nsDV11    = "uri:EAC-PKI-DV-Protocol/1.1"
	nsBT11    = "uri:eacBT/1.1"
	nsSOAPEnv = "http://schemas.xmlsoap.org/soap/envelope/"
)

// allBytes is a "certificate" holding every byte value, 0x00..0xFF.
func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// canon renders an XML document namespace-aware and prefix-independent:
// every element as {namespace}local, attributes sorted (namespace declarations
// dropped), whitespace-only text dropped, comments and processing
// instructions dropped. Two documents with the same canon are the same
// XML infoset for SOAP purposes.
func canon(t *testing.T, doc string) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	var b strings.Builder
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("canon: %v\n%s", err, doc)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			fmt.Fprintf(&b, "%s<{%s}%s", strings.Repeat(" ", depth), x.Name.Space, x.Name.Local)
			var attrs []string
			for _, a := range x.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				attrs = append(attrs, fmt.Sprintf("{%s}%s=%q", a.Name.Space, a.Name.Local, a.Value))
			}
			sort.Strings(attrs)
			for _, a := range attrs {
				b.WriteString(" " + a)
			}
			b.WriteString(">\n")
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if s := strings.TrimSpace(string(x)); s != "" {
				fmt.Fprintf(&b, "%s%q\n", strings.Repeat(" ", depth), s)
			}
		}
	}
	return b.String()
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := xml.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return string(b)
}

func assertSameXML(t *testing.T, got, want string) {
	t.Helper()
	if cg, cw := canon(t, got), canon(t, want); cg != cw {
		t.Errorf("XML differs\n got: %s\nwant: %s\n--- got canon\n%s--- want canon\n%s", got, want, cg, cw)
	}
}

// The wire shape of TR-03129 v1.1 as real clients send it (reference README):
// <n1:GetCACertificates xmlns:n1="uri:EAC-PKI-DV-Protocol/1.1"><callbackIndicator>...
// parts unqualified, their children qualified in eacBT, messageID and responseURL
// as wrappers.
const sampleGetCACertificatesReq = `<n1:GetCACertificates xmlns:n1="uri:EAC-PKI-DV-Protocol/1.1" xmlns:eacBT="uri:eacBT/1.1">` +
	`<callbackIndicator>callback_possible</callbackIndicator>` +
	`<messageID><eacBT:messageID>msg-4711</eacBT:messageID></messageID>` +
	`<responseURL><eacBT:string>https://dv.example.org/callback</eacBT:string></responseURL>` +
	`</n1:GetCACertificates>`

const sampleGetCACertificatesReqNoCallback = `<n1:GetCACertificates xmlns:n1="uri:EAC-PKI-DV-Protocol/1.1">` +
	`<callbackIndicator>callback_not_possible</callbackIndicator><messageID/><responseURL/>` +
	`</n1:GetCACertificates>`

// ... and the answer: <ns1:GetCACertificatesResponse><Result><ns2:returnCode>... with ns2 = uri:eacBT/1.1.
func sampleGetCACertificatesRes(certs ...[]byte) string {
	var s strings.Builder
	s.WriteString(`<ns1:GetCACertificatesResponse xmlns:ns1="uri:EAC-PKI-DV-Protocol/1.1" xmlns:ns2="uri:eacBT/1.1">`)
	s.WriteString(`<Result><ns2:returnCode>ok_cert_available</ns2:returnCode><ns2:certificateSeq>`)
	for _, c := range certs {
		s.WriteString(`<ns2:certificate>` + base64.StdEncoding.EncodeToString(c) + `</ns2:certificate>`)
	}
	s.WriteString(`</ns2:certificateSeq></Result></ns1:GetCACertificatesResponse>`)
	return s.String()
}

func TestWireSampleGetCACertificatesRequest(t *testing.T) {
	// Unmarshal the samples.
	var req dv11.GetCACertificatesRequest
	if err := xml.Unmarshal([]byte(sampleGetCACertificatesReq), &req); err != nil {
		t.Fatal(err)
	}
	if req.CallbackIndicator == nil || *req.CallbackIndicator != dv11.CallbackIndicatorTypeCallback_possible {
		t.Errorf("callbackIndicator = %v", req.CallbackIndicator)
	}
	if req.MessageID == nil || req.MessageID.MessageID == nil || *req.MessageID.MessageID != "msg-4711" {
		t.Errorf("messageID = %+v", req.MessageID)
	}
	if req.ResponseURL == nil || req.ResponseURL.Astring != "https://dv.example.org/callback" {
		t.Errorf("responseURL = %+v", req.ResponseURL)
	}
	var req2 dv11.GetCACertificatesRequest
	if err := xml.Unmarshal([]byte(sampleGetCACertificatesReqNoCallback), &req2); err != nil {
		t.Fatal(err)
	}
	if *req2.CallbackIndicator != dv11.CallbackIndicatorTypeCallback_not_possible || req2.MessageID.MessageID != nil || req2.ResponseURL.Astring != "" {
		t.Errorf("no-callback request = %+v", req2)
	}

	// Marshal Go values: same infoset as the samples.
	assertSameXML(t, marshal(t, &req), sampleGetCACertificatesReq)
	assertSameXML(t, marshal(t, dv11.GetCACertificatesRequest{
		CallbackIndicator: ptr(dv11.CallbackIndicatorTypeCallback_not_possible),
	}), sampleGetCACertificatesReqNoCallback)

	// A request in the v1.0 namespace is not a v1.1 request.
	v10 := strings.ReplaceAll(sampleGetCACertificatesReq, "/1.1", "/1.0")
	if err := xml.Unmarshal([]byte(v10), &req); err == nil {
		t.Error("dv11 accepted a v1.0 wrapper")
	}
	var r10 dv10.GetCACertificatesRequest
	if err := xml.Unmarshal([]byte(v10), &r10); err != nil || *r10.MessageID.MessageID != "msg-4711" {
		t.Errorf("dv10: %v %+v", err, r10)
	}
}

func TestWireSampleGetCACertificatesResponse(t *testing.T) {
	cert1, cert2 := allBytes(), []byte{0x7f, 0x21, 0x00, 0xff, 0x0a, 0x0d, '<', '&'}
	sample := sampleGetCACertificatesRes(cert1, cert2)

	var res dv11.GetCACertificatesResponse
	if err := xml.Unmarshal([]byte(sample), &res); err != nil {
		t.Fatal(err)
	}
	if res.Result == nil || res.Result.ReturnCode == nil || *res.Result.ReturnCode != dv11.GetCACertificates_returnCodeTypeOk_cert_available {
		t.Fatalf("Result = %+v", res.Result)
	}
	got := res.Result.CertificateSeq.Certificate
	if len(got) != 2 || !bytes.Equal(got[0], cert1) || !bytes.Equal(got[1], cert2) {
		t.Fatalf("certificates = %x", got)
	}

	out := marshal(t, dv11.GetCACertificatesResponse{Result: &dv11.GetCACertificatesResult{
		ReturnCode:     ptr(dv11.GetCACertificates_returnCodeTypeOk_cert_available),
		CertificateSeq: &dv11.CertificateSeqType{Certificate: []soapenc.Base64Binary{cert1, cert2}},
	}})
	assertSameXML(t, out, sample)
	// The wrapper is prefixed and the part unqualified, as on the wire.
	if !strings.HasPrefix(out, `<ns1:GetCACertificatesResponse xmlns:ns1="uri:EAC-PKI-DV-Protocol/1.1"><Result xmlns="">`) {
		t.Errorf("unexpected prefix: %s", out)
	}
	if !strings.Contains(out, base64.StdEncoding.EncodeToString(cert1)) {
		t.Error("certificate is not base64 on the wire")
	}
}

// Inside an envelope that declares a default namespace the parts must still be
// unqualified (xmlns="").
func TestPartsStayUnqualifiedUnderDefaultNamespace(t *testing.T) {
	type envelope struct {
		XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
		Body    struct {
			XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
			Content any
		}
	}
	var env envelope
	env.Body.Content = dv11.SendCertificatesResponse{Result: &dv11.SendCertificatesResult{
		ReturnCode: ptr(dv11.SendCertificates_returnCodeTypeOk_received_correctly),
	}}
	out := marshal(t, env)
	want := `<soapenv:Envelope xmlns:soapenv="` + nsSOAPEnv + `"><soapenv:Body>` +
		`<x:SendCertificatesResponse xmlns:x="uri:EAC-PKI-DV-Protocol/1.1" xmlns:bt="uri:eacBT/1.1"><Result><bt:returnCode>ok_received_correctly</bt:returnCode></Result></x:SendCertificatesResponse>` +
		`</soapenv:Body></soapenv:Envelope>`
	assertSameXML(t, out, want)
}

func TestRequestCertificateBinaryRoundTrip(t *testing.T) {
	req := dv11.RequestCertificateRequest{
		CallbackIndicator: ptr(dv11.CallbackIndicatorTypeCallback_not_possible),
		CertReq:           allBytes(),
	}
	out := marshal(t, req)
	want := `<n1:RequestCertificate xmlns:n1="uri:EAC-PKI-DV-Protocol/1.1">` +
		`<callbackIndicator>callback_not_possible</callbackIndicator><messageID/><responseURL/>` +
		`<certReq>` + base64.StdEncoding.EncodeToString(allBytes()) + `</certReq></n1:RequestCertificate>`
	assertSameXML(t, out, want)

	// Line-wrapped base64 (as some stacks send it) decodes too.
	wrapped := base64.StdEncoding.EncodeToString(allBytes())
	wrapped = wrapped[:76] + "\r\n" + wrapped[76:152] + "\n  " + wrapped[152:]
	var back dv11.RequestCertificateRequest
	if err := xml.Unmarshal([]byte(strings.Replace(want, base64.StdEncoding.EncodeToString(allBytes()), wrapped, 1)), &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.CertReq, allBytes()) {
		t.Fatalf("certReq = %x", back.CertReq)
	}
	var bad dv11.RequestCertificateRequest
	if err := xml.Unmarshal([]byte(strings.Replace(want, "<certReq>", "<certReq>!!", 1)), &bad); err == nil {
		t.Error("invalid base64 accepted")
	}
}

func TestV10SendCertificatesPlainMessageID(t *testing.T) {
	// v1.0 SendCertificates has messageID of the simple MessageIDType.
	in := `<a:SendCertificates xmlns:a="uri:EAC-PKI-DV-Protocol/1.0" xmlns:b="uri:eacBT/1.0">` +
		`<messageID>m-1</messageID><statusInfo>ok_cert_available</statusInfo>` +
		`<certificateSeq><b:certificate>` + base64.StdEncoding.EncodeToString(allBytes()) + `</b:certificate></certificateSeq></a:SendCertificates>`
	var req dv10.SendCertificatesRequest
	if err := xml.Unmarshal([]byte(in), &req); err != nil {
		t.Fatal(err)
	}
	if *req.MessageID != "m-1" || *req.StatusInfo != dv10.SendCertificates_statusInfoTypeOk_cert_available || !bytes.Equal(req.CertificateSeq.Certificate[0], allBytes()) {
		t.Fatalf("%+v", req)
	}
	assertSameXML(t, marshal(t, req), in)
}

func TestRequestForeignCertificateAndDocumentSignerList(t *testing.T) {
	rfc := cvca11.RequestForeignCertificateRequest{
		CallbackIndicator: ptr(cvca11.CallbackIndicatorTypeCallback_possible),
		MessageID:         &cvca11.OptionalMessageIDType{MessageID: ptr(cvca11.MessageIDType("id-1"))},
		ForeignCAR:        "FRCVCA00001",
		ResponseURL:       &cvca11.OptionalStringType{Astring: "https://dv/cb"},
		CertReq:           allBytes(),
	}
	want := `<p:RequestForeignCertificate xmlns:p="uri:EAC-PKI-CVCA-Protocol/1.1" xmlns:b="uri:eacBT/1.1">` +
		`<callbackIndicator>callback_possible</callbackIndicator><messageID><b:messageID>id-1</b:messageID></messageID>` +
		`<foreignCAR>FRCVCA00001</foreignCAR><responseURL><b:string>https://dv/cb</b:string></responseURL>` +
		`<certReq>` + base64.StdEncoding.EncodeToString(allBytes()) + `</certReq></p:RequestForeignCertificate>`
	assertSameXML(t, marshal(t, rfc), want)

	res := cvca10.RequestForeignCertificateResponse{Result: &cvca10.RequestForeignCertificateResult{
		ReturnCode: ptr(cvca10.RequestForeignCertificate_returnCodeTypeOk_request_forwarded),
	}}
	assertSameXML(t, marshal(t, res), `<p:RequestForeignCertificateResponse xmlns:p="uri:EAC-PKI-CVCA-Protocol/1.0"><Result><b:returnCode xmlns:b="uri:eacBT/1.0">ok_request_forwarded</b:returnCode></Result></p:RequestForeignCertificateResponse>`)

	ds := dv11.GetDocumentSignerListResponse{Result: &dv11.GetDocumentSignerListResult{
		ReturnCode:         ptr(dv11.GetDocumentSignerList_returnCodeTypeOk_list_available),
		DocumentSignerList: &dv11.OptionalBinaryType{Binary: allBytes()},
	}}
	assertSameXML(t, marshal(t, ds), `<p:GetDocumentSignerListResponse xmlns:p="uri:EAC-PKI-DV-Protocol/1.1" xmlns:b="uri:eacBT/1.1"><Result>`+
		`<b:returnCode>ok_list_available</b:returnCode><b:documentSignerList><b:binary>`+base64.StdEncoding.EncodeToString(allBytes())+
		`</b:binary></b:documentSignerList></Result></p:GetDocumentSignerListResponse>`)
}

func TestSPOCDocumentLiteral(t *testing.T) {
	req := spoc.RequestCertificateRequest{CallerID: "DE", MessageID: "m1", CertificateRequest: allBytes()}
	want := `<s:RequestCertificateRequest xmlns:s="http://namespaces.unmz.cz/csn369791"><s:callerID>DE</s:callerID><s:messageID>m1</s:messageID>` +
		`<s:certificateRequest>` + base64.StdEncoding.EncodeToString(allBytes()) + `</s:certificateRequest></s:RequestCertificateRequest>`
	assertSameXML(t, marshal(t, req), want)
	var back spoc.RequestCertificateRequest
	if err := xml.Unmarshal([]byte(want), &back); err != nil || !bytes.Equal(back.CertificateRequest, allBytes()) || back.CallerID != "DE" {
		t.Fatalf("%v %+v", err, back)
	}
}

// The gowsdl client, post-processed, talks the wire shape to a server built
// from the same types: the envelope, SOAPAction and both directions.
func TestGowsdlClientRoundTrip(t *testing.T) {
	cert := allBytes()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("SOAPAction"); got != `""` {
			t.Errorf("SOAPAction = %q, want \"\"", got)
		}
		body, _ := io.ReadAll(r.Body)
		var env struct {
			Body struct {
				Req dv11.RequestCertificateRequest `xml:"uri:EAC-PKI-DV-Protocol/1.1 RequestCertificate"`
			} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
		}
		if err := xml.Unmarshal(body, &env); err != nil {
			t.Errorf("server: %v\n%s", err, body)
		}
		req := env.Body.Req
		if *req.CallbackIndicator != dv11.CallbackIndicatorTypeCallback_not_possible || !bytes.Equal(req.CertReq, cert) {
			t.Errorf("server got %+v\n%s", req, body)
		}
		res := dv11.RequestCertificateResponse{Result: &dv11.RequestCertificateResult{
			ReturnCode:     ptr(dv11.RequestCertificate_returnCodeTypeOk_cert_available),
			CertificateSeq: &dv11.CertificateSeqType{Certificate: []soapenc.Base64Binary{cert, req.CertReq[:3]}},
		}}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="%s"><SOAP-ENV:Body>%s</SOAP-ENV:Body></SOAP-ENV:Envelope>`, nsSOAPEnv, marshal(t, res))
	}))
	defer srv.Close()

	client := dv11.NewEACPKIDVProtocolType(soap.NewClient(srv.URL))
	res, err := client.RequestCertificateContext(context.Background(), &dv11.RequestCertificateRequest{
		CallbackIndicator: ptr(dv11.CallbackIndicatorTypeCallback_not_possible),
		CertReq:           cert,
	})
	if err != nil {
		t.Fatal(err)
	}
	if *res.Result.ReturnCode != dv11.RequestCertificate_returnCodeTypeOk_cert_available ||
		len(res.Result.CertificateSeq.Certificate) != 2 || !bytes.Equal(res.Result.CertificateSeq.Certificate[0], cert) {
		t.Fatalf("client got %+v", res.Result)
	}
}

func TestNewRequestDispatch(t *testing.T) {
	for _, op := range dv11.Operations {
		req, name, ok := dv11.NewRequest(op)
		if !ok || name != op {
			t.Fatalf("NewRequest(%s) = %T %s %v", op, req, name, ok)
		}
		if _, ok := dv11.NewResponse(op); !ok {
			t.Fatalf("NewResponse(%s)", op)
		}
	}
	if _, _, ok := dv11.NewRequest("GetMasterList"); ok {
		t.Error("unknown operation accepted")
	}
	if req, op, ok := spoc.NewRequest("GetCACertificatesRequest"); !ok || op != "GetCACertificates" {
		t.Errorf("spoc: %T %s %v", req, op, ok)
	}
	if dv11.Namespace != nsDV11 || dv11.Style != "rpc" || spoc.Style != "document" {
		t.Error("constants")
	}
	_ = nsBT11
}
