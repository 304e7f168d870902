package generated_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"eacgate/generated/cvca11"
	"eacgate/generated/dv10"
	"eacgate/generated/dv11"
	"eacgate/generated/spoc"
	"eacgate/wsdl"
	"eacgate/wsdl/soapenc"
)

// zeepPython finds a python3 that can import zeep (python3-zeep from Debian
// lives in /usr/bin/python3, which a pyenv shim may hide). EACGATE_PYTHON
// overrides. Without one the test skips, or fails when CI=true.
func zeepPython(t *testing.T) string {
	t.Helper()
	candidates := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("EACGATE_PYTHON"); p != "" {
		candidates = []string{p}
	}
	for _, c := range candidates {
		if err := exec.Command(c, "-c", "import zeep, lxml").Run(); err == nil {
			return c
		}
	}
	msg := fmt.Sprintf("python3 with zeep not found (tried %v; install python3-zeep or set EACGATE_PYTHON)", candidates)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

type zeepReq struct {
	Op   string         `json:"op"`
	Args map[string]any `json:"args"`
}

type zeepJob struct {
	WSDL      string            `json:"wsdl"`
	Requests  []zeepReq         `json:"requests"`
	Responses map[string]string `json:"responses"`
}

type zeepOut struct {
	Requests  map[string]string `json:"requests"`
	Responses map[string]any    `json:"responses"`
	Zeep      string            `json:"zeep"`
}

func b64(b []byte) map[string]any {
	return map[string]any{"$b64": base64.StdEncoding.EncodeToString(b)}
}

// runZeep writes the WSDL as the server serves it to a temp dir and runs the job.
func runZeep(t *testing.T, py, wsdlName string, job zeepJob) zeepOut {
	t.Helper()
	b, err := wsdl.Served(wsdlName, "http://127.0.0.1:9/eacgate")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), wsdlName)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	job.WSDL = path
	in, _ := json.Marshal(job)
	cmd := exec.Command(py, filepath.Join("testdata", "zeep_roundtrip.py"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zeep: %v\n%s", err, stderr.String())
	}
	var res zeepOut
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("zeep output: %v\n%s", err, out)
	}
	t.Logf("zeep %s", res.Zeep)
	return res
}

// decodeBody decodes the single child of the SOAP 1.1 Body of env into v and
// returns its name.
func decodeBody(t *testing.T, env string, v any) xml.Name {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(env))
	inBody := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			t.Fatalf("no body content in %s", env)
		}
		if err != nil {
			t.Fatal(err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !inBody {
			inBody = se.Name.Space == nsSOAPEnv && se.Name.Local == "Body"
			continue
		}
		if err := d.DecodeElement(v, &se); err != nil {
			t.Fatalf("decode %s into %T: %v\n%s", se.Name.Local, v, err, env)
		}
		return se.Name
	}
}

func envelope(t *testing.T, body any) string {
	return `<soap-env:Envelope xmlns:soap-env="` + nsSOAPEnv + `"><soap-env:Body>` + marshal(t, body) + `</soap-env:Body></soap-env:Envelope>`
}

// jsonBytes extracts {"$b64": ...} values.
func jsonBytes(t *testing.T, v any) []byte {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not a binary value: %#v", v)
	}
	b, err := base64.StdEncoding.DecodeString(m["$b64"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// returnCode reads the returnCode of a decoded TR-03129 Result. zeep returns a
// result with a single element (SendCertificatesResult) as that element's value.
func returnCode(t *testing.T, v any) any {
	t.Helper()
	if s, ok := v.(string); ok {
		return s
	}
	return field(t, v, "returnCode")
}

func field(t *testing.T, v any, path ...string) any {
	t.Helper()
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("at %s: not an object: %#v", p, v)
		}
		v = m[p]
	}
	return v
}

func TestZeepDV11(t *testing.T) {
	py := zeepPython(t)
	cert2 := []byte{0x7f, 0x4e, 0x00, 0xff}
	out := runZeep(t, py, wsdl.DV11, zeepJob{
		Requests: []zeepReq{
			{Op: "GetCACertificates", Args: map[string]any{
				"callbackIndicator": "callback_possible",
				"messageID":         map[string]any{"messageID": "msg-1"},
				"responseURL":       map[string]any{"string": "https://dv.example.org/cb"},
			}},
			{Op: "RequestCertificate", Args: map[string]any{
				"callbackIndicator": "callback_not_possible",
				"messageID":         map[string]any{},
				"responseURL":       map[string]any{},
				"certReq":           b64(allBytes()),
			}},
			{Op: "SendCertificates", Args: map[string]any{
				"messageID":      map[string]any{"messageID": "msg-1"},
				"statusInfo":     "ok_cert_available",
				"certificateSeq": map[string]any{"certificate": []any{b64(allBytes()), b64(cert2)}},
			}},
			{Op: "GetDocumentSignerList", Args: map[string]any{
				"callbackIndicator": "callback_not_possible",
				"messageID":         map[string]any{},
				"responseURL":       map[string]any{},
			}},
		},
		Responses: map[string]string{
			"GetCACertificates": envelope(t, dv11.GetCACertificatesResponse{Result: &dv11.GetCACertificatesResult{
				ReturnCode:     ptr(dv11.GetCACertificates_returnCodeTypeOk_cert_available),
				CertificateSeq: &dv11.CertificateSeqType{Certificate: []soapenc.Base64Binary{allBytes(), cert2}},
			}}),
			"RequestCertificate": envelope(t, dv11.RequestCertificateResponse{Result: &dv11.RequestCertificateResult{
				ReturnCode: ptr(dv11.RequestCertificate_returnCodeTypeOk_syntax),
			}}),
			"SendCertificates": envelope(t, dv11.SendCertificatesResponse{Result: &dv11.SendCertificatesResult{
				ReturnCode: ptr(dv11.SendCertificates_returnCodeTypeFailure_messageID_unknown),
			}}),
			"GetDocumentSignerList": envelope(t, dv11.GetDocumentSignerListResponse{Result: &dv11.GetDocumentSignerListResult{
				ReturnCode:         ptr(dv11.GetDocumentSignerList_returnCodeTypeOk_list_available),
				DocumentSignerList: &dv11.OptionalBinaryType{Binary: allBytes()},
			}}),
		},
	})

	// zeep -> Go
	t.Logf("zeep GetCACertificates request: %s", out.Requests["GetCACertificates"])
	var gca dv11.GetCACertificatesRequest
	name := decodeBody(t, out.Requests["GetCACertificates"], &gca)
	if name != (xml.Name{Space: dv11.Namespace, Local: "GetCACertificates"}) {
		t.Errorf("wrapper %v", name)
	}
	if *gca.CallbackIndicator != dv11.CallbackIndicatorTypeCallback_possible || *gca.MessageID.MessageID != "msg-1" ||
		gca.ResponseURL.Astring != "https://dv.example.org/cb" {
		t.Errorf("GetCACertificates from zeep: %+v", gca)
	}
	// zeep's envelope has the README's wire shape.
	var probe dv11.GetCACertificatesRequest
	decodeBody(t, out.Requests["GetCACertificates"], &probe)
	assertSameXML(t, marshal(t, probe), strings.ReplaceAll(strings.ReplaceAll(sampleGetCACertificatesReq,
		"msg-4711", "msg-1"), "https://dv.example.org/callback", "https://dv.example.org/cb"))

	var rc dv11.RequestCertificateRequest
	decodeBody(t, out.Requests["RequestCertificate"], &rc)
	if *rc.CallbackIndicator != dv11.CallbackIndicatorTypeCallback_not_possible || !bytes.Equal(rc.CertReq, allBytes()) {
		t.Errorf("RequestCertificate from zeep: %+v", rc)
	}
	var sc dv11.SendCertificatesRequest
	decodeBody(t, out.Requests["SendCertificates"], &sc)
	if *sc.MessageID.MessageID != "msg-1" || *sc.StatusInfo != dv11.SendCertificates_statusInfoTypeOk_cert_available ||
		len(sc.CertificateSeq.Certificate) != 2 || !bytes.Equal(sc.CertificateSeq.Certificate[0], allBytes()) ||
		!bytes.Equal(sc.CertificateSeq.Certificate[1], cert2) {
		t.Errorf("SendCertificates from zeep: %+v", sc)
	}
	var ds dv11.GetDocumentSignerListRequest
	if decodeBody(t, out.Requests["GetDocumentSignerList"], &ds).Local != "GetDocumentSignerList" || *ds.CallbackIndicator != dv11.CallbackIndicatorTypeCallback_not_possible {
		t.Errorf("GetDocumentSignerList from zeep: %+v", ds)
	}

	// Go -> zeep
	r := out.Responses
	if rc := field(t, r["GetCACertificates"], "returnCode"); rc != "ok_cert_available" {
		t.Errorf("zeep read GetCACertificates returnCode %v", rc)
	}
	certs, _ := field(t, r["GetCACertificates"], "certificateSeq", "certificate").([]any)
	if len(certs) != 2 || !bytes.Equal(jsonBytes(t, certs[0]), allBytes()) || !bytes.Equal(jsonBytes(t, certs[1]), cert2) {
		t.Errorf("zeep read certificates %v", certs)
	}
	if rc := field(t, r["RequestCertificate"], "returnCode"); rc != "ok_syntax" {
		t.Errorf("zeep read RequestCertificate %v", r["RequestCertificate"])
	}
	if rc := returnCode(t, r["SendCertificates"]); rc != "failure_messageID_unknown" {
		t.Errorf("zeep read SendCertificates %v", r["SendCertificates"])
	}
	if rc := field(t, r["GetDocumentSignerList"], "returnCode"); rc != "ok_list_available" ||
		!bytes.Equal(jsonBytes(t, field(t, r["GetDocumentSignerList"], "documentSignerList", "binary")), allBytes()) {
		t.Errorf("zeep read GetDocumentSignerList %v", r["GetDocumentSignerList"])
	}
}

func TestZeepCVCA11AndDV10(t *testing.T) {
	py := zeepPython(t)
	out := runZeep(t, py, wsdl.CVCA11, zeepJob{
		Requests: []zeepReq{{Op: "RequestForeignCertificate", Args: map[string]any{
			"callbackIndicator": "callback_possible",
			"messageID":         map[string]any{"messageID": "f-1"},
			"foreignCAR":        "FRCVCA00001",
			"responseURL":       map[string]any{"string": "https://dv/cb"},
			"certReq":           b64(allBytes()),
		}}},
		Responses: map[string]string{"RequestForeignCertificate": envelope(t, cvca11.RequestForeignCertificateResponse{
			Result: &cvca11.RequestForeignCertificateResult{ReturnCode: ptr(cvca11.RequestForeignCertificate_returnCodeTypeOk_request_forwarded)},
		})},
	})
	var rfc cvca11.RequestForeignCertificateRequest
	decodeBody(t, out.Requests["RequestForeignCertificate"], &rfc)
	if rfc.ForeignCAR != "FRCVCA00001" || *rfc.MessageID.MessageID != "f-1" || !bytes.Equal(rfc.CertReq, allBytes()) {
		t.Errorf("RequestForeignCertificate from zeep: %+v", rfc)
	}
	if rc := field(t, out.Responses["RequestForeignCertificate"], "returnCode"); rc != "ok_request_forwarded" {
		t.Errorf("zeep read %v", out.Responses)
	}

	out = runZeep(t, py, wsdl.DV10, zeepJob{
		Requests: []zeepReq{{Op: "SendCertificates", Args: map[string]any{
			"messageID":      "m-10",
			"statusInfo":     "failure_syntax",
			"certificateSeq": map[string]any{"certificate": []any{}},
		}}},
		Responses: map[string]string{"SendCertificates": envelope(t, dv10.SendCertificatesResponse{
			Result: &dv10.SendCertificatesResult{ReturnCode: ptr(dv10.SendCertificates_returnCodeTypeOk_received_correctly)},
		})},
	})
	var sc dv10.SendCertificatesRequest
	decodeBody(t, out.Requests["SendCertificates"], &sc)
	if *sc.MessageID != "m-10" || *sc.StatusInfo != dv10.SendCertificates_statusInfoTypeFailure_syntax {
		t.Errorf("v1.0 SendCertificates from zeep: %+v", sc)
	}
	if rc := returnCode(t, out.Responses["SendCertificates"]); rc != "ok_received_correctly" {
		t.Errorf("zeep read %v", out.Responses)
	}
}

func TestZeepSPOC(t *testing.T) {
	py := zeepPython(t)
	out := runZeep(t, py, wsdl.SPOC, zeepJob{
		Requests: []zeepReq{{Op: "RequestCertificate", Args: map[string]any{
			"callerID": "DE", "messageID": "s-1", "certificateRequest": b64(allBytes()),
		}}},
		Responses: map[string]string{"GetCACertificates": envelope(t, spoc.GetCACertificatesResponse{
			CertificateSequence: &spoc.CertificateSequence{Certificate: []soapenc.Base64Binary{allBytes()}},
			Result:              "ok_cert_available",
		})},
	})
	var rc spoc.RequestCertificateRequest
	decodeBody(t, out.Requests["RequestCertificate"], &rc)
	if rc.CallerID != "DE" || rc.MessageID != "s-1" || !bytes.Equal(rc.CertificateRequest, allBytes()) {
		t.Errorf("SPOC RequestCertificate from zeep: %+v", rc)
	}
	got := out.Responses["GetCACertificates"]
	certs, _ := field(t, got, "certificateSequence", "certificate").([]any)
	if field(t, got, "result") != "ok_cert_available" || len(certs) != 1 || !reflect.DeepEqual(jsonBytes(t, certs[0]), allBytes()) {
		t.Errorf("zeep read SPOC %v", got)
	}
}
