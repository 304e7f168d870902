package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
)

// xnode is one element of a WSDL read as a tree: enough to follow the XSD from an operation's
// message to the enumeration of its return code.
type xnode struct {
	name  xml.Name
	attrs map[string]string // unqualified attributes
	ns    map[string]string // prefixes in scope ("" is the default namespace)
	kids  []*xnode
}

func parseTree(raw []byte) (*xnode, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	root := &xnode{ns: map[string]string{}}
	stack := []*xnode{root}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			parent := stack[len(stack)-1]
			n := &xnode{name: t.Name, attrs: map[string]string{}, ns: map[string]string{}}
			for k, v := range parent.ns {
				n.ns[k] = v
			}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns":
					n.ns[a.Name.Local] = a.Value
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					n.ns[""] = a.Value
				case a.Name.Space == "":
					n.attrs[a.Name.Local] = a.Value
				}
			}
			parent.kids = append(parent.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	return root, nil
}

// resolve reads a QName attribute value in the scope of n.
func (n *xnode) resolve(q string) qname {
	prefix, local, ok := strings.Cut(q, ":")
	if !ok {
		prefix, local = "", q
	}
	return qname{n.ns[prefix], local}
}

// walk calls f for n and every descendant, depth first in document order.
func (n *xnode) walk(f func(*xnode)) {
	f(n)
	for _, k := range n.kids {
		k.walk(f)
	}
}

// find returns the first descendant of n (not n) in namespace ns named local whose name
// attribute is name ("" for any).
func (n *xnode) find(local, name string) *xnode {
	for _, k := range n.kids {
		if k.name.Space == nsXSD && k.name.Local == local && (name == "" || k.attrs["name"] == name) {
			return k
		}
		if f := k.find(local, name); f != nil {
			return f
		}
	}
	return nil
}

// schemaSet indexes the top-level named types and elements of a WSDL's inline schemas.
type schemaSet struct {
	simple, complex, elements map[qname]*xnode
}

func loadSchemas(root *xnode) *schemaSet {
	s := &schemaSet{simple: map[qname]*xnode{}, complex: map[qname]*xnode{}, elements: map[qname]*xnode{}}
	root.walk(func(n *xnode) {
		if n.name.Space != nsXSD || n.name.Local != "schema" {
			return
		}
		tns := n.attrs["targetNamespace"]
		for _, k := range n.kids {
			if k.name.Space != nsXSD {
				continue
			}
			q := qname{tns, k.attrs["name"]}
			switch k.name.Local {
			case "simpleType":
				s.simple[q] = k
			case "complexType":
				s.complex[q] = k
			case "element":
				s.elements[q] = k
			}
		}
	})
	return s
}

// enumeration returns the enumeration values of the simple type of element el (its type=
// attribute, or its anonymous simpleType), in schema order.
func (s *schemaSet) enumeration(el *xnode) ([]string, error) {
	st := el.find("simpleType", "")
	if t, ok := el.attrs["type"]; ok {
		q := el.resolve(t)
		if st = s.simple[q]; st == nil {
			return nil, fmt.Errorf("element %s: simple type {%s}%s not found", el.attrs["name"], q.Space, q.Local)
		}
	}
	if st == nil {
		return nil, fmt.Errorf("element %s has no simple type", el.attrs["name"])
	}
	var values []string
	st.walk(func(n *xnode) {
		if n.name.Space == nsXSD && n.name.Local == "enumeration" {
			values = append(values, n.attrs["value"])
		}
	})
	if len(values) == 0 {
		return nil, fmt.Errorf("element %s: its simple type has no enumeration", el.attrs["name"])
	}
	return values, nil
}

// opCodes are the enumerations of one operation: the return code of its answer and, where
// the request has one, its statusInfo.
type opCodes struct {
	Return, StatusInfo []string
}

// enumerations reads, for each operation of m, the enumeration of its answer's return code
// (rpc: the returnCode element of the output part's complex type; document: the result
// element of the output element) and of its request's statusInfo (SendCertificates).
func enumerations(path string, m *model) (map[string]opCodes, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	root, err := parseTree(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := loadSchemas(root)
	// container returns the schema node a message part refers to: a complex type (rpc) or a
	// top-level element (document).
	container := func(p opPart) *xnode {
		if m.style == styleRPC {
			return s.complex[p.Type]
		}
		return s.elements[p.Elem]
	}
	out := map[string]opCodes{}
	for _, o := range m.ops {
		var c opCodes
		for _, p := range o.Out {
			n := container(p)
			if n == nil {
				continue
			}
			for _, name := range []string{"returnCode", "result"} {
				if el := n.find("element", name); el != nil {
					if c.Return, err = s.enumeration(el); err != nil {
						return nil, fmt.Errorf("%s: operation %s: %w", path, o.Name, err)
					}
				}
			}
		}
		if c.Return == nil {
			return nil, fmt.Errorf("%s: operation %s: no returnCode or result element in its answer", path, o.Name)
		}
		for _, p := range o.In {
			if m.style == styleRPC && p.Name == "statusInfo" {
				st := s.simple[p.Type]
				if st == nil {
					return nil, fmt.Errorf("%s: operation %s: statusInfo type %s not found", path, o.Name, p.Type.Local)
				}
				el := &xnode{attrs: map[string]string{"name": p.Name}, kids: []*xnode{st}}
				if c.StatusInfo, err = s.enumeration(el); err != nil {
					return nil, fmt.Errorf("%s: operation %s: %w", path, o.Name, err)
				}
			}
			if n := container(p); m.style == styleDoc && n != nil {
				if el := n.find("element", "statusInfo"); el != nil {
					if c.StatusInfo, err = s.enumeration(el); err != nil {
						return nil, fmt.Errorf("%s: operation %s: %w", path, o.Name, err)
					}
				}
			}
		}
		out[o.Name] = c
	}
	return out, nil
}
