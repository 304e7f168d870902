package server

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"eacgate/generated/dv11"
)

const getCACerts11 = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Header><x:Trace xmlns:x="urn:x">ignored</x:Trace></soapenv:Header>
 <soapenv:Body>
  <n1:GetCACertificates xmlns:n1="uri:EAC-PKI-DV-Protocol/1.1"><callbackIndicator>callback_not_possible</callbackIndicator><messageID><ns2:messageID xmlns:ns2="uri:eacBT/1.1">m-1</ns2:messageID></messageID><responseURL/></n1:GetCACertificates>
 </soapenv:Body>
</soapenv:Envelope>`

func TestParseEnvelope(t *testing.T) {
	env, err := ParseEnvelope([]byte(getCACerts11))
	if err != nil {
		t.Fatal(err)
	}
	if env.SOAP12 || env.Operation != (xml.Name{Space: dv11.Namespace, Local: "GetCACertificates"}) {
		t.Fatalf("%+v", env)
	}
	var req dv11.GetCACertificatesRequest
	if err := env.DecodeOperation(&req); err != nil {
		t.Fatal(err)
	}
	if req.CallbackIndicator == nil || *req.CallbackIndicator != dv11.CallbackIndicatorTypeCallback_not_possible ||
		req.MessageID == nil || req.MessageID.MessageID == nil || *req.MessageID.MessageID != "m-1" {
		t.Fatalf("%+v", req)
	}
	soap12 := strings.ReplaceAll(getCACerts11, NamespaceSOAP11, NamespaceSOAP12)
	env, err = ParseEnvelope([]byte(soap12))
	if err != nil || !env.SOAP12 {
		t.Fatalf("SOAP 1.2: %v", err)
	}
}

func TestParseEnvelopeHostile(t *testing.T) {
	body := func(inner string) string {
		return `<s:Envelope xmlns:s="` + NamespaceSOAP11 + `"><s:Body>` + inner + `</s:Body></s:Envelope>`
	}
	cases := map[string]string{
		"billion laughs":   `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>` + body(`<a>&lol2;</a>`),
		"external entity":  `<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + body(`<a>&xxe;</a>`),
		"undefined entity": body(`<a>&xxe;</a>`),
		"deep nesting":     body(strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100)),
		"truncated":        body(`<a>`)[:40],
		"not xml":          "\x00\x01garbage",
		"empty":            "",
		"no body":          `<s:Envelope xmlns:s="` + NamespaceSOAP11 + `"></s:Envelope>`,
		"empty body":       body(""),
		"two operations":   body("<a/><b/>"),
		"two bodies":       `<s:Envelope xmlns:s="` + NamespaceSOAP11 + `"><s:Body><a/></s:Body><s:Body><a/></s:Body></s:Envelope>`,
		"wrong namespace":  `<s:Envelope xmlns:s="urn:other"><s:Body><a/></s:Body></s:Envelope>`,
		"not an envelope":  `<Envelope><Body><a/></Body></Envelope>`,
		"trailing root":    body("<a/>") + "<b/>",
		"proc instruction": `<?evil x?>` + body("<a/>"),
		"many tokens":      body("<a>" + strings.Repeat("<b/>", maxTokens) + "</a>"),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseEnvelope([]byte(in)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	for _, soap12 := range []bool{false, true} {
		var buf bytes.Buffer
		if err := WriteFault(&buf, soap12, true, "bad <envelope>"); err != nil {
			t.Fatal(err)
		}
		env, err := ParseEnvelope(buf.Bytes())
		if err != nil {
			t.Fatalf("fault is not a valid envelope: %v\n%s", err, buf.String())
		}
		if env.Operation.Local != "Fault" || env.SOAP12 != soap12 || !strings.Contains(buf.String(), "bad &lt;envelope&gt;") {
			t.Fatalf("%s", buf.String())
		}
	}
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(getCACerts11))
	f.Add([]byte(`<!DOCTYPE x>` + getCACerts11))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		var req dv11.GetCACertificatesRequest
		_ = env.DecodeOperation(&req)
	})
}
