package wsdl

import (
	"encoding/xml"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestEmbeddedFiles(t *testing.T) {
	want := []string{BasicTypes10, BasicTypes11, CVCA10, CVCA11, DV10, DV11, SPOC}
	slices.Sort(want)
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
}

func TestServed(t *testing.T) {
	for _, name := range []string{CVCA10, CVCA11, DV10, DV11, SPOC} {
		b, err := Served(name, "https://eacgate.example.org/x?a=1&b=2")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(string(b), `location="https://eacgate.example.org/x?a=1&amp;b=2"`) || strings.Contains(string(b), AddressPlaceholder) {
			t.Errorf("%s: address not replaced", name)
		}
		if err := xml.Unmarshal(b, new(struct{})); err != nil {
			t.Errorf("%s: not well-formed after Served: %v", name, err)
		}
	}
	if _, err := Served(DV11, ""); err == nil {
		t.Error("empty endpoint accepted")
	}
	raw, _ := File(BasicTypes11)
	if b, err := Served(BasicTypes11, "http://x"); err != nil || string(b) != string(raw) {
		t.Error("XSD changed by Served")
	}
	if _, err := Served("nope.wsdl", "http://x"); err == nil {
		t.Error("unknown file served")
	}
}

// The schema inlined in each TR-03129 WSDL is the standalone XSD, line by line.
func TestInlineSchemaMatchesXSD(t *testing.T) {
	for wsdlName, xsdName := range map[string]string{CVCA10: BasicTypes10, DV10: BasicTypes10, CVCA11: BasicTypes11, DV11: BasicTypes11} {
		w, _ := File(wsdlName)
		x, _ := File(xsdName)
		inline := string(w)
		start := strings.Index(inline, "<xsd:schema ")
		end := strings.Index(inline, "</xsd:schema>")
		if start < 0 || end < 0 {
			t.Fatalf("%s: no inline schema", wsdlName)
		}
		_, standalone, _ := strings.Cut(string(x), "?>\n")
		if got, want := trimLines(inline[start:end+len("</xsd:schema>")]), trimLines(standalone); got != want {
			t.Errorf("%s: inline schema differs from %s", wsdlName, xsdName)
		}
	}
}

func trimLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Return codes from DESIGN.md (TR-03129 names, exactly).
var designCodes = []string{
	"ok_cert_available", "ok_syntax", "ok_reception_ack", "ok_request_forwarded", "ok_list_available",
	"ok_received_correctly", "failure_inner_signature", "failure_outer_signature", "failure_expired",
	"failure_domain_parameters", "failure_request_not_accepted", "failure_syntax",
	"failure_synchronous_processing_not_possible", "failure_messageID_unknown",
	"failure_list_not_available", "failure_internal_error",
	// v1.1 foreign-exchange statusInfo values
	"failure_foreignCAR_unknown", "failure_not_forwarded", "failure_request_not_accepted_foreign",
}

type schemaEnums struct {
	SimpleTypes []struct {
		Name   string `xml:"name,attr"`
		Values []struct {
			Value string `xml:"value,attr"`
		} `xml:"restriction>enumeration"`
	} `xml:"simpleType"`
}

func enums(t *testing.T, name string) map[string][]string {
	t.Helper()
	b, _ := File(name)
	var s schemaEnums
	if err := xml.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for _, st := range s.SimpleTypes {
		for _, v := range st.Values {
			m[st.Name] = append(m[st.Name], v.Value)
		}
	}
	return m
}

func TestReturnCodes(t *testing.T) {
	for _, name := range []string{BasicTypes10, BasicTypes11} {
		for typ, values := range enums(t, name) {
			for _, v := range values {
				if typ != "CallbackIndicatorType" && !slices.Contains(designCodes, v) {
					t.Errorf("%s %s: %s is not a DESIGN.md return code", name, typ, v)
				}
			}
		}
	}
	// The published v1.1 types, exactly as in the reference XSDs (OpenSCDP
	// BasicTypes_DV_TerminalAuth.xsd v1.1; GetDocumentSignerList as GetMasterList).
	want11 := map[string][]string{
		"CallbackIndicatorType": {"callback_possible", "callback_not_possible"},
		"SendCertificates_statusInfoType": {"ok_cert_available", "failure_inner_signature", "failure_outer_signature",
			"failure_expired", "failure_domain_parameters", "failure_request_not_accepted", "failure_foreignCAR_unknown",
			"failure_not_forwarded", "failure_request_not_accepted_foreign", "failure_syntax", "failure_internal_error"},
		"RequestCertificate_returnCodeType": {"ok_cert_available", "ok_syntax", "ok_reception_ack", "failure_inner_signature",
			"failure_outer_signature", "failure_expired", "failure_domain_parameters", "failure_request_not_accepted",
			"failure_syntax", "failure_synchronous_processing_not_possible", "failure_internal_error"},
		"GetCACertificates_returnCodeType": {"ok_cert_available", "ok_syntax", "ok_reception_ack", "failure_syntax",
			"failure_request_not_accepted", "failure_synchronous_processing_not_possible", "failure_internal_error"},
		"SendCertificates_returnCodeType": {"ok_received_correctly", "failure_syntax", "failure_messageID_unknown", "failure_internal_error"},
		"GetDocumentSignerList_returnCodeType": {"ok_list_available", "ok_syntax", "ok_reception_ack", "failure_syntax",
			"failure_list_not_available", "failure_synchronous_processing_not_possible", "failure_internal_error"},
	}
	got11 := enums(t, BasicTypes11)
	for typ, want := range want11 {
		if !slices.Equal(got11[typ], want) {
			t.Errorf("v1.1 %s = %v, want %v", typ, got11[typ], want)
		}
	}
	// v1.0 (BasicTypes_DV_TerminalAuth.xsd v1.0): no failure_internal_error anywhere.
	want10 := map[string][]string{
		"SendCertificates_statusInfoType": {"ok_cert_available", "failure_inner_signature", "failure_outer_signature", "failure_syntax", "failure_request_not_accepted"},
		"RequestCertificate_returnCodeType": {"ok_cert_available", "ok_syntax", "ok_reception_ack", "failure_inner_signature",
			"failure_outer_signature", "failure_syntax", "failure_request_not_accepted", "failure_synchronous_processing_not_possible"},
		"GetCACertificates_returnCodeType": {"ok_cert_available", "ok_syntax", "ok_reception_ack", "failure_syntax",
			"failure_request_not_accepted", "failure_synchronous_processing_not_possible"},
		"SendCertificates_returnCodeType": {"ok_received_correctly", "failure_syntax", "failure_messageID_unknown"},
	}
	got10 := enums(t, BasicTypes10)
	for typ, want := range want10 {
		if !slices.Equal(got10[typ], want) {
			t.Errorf("v1.0 %s = %v, want %v", typ, got10[typ], want)
		}
	}
}

// Operations, namespaces and style of each WSDL.
func TestOperations(t *testing.T) {
	type def struct {
		TNS      string `xml:"targetNamespace,attr"`
		PortType struct {
			Ops []struct {
				Name string `xml:"name,attr"`
			} `xml:"operation"`
		} `xml:"portType"`
		Binding struct {
			SOAP struct {
				Style string `xml:"style,attr"`
			} `xml:"binding"`
		} `xml:"binding"`
	}
	want := map[string]struct {
		tns, style string
		ops        []string
	}{
		CVCA11: {"uri:EAC-PKI-CVCA-Protocol/1.1", "rpc", []string{"RequestCertificate", "RequestForeignCertificate", "GetCACertificates"}},
		CVCA10: {"uri:EAC-PKI-CVCA-Protocol/1.0", "rpc", []string{"RequestCertificate", "RequestForeignCertificate", "GetCACertificates"}},
		DV11:   {"uri:EAC-PKI-DV-Protocol/1.1", "rpc", []string{"RequestCertificate", "GetCACertificates", "SendCertificates", "GetDocumentSignerList"}},
		DV10:   {"uri:EAC-PKI-DV-Protocol/1.0", "rpc", []string{"RequestCertificate", "GetCACertificates", "SendCertificates", "GetDocumentSignerList"}},
		SPOC:   {"http://namespaces.unmz.cz/csn369791", "document", []string{"RequestCertificate", "SendCertificates", "GetCACertificates", "GeneralMessage"}},
	}
	bodyNS := regexp.MustCompile(`namespace="([^"]*)"`)
	for name, w := range want {
		b, _ := File(name)
		var d def
		if err := xml.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var ops []string
		for _, o := range d.PortType.Ops {
			ops = append(ops, o.Name)
		}
		if d.TNS != w.tns || d.Binding.SOAP.Style != w.style || !slices.Equal(ops, w.ops) {
			t.Errorf("%s: %s %s %v", name, d.TNS, d.Binding.SOAP.Style, ops)
		}
		if w.style == "rpc" {
			for _, m := range bodyNS.FindAllStringSubmatch(string(b), -1) {
				if ns := m[1]; ns != w.tns && !strings.HasPrefix(ns, "uri:eacBT/") && ns != "http://www.w3.org/2001/XMLSchema" {
					t.Errorf("%s: unexpected namespace %s", name, ns)
				}
			}
		}
	}
}
