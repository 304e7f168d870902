package main

import (
	"encoding/xml"
	"fmt"
	"os"
	"strings"
	"unicode"
)

const (
	nsWSDL     = "http://schemas.xmlsoap.org/wsdl/"
	nsSOAP     = "http://schemas.xmlsoap.org/wsdl/soap/"
	nsXSD      = "http://www.w3.org/2001/XMLSchema"
	soapHTTP   = "http://schemas.xmlsoap.org/soap/http"
	styleRPC   = "rpc"
	styleDoc   = "document"
	useLiteral = "literal"
)

// The subset of WSDL 1.1 / XSD that wsdlgen reads.

type definitions struct {
	XMLName         xml.Name   `xml:"http://schemas.xmlsoap.org/wsdl/ definitions"`
	Name            string     `xml:"name,attr"`
	TargetNamespace string     `xml:"targetNamespace,attr"`
	Attrs           []xml.Attr `xml:",any,attr"`
	Types           struct {
		Inner   string      `xml:",innerxml"`
		Schemas []xsdSchema `xml:"http://www.w3.org/2001/XMLSchema schema"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ types"`
	Messages  []message  `xml:"http://schemas.xmlsoap.org/wsdl/ message"`
	PortTypes []portType `xml:"http://schemas.xmlsoap.org/wsdl/ portType"`
	Bindings  []binding  `xml:"http://schemas.xmlsoap.org/wsdl/ binding"`
	Services  []service  `xml:"http://schemas.xmlsoap.org/wsdl/ service"`
}

type xsdSchema struct {
	TargetNamespace    string       `xml:"targetNamespace,attr"`
	ElementFormDefault string       `xml:"elementFormDefault,attr"`
	ComplexTypes       []xsdNamed   `xml:"http://www.w3.org/2001/XMLSchema complexType"`
	Elements           []xsdElement `xml:"http://www.w3.org/2001/XMLSchema element"`
	SimpleTypes        []xsdNamed   `xml:"http://www.w3.org/2001/XMLSchema simpleType"`
}

type xsdNamed struct {
	Name string `xml:"name,attr"`
}

type xsdElement struct {
	Name        string    `xml:"name,attr"`
	Type        string    `xml:"type,attr"`
	ComplexType *struct{} `xml:"http://www.w3.org/2001/XMLSchema complexType"`
}

type message struct {
	Name  string `xml:"name,attr"`
	Parts []part `xml:"http://schemas.xmlsoap.org/wsdl/ part"`
}

type part struct {
	Name    string `xml:"name,attr"`
	Type    string `xml:"type,attr"`
	Element string `xml:"element,attr"`
}

type portType struct {
	Name       string      `xml:"name,attr"`
	Operations []operation `xml:"http://schemas.xmlsoap.org/wsdl/ operation"`
}

type operation struct {
	Name   string `xml:"name,attr"`
	Doc    string `xml:"http://schemas.xmlsoap.org/wsdl/ documentation"`
	Input  ioRef  `xml:"http://schemas.xmlsoap.org/wsdl/ input"`
	Output ioRef  `xml:"http://schemas.xmlsoap.org/wsdl/ output"`
}

type ioRef struct {
	Message string `xml:"message,attr"`
}

type binding struct {
	Name        string `xml:"name,attr"`
	Type        string `xml:"type,attr"`
	SOAPBinding struct {
		Style     string `xml:"style,attr"`
		Transport string `xml:"transport,attr"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ binding"`
	Operations []bindingOp `xml:"http://schemas.xmlsoap.org/wsdl/ operation"`
}

type bindingOp struct {
	Name   string `xml:"name,attr"`
	SOAPOp struct {
		Style      string `xml:"style,attr"`
		SOAPAction string `xml:"soapAction,attr"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ operation"`
	Input  bindingIO `xml:"http://schemas.xmlsoap.org/wsdl/ input"`
	Output bindingIO `xml:"http://schemas.xmlsoap.org/wsdl/ output"`
}

type bindingIO struct {
	Body struct {
		Use       string `xml:"use,attr"`
		Namespace string `xml:"namespace,attr"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ body"`
}

type service struct {
	Name  string `xml:"name,attr"`
	Ports []struct {
		Name    string `xml:"name,attr"`
		Binding string `xml:"binding,attr"`
		Address struct {
			Location string `xml:"location,attr"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ address"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ port"`
}

// qname is a resolved XML qualified name.
type qname struct{ Space, Local string }

// model is what wsdlgen needs to know about one WSDL.
type model struct {
	defs     *definitions
	prefixes map[string]string // prefix -> namespace, declared on <definitions>
	style    string            // rpc or document
	ns       string            // rpc: soap:body namespace (same for all operations); document: targetNamespace
	portType string            // the one port type
	ops      []op
	// childNS maps the Go type name gowsdl derives from each schema complex type
	// (named, or anonymous inside a top-level element) to the namespace its child
	// elements must be qualified in ("" for unqualified).
	childNS map[string]string
}

type op struct {
	Name       string
	Doc        string
	SOAPAction string
	In, Out    []opPart // rpc parts, or the single document part
	InMsg      string
	OutMsg     string
}

type opPart struct {
	Name string
	Type qname // rpc: the part type
	Elem qname // document: the part element
}

func loadModel(path string) (*model, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d definitions
	if err := xml.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m := &model{defs: &d, prefixes: map[string]string{}, childNS: map[string]string{}}
	for _, a := range d.Attrs {
		if a.Name.Space == "xmlns" {
			m.prefixes[a.Name.Local] = a.Value
		}
	}
	if len(d.PortTypes) != 1 || len(d.Bindings) != 1 {
		return nil, fmt.Errorf("%s: want exactly one portType and one binding, have %d and %d", path, len(d.PortTypes), len(d.Bindings))
	}
	pt, b := d.PortTypes[0], d.Bindings[0]
	m.portType = pt.Name
	if b.SOAPBinding.Transport != soapHTTP {
		return nil, fmt.Errorf("%s: binding %s is not SOAP 1.1 over HTTP", path, b.Name)
	}
	m.style = b.SOAPBinding.Style
	if m.style == "" {
		m.style = styleDoc
	}
	if m.style != styleRPC && m.style != styleDoc {
		return nil, fmt.Errorf("%s: unsupported binding style %q", path, m.style)
	}
	msgs := map[string]message{}
	for _, msg := range d.Messages {
		msgs[msg.Name] = msg
	}
	bops := map[string]bindingOp{}
	for _, bo := range b.Operations {
		bops[bo.Name] = bo
	}
	for _, o := range pt.Operations {
		bo, ok := bops[o.Name]
		if !ok {
			return nil, fmt.Errorf("%s: operation %s not bound", path, o.Name)
		}
		if s := bo.SOAPOp.Style; s != "" && s != m.style {
			return nil, fmt.Errorf("%s: operation %s: mixed styles are not supported", path, o.Name)
		}
		for _, io := range []bindingIO{bo.Input, bo.Output} {
			if io.Body.Use != useLiteral {
				return nil, fmt.Errorf("%s: operation %s: use=%q, only literal is supported", path, o.Name, io.Body.Use)
			}
			if m.style == styleRPC {
				if m.ns == "" {
					m.ns = io.Body.Namespace
				}
				if io.Body.Namespace != m.ns || m.ns == "" {
					return nil, fmt.Errorf("%s: operation %s: rpc soap:body namespaces must be set and equal", path, o.Name)
				}
			}
		}
		x := op{Name: o.Name, Doc: strings.Join(strings.Fields(o.Doc), " "), SOAPAction: bo.SOAPOp.SOAPAction}
		for i, ref := range []string{o.Input.Message, o.Output.Message} {
			q, err := m.resolve(ref)
			if err != nil {
				return nil, err
			}
			msg, ok := msgs[q.Local]
			if !ok || q.Space != d.TargetNamespace {
				return nil, fmt.Errorf("%s: operation %s: message %s not found", path, o.Name, ref)
			}
			var parts []opPart
			for _, p := range msg.Parts {
				var pp opPart
				pp.Name = p.Name
				switch {
				case m.style == styleRPC && p.Type != "":
					if pp.Type, err = m.resolve(p.Type); err != nil {
						return nil, err
					}
				case m.style == styleDoc && p.Element != "":
					if pp.Elem, err = m.resolve(p.Element); err != nil {
						return nil, err
					}
				default:
					return nil, fmt.Errorf("%s: message %s part %s: rpc parts need type=, document parts element=", path, msg.Name, p.Name)
				}
				parts = append(parts, pp)
			}
			if m.style == styleDoc && len(parts) != 1 {
				return nil, fmt.Errorf("%s: message %s: document/literal needs exactly one part", path, msg.Name)
			}
			if i == 0 {
				x.In, x.InMsg = parts, msg.Name
			} else {
				x.Out, x.OutMsg = parts, msg.Name
			}
		}
		m.ops = append(m.ops, x)
	}
	if m.style == styleDoc {
		m.ns = d.TargetNamespace
	}
	for _, s := range d.Types.Schemas {
		ns := ""
		if s.ElementFormDefault == "qualified" {
			ns = s.TargetNamespace
		}
		for _, ct := range s.ComplexTypes {
			m.childNS[goTypeName(ct.Name)] = ns
		}
		for _, el := range s.Elements {
			if el.ComplexType != nil {
				m.childNS[goTypeName(el.Name)] = ns
			}
		}
	}
	if strings.Contains(string(raw), "hexBinary") {
		return nil, fmt.Errorf("%s: xsd:hexBinary is not supported (wsdlgen maps every []byte to base64Binary)", path)
	}
	return m, nil
}

func (m *model) resolve(q string) (qname, error) {
	prefix, local, ok := strings.Cut(q, ":")
	if !ok {
		prefix, local = "", q
	}
	ns, known := m.prefixes[prefix]
	if !known {
		return qname{}, fmt.Errorf("unknown namespace prefix in %q", q)
	}
	return qname{ns, local}, nil
}

// goTypeName mirrors gowsdl's naming of types: drop characters that are not
// letters, digits or '_', then upper-case the first letter.
func goTypeName(s string) string {
	s = goIdent(s)
	r := []rune(s)
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	return string(r)
}

func goIdent(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' {
			return '_'
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' {
			return r
		}
		return -1
	}, s)
}
