package main

import (
	"encoding/xml"
	"slices"
	"strings"
	"testing"

	"eacgate/authority"
	"eacgate/generated/cvca10"
	"eacgate/generated/cvca11"
	"eacgate/generated/dv10"
	"eacgate/generated/dv11"
	"eacgate/generated/spoc"
	"eacgate/wsdl"
)

// The return codes adapt.go lists for each operation (and statusInfo) are the enumerations
// of the XSDs, read here without the generator: TR-03129 from the standalone basic types
// (eacBT-1.x.xsd, the schema each WSDL inlines: wsdl's tests keep them equal), by the type
// names Op_returnCodeType and SendCertificates_statusInfoType; CSN 36 9791 from the result
// element of OpResponse and the statusInfo element of SendCertificatesRequest.
func TestEmittedCodesAreTheXSDEnumerations(t *testing.T) {
	type pkg struct {
		name        string
		xsd         string
		ops         []string
		returnCodes func(string) []authority.ReturnCode
		statusInfo  func() []authority.ReturnCode
	}
	for _, p := range []pkg{
		{"cvca11", wsdl.BasicTypes11, cvca11.Operations, cvca11.ReturnCodes, cvca11.StatusInfoCodes},
		{"cvca10", wsdl.BasicTypes10, cvca10.Operations, cvca10.ReturnCodes, cvca10.StatusInfoCodes},
		{"dv11", wsdl.BasicTypes11, dv11.Operations, dv11.ReturnCodes, dv11.StatusInfoCodes},
		{"dv10", wsdl.BasicTypes10, dv10.Operations, dv10.ReturnCodes, dv10.StatusInfoCodes},
		{"spoc", wsdl.SPOC, spoc.Operations, spoc.ReturnCodes, spoc.StatusInfoCodes},
	} {
		want := xsdEnumerations(t, p.xsd)
		for _, op := range p.ops {
			key := op + "_returnCodeType"
			if p.name == "spoc" {
				key = op + "Response/result"
			}
			if got := strings.Join(codes(p.returnCodes(op)), " "); got != strings.Join(want[key], " ") || got == "" {
				t.Errorf("%s %s: emitted %q, XSD %q", p.name, op, got, want[key])
			}
		}
		if p.returnCodes("NoSuchOperation") != nil {
			t.Errorf("%s: codes for an unknown operation", p.name)
		}
		key := "SendCertificates_statusInfoType"
		if p.name == "spoc" {
			key = "SendCertificatesRequest/statusInfo"
		}
		wantStatus := want[key]
		if !slices.Contains(p.ops, "SendCertificates") {
			wantStatus = nil
		}
		if got := codes(p.statusInfo()); !slices.Equal(got, wantStatus) {
			t.Errorf("%s statusInfo: emitted %q, XSD %q", p.name, got, wantStatus)
		}
	}
}

func codes(cs []authority.ReturnCode) []string {
	var s []string
	for _, c := range cs {
		s = append(s, string(c))
	}
	return s
}

// xsdEnumerations maps the named simple types of an XSD, and the anonymous ones of the
// elements of a WSDL's top-level elements ("Element/child"), to their enumeration values.
func xsdEnumerations(t *testing.T, name string) map[string][]string {
	t.Helper()
	raw, err := wsdl.File(name)
	if err != nil {
		t.Fatal(err)
	}
	type restriction struct {
		Values []struct {
			Value string `xml:"value,attr"`
		} `xml:"restriction>enumeration"`
	}
	type schema struct {
		Simple []struct {
			Name string `xml:"name,attr"`
			restriction
		} `xml:"simpleType"`
		Elements []struct {
			Name     string `xml:"name,attr"`
			Children []struct {
				Name   string      `xml:"name,attr"`
				Simple restriction `xml:"simpleType"`
			} `xml:"complexType>sequence>element"`
		} `xml:"element"`
	}
	var doc struct {
		schema
		Types []schema `xml:"types>schema"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, s := range append(doc.Types, doc.schema) {
		for _, st := range s.Simple {
			for _, v := range st.Values {
				out[st.Name] = append(out[st.Name], v.Value)
			}
		}
		for _, el := range s.Elements {
			for _, c := range el.Children {
				for _, v := range c.Simple.Values {
					out[el.Name+"/"+c.Name] = append(out[el.Name+"/"+c.Name], v.Value)
				}
			}
		}
	}
	return out
}
