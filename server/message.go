package server

import (
	"fmt"
	"reflect"

	"eacgate/authority"
	"eacgate/wsdl/soapenc"
)

// Message is a TR-03129 request with the protocol version taken out: the generated types of
// v1.0 and v1.1 (and of the CVCA and DV interfaces) have the same shape in different
// namespaces, and the roles should not care which one a peer spoke.
type Message struct {
	Operation        string // "RequestCertificate", "GetCACertificates", ...
	Namespace        string // the protocol (SOAP namespace) the message came in
	CallbackPossible bool
	MessageID        string
	ResponseURL      string
	ForeignCAR       string   // RequestForeignCertificate
	CertReq          []byte   // RequestCertificate, RequestForeignCertificate
	StatusInfo       string   // SendCertificates
	Certificates     [][]byte // SendCertificates
}

// Answer is what a role answers to a Message.
type Answer struct {
	ReturnCode   authority.ReturnCode
	Certificates [][]byte // certificateSeq
	List         []byte   // GetDocumentSignerList: CMS SignedData
}

// messageFrom reads a generated request value (pointer to struct) into a Message. The
// generated field names are the contract: CallbackIndicator, MessageID.MessageID,
// ResponseURL.Astring, ForeignCAR, CertReq, StatusInfo, CertificateSeq.Certificate.
func messageFrom(op string, v any) Message {
	m := Message{Operation: op}
	s := reflect.ValueOf(v).Elem()
	m.CallbackPossible = str(field(s, "CallbackIndicator")) == "callback_possible"
	if id := field(s, "MessageID"); id.Kind() == reflect.String {
		m.MessageID = id.String() // v1.0 SendCertificates: a plain messageID
	} else {
		m.MessageID = str(field(id, "MessageID"))
	}
	m.ResponseURL = str(field(field(s, "ResponseURL"), "Astring"))
	m.ForeignCAR = str(field(s, "ForeignCAR"))
	if f := field(s, "CertReq"); f.IsValid() {
		m.CertReq = f.Bytes()
	}
	m.StatusInfo = str(field(s, "StatusInfo"))
	if f := field(s, "CertificateSeq"); f.IsValid() {
		if certs := field(f, "Certificate"); certs.IsValid() {
			for i := 0; i < certs.Len(); i++ {
				m.Certificates = append(m.Certificates, certs.Index(i).Bytes())
			}
		}
	}
	return m
}

// str is the string value of v, "" for an absent field (reflect.Value.String would say
// "<invalid Value>").
func str(v reflect.Value) string {
	if !v.IsValid() || v.Kind() != reflect.String {
		return ""
	}
	return v.String()
}

// field returns the named field of a struct (following pointers), or the zero Value when the
// field is absent or a nil pointer.
func field(v reflect.Value, name string) reflect.Value {
	if !v.IsValid() {
		return v
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	f := v.FieldByName(name)
	for f.IsValid() && f.Kind() == reflect.Pointer {
		if f.IsNil() {
			return reflect.Value{}
		}
		f = f.Elem()
	}
	return f
}

// fillResponse writes an Answer into a generated response value (pointer to a struct with a
// Result field).
func fillResponse(resp any, a Answer) error {
	r := reflect.ValueOf(resp).Elem().FieldByName("Result")
	if !r.IsValid() || r.Kind() != reflect.Pointer {
		return fmt.Errorf("server: %T has no Result", resp)
	}
	r.Set(reflect.New(r.Type().Elem()))
	res := r.Elem()
	code := res.FieldByName("ReturnCode")
	cv := reflect.New(code.Type().Elem())
	cv.Elem().SetString(string(a.ReturnCode))
	code.Set(cv)
	if seq := res.FieldByName("CertificateSeq"); seq.IsValid() && len(a.Certificates) > 0 {
		sv := reflect.New(seq.Type().Elem())
		list := sv.Elem().FieldByName("Certificate")
		for _, c := range a.Certificates {
			list.Set(reflect.Append(list, reflect.ValueOf(soapenc.Base64Binary(c))))
		}
		seq.Set(sv)
	}
	if dl := res.FieldByName("DocumentSignerList"); dl.IsValid() && a.List != nil {
		dv := reflect.New(dl.Type().Elem())
		dv.Elem().FieldByName("Binary").Set(reflect.ValueOf(soapenc.Base64Binary(a.List)))
		dl.Set(dv)
	}
	return nil
}

// messageTo fills a generated request value (pointer to struct, from Protocol.NewRequest)
// from m: the reverse of messageFrom, for requests this gateway sends (SendCertificates
// callbacks, RequestCertificate to a CVCA).
func messageTo(v any, m Message) {
	s := reflect.ValueOf(v).Elem()
	if f := s.FieldByName("CallbackIndicator"); f.IsValid() {
		ind := "callback_not_possible"
		if m.CallbackPossible {
			ind = "callback_possible"
		}
		setString(f, ind)
	}
	if f := s.FieldByName("MessageID"); f.IsValid() && m.MessageID != "" {
		if f.Type().Elem().Kind() == reflect.String {
			setString(f, m.MessageID)
		} else {
			f.Set(reflect.New(f.Type().Elem()))
			setString(f.Elem().FieldByName("MessageID"), m.MessageID)
		}
	}
	if f := s.FieldByName("ResponseURL"); f.IsValid() && m.ResponseURL != "" {
		f.Set(reflect.New(f.Type().Elem()))
		f.Elem().FieldByName("Astring").SetString(m.ResponseURL)
	}
	if f := s.FieldByName("ForeignCAR"); f.IsValid() {
		f.SetString(m.ForeignCAR)
	}
	if f := s.FieldByName("CertReq"); f.IsValid() {
		f.SetBytes(m.CertReq)
	}
	if f := s.FieldByName("StatusInfo"); f.IsValid() && m.StatusInfo != "" {
		setString(f, m.StatusInfo)
	}
	if f := s.FieldByName("CertificateSeq"); f.IsValid() && len(m.Certificates) > 0 {
		sv := reflect.New(f.Type().Elem())
		list := sv.Elem().FieldByName("Certificate")
		for _, c := range m.Certificates {
			list.Set(reflect.Append(list, reflect.ValueOf(soapenc.Base64Binary(c))))
		}
		f.Set(sv)
	}
}

// setString sets a string-kinded field, allocating it when it is a pointer.
func setString(f reflect.Value, v string) {
	if f.Kind() == reflect.Pointer {
		f.Set(reflect.New(f.Type().Elem()))
		f = f.Elem()
	}
	f.SetString(v)
}

// answerFrom reads a generated response value into an Answer.
func answerFrom(resp any) Answer {
	var a Answer
	r := field(reflect.ValueOf(resp), "Result")
	a.ReturnCode = authority.ReturnCode(str(field(r, "ReturnCode")))
	if certs := field(field(r, "CertificateSeq"), "Certificate"); certs.IsValid() {
		for i := 0; i < certs.Len(); i++ {
			a.Certificates = append(a.Certificates, certs.Index(i).Bytes())
		}
	}
	if b := field(field(r, "DocumentSignerList"), "Binary"); b.IsValid() {
		a.List = b.Bytes()
	}
	return a
}
