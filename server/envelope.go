// Package server is the HTTP/SOAP front of the gateway: it decodes SOAP envelopes safely,
// dispatches TR-03129 operations to the roles, and writes responses and faults.
package server

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// SOAP envelope namespaces.
const (
	NamespaceSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	NamespaceSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
)

// Limits on incoming envelopes. TR-03129 messages are a few kilobytes: a request carries one
// CV certificate request, SendCertificates a handful of certificates.
const (
	DefaultMaxBody = 256 << 10 // bytes
	maxDepth       = 32        // element nesting
	maxTokens      = 20000     // XML tokens per envelope
)

// ErrMalformed is wrapped by every envelope that is not a well-formed SOAP message we can
// read: such requests get a SOAP Fault, not a return code.
var ErrMalformed = errors.New("malformed SOAP envelope")

// Envelope is a decoded request envelope: its SOAP version and the one element in the Body.
type Envelope struct {
	SOAP12    bool
	Operation xml.Name // namespace and local name of the Body's child element
	// body holds the Body's child element as namespace-resolved tokens, from its start to its
	// end element (xmlns attributes dropped: the names are resolved already), for decoding
	// it without reading the XML again.
	body []xml.Token
}

// ParseEnvelope reads and checks a SOAP 1.1 or 1.2 envelope: well-formed XML without DTDs
// (which rules out entity expansion tricks), nesting and token counts bounded, an Envelope
// root with an optional Header and a Body holding exactly one element. The body must already
// be limited in size by the caller. The XML is read once: the Body's element is kept as
// tokens for DecodeOperation.
func ParseEnvelope(b []byte) (*Envelope, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var (
		env        Envelope
		depth      int
		tokens     int
		sawRoot    bool
		sawBody    bool
		bodyDepth  = -1
		bodyChilds int
		keeping    bool // inside the Body's (first) element
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		tokens++
		if tokens > maxTokens {
			return nil, fmt.Errorf("%w: too many XML tokens", ErrMalformed)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, fmt.Errorf("%w: DTDs and other directives are not allowed", ErrMalformed)
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, fmt.Errorf("%w: processing instruction %q", ErrMalformed, t.Target)
			}
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return nil, fmt.Errorf("%w: elements nested deeper than %d", ErrMalformed, maxDepth)
			}
			switch {
			case depth == 1:
				if sawRoot {
					return nil, fmt.Errorf("%w: more than one root element", ErrMalformed)
				}
				sawRoot = true
				if t.Name.Local != "Envelope" || (t.Name.Space != NamespaceSOAP11 && t.Name.Space != NamespaceSOAP12) {
					return nil, fmt.Errorf("%w: root element is not a SOAP Envelope", ErrMalformed)
				}
				env.SOAP12 = t.Name.Space == NamespaceSOAP12
			case depth == 2 && t.Name.Local == "Body":
				if sawBody {
					return nil, fmt.Errorf("%w: two Body elements", ErrMalformed)
				}
				sawBody, bodyDepth = true, depth
			case depth == 2 && t.Name.Local == "Header" && !sawBody:
			case depth == 2:
				return nil, fmt.Errorf("%w: unexpected element %s in Envelope", ErrMalformed, t.Name.Local)
			case depth == bodyDepth+1:
				bodyChilds++
				if bodyChilds == 1 {
					env.Operation, keeping = t.Name, true
				}
			}
			if keeping {
				env.body = append(env.body, resolvedStart(t))
			}
		case xml.EndElement:
			if keeping {
				env.body = append(env.body, t)
				keeping = depth > bodyDepth+1
			}
			if depth == bodyDepth {
				bodyDepth = -1
			}
			depth--
		default:
			if keeping {
				env.body = append(env.body, xml.CopyToken(tok))
			}
		}
	}
	if !sawRoot || !sawBody {
		return nil, fmt.Errorf("%w: no SOAP Body", ErrMalformed)
	}
	if bodyChilds != 1 {
		return nil, fmt.Errorf("%w: Body holds %d elements, want 1", ErrMalformed, bodyChilds)
	}
	return &env, nil
}

// resolvedStart copies a namespace-resolved start element without its xmlns attributes.
func resolvedStart(t xml.StartElement) xml.StartElement {
	out := xml.StartElement{Name: t.Name, Attr: make([]xml.Attr, 0, len(t.Attr))}
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		out.Attr = append(out.Attr, a)
	}
	return out
}

// tokenReplay is an xml.TokenReader over kept tokens.
type tokenReplay struct{ tokens []xml.Token }

func (r *tokenReplay) Token() (xml.Token, error) {
	if len(r.tokens) == 0 {
		return nil, io.EOF
	}
	t := r.tokens[0]
	r.tokens = r.tokens[1:]
	return t, nil
}

// DecodeOperation decodes the Body's element into v (a request type from generated/).
func (e *Envelope) DecodeOperation(v any) error { return e.decodeOperation(v, nil) }

// decodeOperation decodes the Body's element into v; a non-nil as replaces the element's
// name (for peers that name an rpc response wrapper differently).
func (e *Envelope) decodeOperation(v any, as *xml.Name) error {
	if len(e.body) == 0 {
		return fmt.Errorf("%w: no SOAP Body", ErrMalformed)
	}
	d := xml.NewTokenDecoder(&tokenReplay{tokens: e.body})
	tok, err := d.Token() // the element's start, as the decoder's matching end needs it
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	start := tok.(xml.StartElement)
	if as != nil {
		start.Name = *as
	}
	if err := d.DecodeElement(v, &start); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, start.Name.Local, err)
	}
	return nil
}

// WriteEnvelope writes v (a response type from generated/) in a SOAP envelope of the
// request's version.
func WriteEnvelope(w io.Writer, soap12 bool, v any) error {
	ns := NamespaceSOAP11
	if soap12 {
		ns = NamespaceSOAP12
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	fmt.Fprintf(&buf, `<soap:Envelope xmlns:soap="%s"><soap:Body>`, ns)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		return fmt.Errorf("server: encode response: %w", err)
	}
	buf.WriteString(`</soap:Body></soap:Envelope>`)
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteFault writes a SOAP Fault. code is "Client"/"Server" (SOAP 1.1) and is mapped to
// "Sender"/"Receiver" for SOAP 1.2. The reason must not contain internals.
func WriteFault(w io.Writer, soap12 bool, client bool, reason string) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	var esc bytes.Buffer
	_ = xml.EscapeText(&esc, []byte(reason))
	if soap12 {
		code := "soap:Receiver"
		if client {
			code = "soap:Sender"
		}
		fmt.Fprintf(&buf, `<soap:Envelope xmlns:soap="%s"><soap:Body><soap:Fault><soap:Code><soap:Value>%s</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang="en">%s</soap:Text></soap:Reason></soap:Fault></soap:Body></soap:Envelope>`,
			NamespaceSOAP12, code, esc.String())
	} else {
		code := "soap:Server"
		if client {
			code = "soap:Client"
		}
		fmt.Fprintf(&buf, `<soap:Envelope xmlns:soap="%s"><soap:Body><soap:Fault><faultcode>%s</faultcode><faultstring>%s</faultstring></soap:Fault></soap:Body></soap:Envelope>`,
			NamespaceSOAP11, code, esc.String())
	}
	_, err := w.Write(buf.Bytes())
	return err
}
