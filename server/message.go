package server

import (
	"fmt"
	"reflect"

	"eacgate/authority"
	"eacgate/msg"
	"eacgate/wsdl/soapenc"
)

// MessageFrom reads a generated request value (pointer to struct) into a msg.Message. The
// generated field names are the contract: CallbackIndicator, MessageID.MessageID,
// ResponseURL.Astring, ForeignCAR, CertReq, StatusInfo, CertificateSeq.Certificate.
func MessageFrom(op string, v any) msg.Message {
	m := msg.Message{Operation: op}
	s := reflect.ValueOf(v).Elem()
	m.CallbackPossible = str(field(s, "CallbackIndicator")) == "callback_possible"
	if id := field(s, "MessageID"); id.Kind() == reflect.String {
		m.MessageID = id.String() // v1.0 SendCertificates: a plain messageID
	} else {
		m.MessageID = str(field(id, "MessageID"))
	}
	m.ResponseURL = str(field(field(s, "ResponseURL"), "Astring"))
	m.ForeignCAR = str(field(s, "ForeignCAR"))
	m.CallerID = str(field(s, "CallerID"))
	m.Subject = str(field(s, "Subject"))
	m.Body = str(field(s, "Body"))
	if f := either(s, "CertReq", "CertificateRequest"); f.IsValid() {
		m.CertReq = f.Bytes()
	}
	m.StatusInfo = str(field(s, "StatusInfo"))
	if f := either(s, "CertificateSeq", "CertificateSequence"); f.IsValid() {
		if certs := field(f, "Certificate"); certs.IsValid() {
			for i := 0; i < certs.Len(); i++ {
				m.Certificates = append(m.Certificates, certs.Index(i).Bytes())
			}
		}
	}
	return m
}

// either is the field named a (TR-03129) or, absent that, b (CSN 36 9791).
func either(v reflect.Value, a, b string) reflect.Value {
	if f := field(v, a); f.IsValid() {
		return f
	}
	return field(v, b)
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

// FillResponse writes an msg.Answer into a generated response value (pointer to a struct with a
// Result field).
func FillResponse(resp any, a msg.Answer) error {
	r := reflect.ValueOf(resp).Elem().FieldByName("Result")
	if r.IsValid() && r.Kind() == reflect.String {
		// CSN 36 9791: result and certificateSequence side by side.
		r.SetString(string(a.ReturnCode))
		setCertificates(reflect.ValueOf(resp).Elem().FieldByName("CertificateSequence"), a.Certificates)
		return nil
	}
	if !r.IsValid() || r.Kind() != reflect.Pointer {
		return fmt.Errorf("server: %T has no Result", resp)
	}
	r.Set(reflect.New(r.Type().Elem()))
	res := r.Elem()
	code := res.FieldByName("ReturnCode")
	cv := reflect.New(code.Type().Elem())
	cv.Elem().SetString(string(a.ReturnCode))
	code.Set(cv)
	setCertificates(res.FieldByName("CertificateSeq"), a.Certificates)
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
func messageTo(v any, m msg.Message) {
	s := reflect.ValueOf(v).Elem()
	if f := s.FieldByName("CallbackIndicator"); f.IsValid() {
		ind := "callback_not_possible"
		if m.CallbackPossible {
			ind = "callback_possible"
		}
		setString(f, ind)
	}
	if f := s.FieldByName("MessageID"); f.IsValid() && m.MessageID != "" {
		if f.Kind() == reflect.String || f.Type().Elem().Kind() == reflect.String {
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
	if f := s.FieldByName("CallerID"); f.IsValid() {
		f.SetString(m.CallerID)
	}
	for _, name := range []string{"CertReq", "CertificateRequest"} {
		if f := s.FieldByName(name); f.IsValid() {
			f.SetBytes(m.CertReq)
		}
	}
	if f := s.FieldByName("StatusInfo"); f.IsValid() && m.StatusInfo != "" {
		setString(f, m.StatusInfo)
	}
	setCertificates(s.FieldByName("CertificateSeq"), m.Certificates)
	setCertificates(s.FieldByName("CertificateSequence"), m.Certificates)
}

// setCertificates fills a certificate sequence field (pointer to a struct with a
// Certificate slice) when there are certificates; an absent field is ignored.
func setCertificates(f reflect.Value, certs [][]byte) {
	if !f.IsValid() || len(certs) == 0 {
		return
	}
	sv := reflect.New(f.Type().Elem())
	list := sv.Elem().FieldByName("Certificate")
	for _, c := range certs {
		list.Set(reflect.Append(list, reflect.ValueOf(soapenc.Base64Binary(c))))
	}
	f.Set(sv)
}

// setString sets a string-kinded field, allocating it when it is a pointer.
func setString(f reflect.Value, v string) {
	if f.Kind() == reflect.Pointer {
		f.Set(reflect.New(f.Type().Elem()))
		f = f.Elem()
	}
	f.SetString(v)
}

// answerFrom reads a generated response value into an msg.Answer.
func answerFrom(resp any) msg.Answer {
	var a msg.Answer
	r := field(reflect.ValueOf(resp), "Result")
	if r.Kind() == reflect.String { // CSN 36 9791
		a.ReturnCode = authority.ReturnCode(r.String())
		r = reflect.ValueOf(resp)
	} else {
		a.ReturnCode = authority.ReturnCode(str(field(r, "ReturnCode")))
	}
	if certs := field(either(r, "CertificateSeq", "CertificateSequence"), "Certificate"); certs.IsValid() {
		for i := 0; i < certs.Len(); i++ {
			a.Certificates = append(a.Certificates, certs.Index(i).Bytes())
		}
	}
	if b := field(field(r, "DocumentSignerList"), "Binary"); b.IsValid() {
		a.List = b.Bytes()
	}
	return a
}
