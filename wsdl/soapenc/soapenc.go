// Package soapenc holds the small hand-written helpers that the generated SOAP
// packages under eacgate/generated use in place of gowsdl's defective mappings:
//
//   - Base64Binary: xsd:base64Binary as base64 text (gowsdl maps it to []byte,
//     which encoding/xml writes as raw bytes and so corrupts certificates).
//   - EncodeRPC: the rpc/literal wrapper shape of BSI TR-03129 (wrapper element
//     qualified in the protocol namespace, part accessors unqualified).
//
// It is not generated: tools/wsdlgen rewrites the gowsdl output to use it.
package soapenc

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"reflect"
)

// Base64Binary is the raw value of an xsd:base64Binary element (a CV certificate,
// a certificate request, a CMS SignedData, ...). It marshals to standard base64
// text with padding and unmarshals from it, ignoring XML whitespace (line breaks
// inserted by some SOAP stacks).
type Base64Binary []byte

// MarshalText encodes b as standard padded base64.
func (b Base64Binary) MarshalText() ([]byte, error) {
	out := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(out, b)
	return out, nil
}

// UnmarshalText decodes standard base64 text. XML whitespace (space, tab, CR, LF)
// anywhere in the text is ignored, as xsd:base64Binary allows.
func (b *Base64Binary) UnmarshalText(text []byte) error {
	clean := make([]byte, 0, len(text))
	for _, c := range text {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, c)
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil {
		return fmt.Errorf("soapenc: invalid xsd:base64Binary: %w", err)
	}
	*b = out[:n]
	return nil
}

// Bytes returns b as a plain byte slice (no copy).
func (b Base64Binary) Bytes() []byte { return b }

// String returns the base64 text of b.
func (b Base64Binary) String() string { return base64.StdEncoding.EncodeToString(b) }

// Part is one part accessor of an rpc/literal message.
type Part struct {
	Name  string // the part name, written unqualified
	Value any    // nil or a nil pointer writes an empty element
}

// RPCPrefix is the namespace prefix EncodeRPC uses for the wrapper element.
const RPCPrefix = "ns1"

// EncodeRPC writes the rpc/literal wrapper element local in namespace ns with the
// given parts as children, in order:
//
//	<ns1:GetCACertificatesResponse xmlns:ns1="uri:EAC-PKI-DV-Protocol/1.1">
//	  <Result xmlns=""><returnCode xmlns="uri:eacBT/1.1">...</returnCode>...</Result>
//	</ns1:GetCACertificatesResponse>
//
// The wrapper uses a prefix (encoding/xml would otherwise declare a default
// namespace that the unqualified parts would inherit), and every part carries
// xmlns="" so it stays unqualified even inside an envelope that declares a
// default namespace. A part whose value is nil is written as an empty element:
// rpc/literal parts are never omitted.
func EncodeRPC(e *xml.Encoder, ns, local string, parts ...Part) error {
	if ns == "" || local == "" {
		return errors.New("soapenc: EncodeRPC needs a namespace and a name")
	}
	start := xml.StartElement{
		Name: xml.Name{Local: RPCPrefix + ":" + local},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns:" + RPCPrefix}, Value: ns}},
	}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for _, p := range parts {
		ps := xml.StartElement{
			Name: xml.Name{Local: p.Name},
			Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: ""}},
		}
		if isNil(p.Value) {
			if err := e.EncodeToken(ps); err != nil {
				return err
			}
			if err := e.EncodeToken(ps.End()); err != nil {
				return err
			}
			continue
		}
		if err := e.EncodeElement(p.Value, ps); err != nil {
			return fmt.Errorf("soapenc: part %s of %s: %w", p.Name, local, err)
		}
	}
	if err := e.EncodeToken(start.End()); err != nil {
		return err
	}
	return nil
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		return rv.IsNil()
	}
	return false
}
