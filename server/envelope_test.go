package server

import (
	"bytes"
	"encoding/xml"
	"errors"
	"reflect"
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

// anyElement captures an element tree whatever its names.
type anyElement struct {
	XMLName  xml.Name
	Attrs    []xml.Attr   `xml:",any,attr"`
	Text     string       `xml:",chardata"`
	Children []anyElement `xml:",any"`
}

// dropXMLNS removes namespace declarations, which DecodeOperation does not pass on (the
// names they declare are resolved).
func (e *anyElement) dropXMLNS() {
	kept := e.Attrs[:0]
	for _, a := range e.Attrs {
		if a.Name.Space != "xmlns" && !(a.Name.Space == "" && a.Name.Local == "xmlns") {
			kept = append(kept, a)
		}
	}
	e.Attrs = kept
	if len(e.Attrs) == 0 {
		e.Attrs = nil
	}
	for i := range e.Children {
		e.Children[i].dropXMLNS()
	}
}

// referenceDecode decodes the Body's element by reading the XML again from the start: what
// DecodeOperation did before it kept tokens.
func referenceDecode(b []byte, v any) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name.Local != "Body" {
				if err := d.Skip(); err != nil {
					return err
				}
				depth--
				continue
			}
			if depth == 3 {
				return d.DecodeElement(v, &t)
			}
		case xml.EndElement:
			depth--
		}
	}
}

// checkSameDecode: DecodeOperation yields what decoding the bytes again yields.
func checkSameDecode(t *testing.T, b []byte) {
	t.Helper()
	env, err := ParseEnvelope(b)
	if err != nil {
		return
	}
	var got, want anyElement
	gotErr := env.DecodeOperation(&got)
	wantErr := referenceDecode(b, &want)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("DecodeOperation: %v, reference: %v", gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	want.dropXMLNS()
	got.dropXMLNS()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeOperation:\n%+v\nreference:\n%+v", got, want)
	}
}

// TestDecodeOperationNamespaces: the kept tokens carry the namespaces in scope where they
// were read, including prefixes redeclared inside the Body and default namespaces.
func TestDecodeOperationNamespaces(t *testing.T) {
	for name, in := range map[string]string{
		"request": getCACerts11,
		"redeclared prefix": `<s:Envelope xmlns:s="` + NamespaceSOAP11 + `" xmlns:p="urn:outer"><s:Body>` +
			`<p:Op><p:a>1</p:a><x xmlns:p="urn:inner"><p:a p:attr="v" plain="w">2</p:a></x><p:a>3</p:a></p:Op></s:Body></s:Envelope>`,
		"default namespaces": `<Envelope xmlns="` + NamespaceSOAP11 + `"><Body><Op xmlns="urn:op"><a>1</a>` +
			`<b xmlns="">2<c>3</c></b><d xmlns="urn:d"><e xml:lang="de">4</e></d></Op></Body></Envelope>`,
		"prefix named like a namespace": `<s:Envelope xmlns:s="` + NamespaceSOAP11 + `"><s:Body><Op xmlns="abc" xmlns:abc="urn:zzz">` +
			`<a>1</a><abc:b>2</abc:b></Op></s:Body></s:Envelope>`,
		"cdata and comments": `<s:Envelope xmlns:s="` + NamespaceSOAP11 + `"><s:Body><Op><!-- c --><a><![CDATA[<x>]]></a>` +
			`<a>&lt;&#65;</a></Op></s:Body></s:Envelope>`,
	} {
		t.Run(name, func(t *testing.T) { checkSameDecode(t, []byte(in)) })
	}
	// The operation's element name is checked against the wanted one.
	env, err := ParseEnvelope([]byte(getCACerts11))
	if err != nil {
		t.Fatal(err)
	}
	var wrong struct {
		XMLName xml.Name `xml:"urn:other Other"`
	}
	if err := env.DecodeOperation(&wrong); !errors.Is(err, ErrMalformed) {
		t.Fatalf("wrong element accepted: %v", err)
	}
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(getCACerts11))
	f.Add([]byte(`<!DOCTYPE x>` + getCACerts11))
	f.Add([]byte(`<Envelope xmlns="` + NamespaceSOAP11 + `"><Body><Op xmlns="urn:op" xmlns:a="urn:a"><a:x a:y="1">t</a:x><b xmlns="">2</b></Op></Body></Envelope>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		var req dv11.GetCACertificatesRequest
		_ = env.DecodeOperation(&req)
		checkSameDecode(t, b)
	})
}
