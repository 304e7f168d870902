package gateway

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/spoc"
	"eacgate/store"
	"eacgate/wsdl"
)

// Every synchronous refusal a peer can provoke is answered, in every protocol version, with a
// code of that version's XSD enumeration for the operation: a client generated from the
// published v1.0 WSDL (or the CSN 36 9791 one) rejects any other value of returnCode. The
// calls go over mutual TLS to a gateway from Open (demo CVCA and DV, SPOC role with one
// partner, terminals under approval) with the generated types of each version
// (server.EncodeRequest / server.DecodeResponse); the enumerations are read from wsdl/ here.
func TestRefusalsStayInTheVersionsEnumeration(t *testing.T) {
	ctx := context.Background()
	opts := Options{DataDir: t.TempDir(), Demo: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Processing: map[string]string{"terminal": "approval"},
		SPOC:       spoc.Config{Partners: []spoc.Partner{{Country: "ZZ", URL: "https://127.0.0.1:1/spoc", Timeout: time.Second}}}}
	g, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewUnstartedServer(g.Handler)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	// Callers: registered holders (by TLS fingerprint) and one nobody registered.
	holders := map[string]*store.Holder{}
	clients := map[string]*http.Client{}
	register := func(name, country, mnemonic string, role store.Role, status store.HolderStatus, unknown ...asn1.ObjectIdentifier) {
		cert, fp := rcIdentity(t, name, unknown...)
		if country != "" {
			h := &store.Holder{Country: country, Mnemonic: mnemonic, Role: role, Status: status, TLSFingerprint: fp}
			if err := g.Store.CreateHolder(ctx, h); err != nil {
				t.Fatal(err)
			}
			holders[name] = h
		}
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
		clients[name] = &http.Client{Transport: tr}
		t.Cleanup(tr.CloseIdleConnections)
	}
	register("dv", "UT", "DVF", store.RoleDVDomestic, store.HolderActive)
	register("dvExpired", "UT", "DVX", store.RoleDVDomestic, store.HolderActive)
	register("dvCurrent", "UT", "DVC", store.RoleDVDomestic, store.HolderActive)
	register("dvSuspended", "UT", "DVS", store.RoleDVDomestic, store.HolderSuspended)
	register("terminal", "UT", "ISTERM01", store.RoleTerminal, store.HolderActive)
	register("spoc", "ZZ", "SPOC", store.RoleSPOC, store.HolderActive, spoc.OIDTLSClient)
	register("unknown", "", "", "", "")

	cvca := g.CurrentCVCA()
	cvcaCHR, domain := cvca.Certificate().CHR, cvca.Domain()
	request := func(car, chr string, curve *ecc.Curve) (*cvc.Request, crypto.Signer) {
		t.Helper()
		key, _ := ecc.GenerateKey(curve, rand.Reader)
		pub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
		req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: car, CHR: chr}, pub, key)
		if err != nil {
			t.Fatal(err)
		}
		return req, key
	}
	authenticate := func(req *cvc.Request, outerCAR string, key crypto.Signer) []byte {
		t.Helper()
		a, err := req.Authenticate(outerCAR, key, cvc.ECDSA_SHA256)
		if err != nil {
			t.Fatal(err)
		}
		return a.Raw
	}
	// current issues chr to holder as its current certificate, at issuedAt, with the key it
	// returns.
	current := func(holder, chr string, issuedAt time.Time) (*cvc.Certificate, crypto.Signer) {
		t.Helper()
		req, key := request(cvcaCHR, chr, domain)
		is := &authority.Issuer{Path: cvca.Path, Signer: cvca.Signer, Policy: authority.DefaultPolicy(), Now: func() time.Time { return issuedAt }}
		cert, err := is.Issue(req.Raw, authority.Applicant{Country: "UT", Mnemonic: holders[holder].Mnemonic, Role: cvc.RoleDVDomestic, Status: authority.StatusActive})
		if err != nil {
			t.Fatal(err)
		}
		if err := ra.NewStoreRegistry(g.Store).RecordCertificate(ctx, holders[holder].ID, cert); err != nil {
			t.Fatal(err)
		}
		return cert, key
	}
	expired, expiredKey := current("dvExpired", "UTDVX00001", time.Now().AddDate(0, 0, -200))
	valid, validKey := current("dvCurrent", "UTDVC00001", time.Now())

	good, _ := request(cvcaCHR, "UTDVF00001", domain) // never sent as it is: it would be issued
	badInner := bytes.Clone(good.Raw)
	badInner[len(badInner)-1] ^= 0xff
	strange, strangeKey := request(cvcaCHR, "UTDVF00002", domain)
	badOuter := authenticate(strange, "UTDVF00000", strangeKey)
	otherCurve, _ := request(cvcaCHR, "UTDVF00003", ecc.CurveByName("P-256"))
	unknownCAR, _ := request("UTCVCA99999", "UTDVF00004", domain)
	renewal, _ := request(cvcaCHR, "UTDVX00002", domain)
	expiredRenewal := authenticate(renewal, expired.CHR, expiredKey)
	foreignExpired, _ := request("ZZCVCA00001", "UTDVX00003", domain)
	foreignExpiredRaw := authenticate(foreignExpired, expired.CHR, expiredKey)
	foreign, _ := request("ZZCVCA00001", "UTDVC00002", domain)
	foreignRaw := authenticate(foreign, valid.CHR, validKey)
	terminal, _ := request(g.CurrentDV().Certificate().CHR, "UTISTERM0100001", domain)
	foreignDV, _ := request(cvcaCHR, "ZZDVA00001", ecc.CurveByName("P-256"))
	garbage := []byte{0x7f, 0x21, 0x01}
	notBase64 := []byte("\x00\x01not-base64\x02")
	breakBase64 := func(b []byte) []byte {
		return bytes.Replace(b, []byte(base64.StdEncoding.EncodeToString(notBase64)), []byte("%%%%"), 1)
	}

	type refusal struct {
		name, caller string
		m            msg.Message
		first        *msg.Message        // sent before, with the same messageID
		edit         func([]byte) []byte // on the encoded request
	}
	rc := func(id string, req []byte) msg.Message {
		return msg.Message{Operation: "RequestCertificate", MessageID: id, CertReq: req}
	}
	endpoints := []struct {
		path      string
		protocols []server.Protocol
		wsdls     []string
		refusals  []refusal
	}{
		{"/cvca", server.CVCAProtocols, []string{wsdl.CVCA11, wsdl.CVCA10}, []refusal{
			{name: "unknown caller", caller: "unknown", m: rc("u1", good.Raw)},
			{name: "unknown caller GetCACertificates", caller: "unknown", m: msg.Message{Operation: "GetCACertificates"}},
			{name: "unknown caller foreign", caller: "unknown", m: msg.Message{Operation: "RequestForeignCertificate", MessageID: "u2", ForeignCAR: "ZZCVCA00001", CertReq: foreignRaw}},
			{name: "suspended holder", caller: "dvSuspended", m: rc("s1", good.Raw)},
			{name: "inner signature", caller: "dv", m: rc("i1", badInner)},
			{name: "outer signature", caller: "dv", m: rc("o1", badOuter)},
			{name: "expired", caller: "dvExpired", m: rc("e1", expiredRenewal)},
			{name: "domain parameters", caller: "dv", m: rc("d1", otherCurve.Raw)},
			{name: "unknown CAR", caller: "dv", m: rc("c1", unknownCAR.Raw)},
			{name: "broken TLV", caller: "dv", m: rc("t1", garbage)},
			{name: "broken base64", caller: "dv", m: rc("b1", notBase64), edit: breakBase64},
			{name: "duplicate messageID", caller: "dv", m: rc("dup", unknownCAR.Raw), first: &msg.Message{Operation: "RequestCertificate", MessageID: "dup", CertReq: badInner}},
			{name: "foreignCAR unknown", caller: "dvCurrent", m: msg.Message{Operation: "RequestForeignCertificate", MessageID: "f1", ForeignCAR: "QQCVCA00001", CertReq: foreignRaw}},
			{name: "foreignCAR too short", caller: "dvCurrent", m: msg.Message{Operation: "RequestForeignCertificate", MessageID: "f2", ForeignCAR: "ZZ", CertReq: foreignRaw}},
			{name: "foreign request expired", caller: "dvExpired", m: msg.Message{Operation: "RequestForeignCertificate", MessageID: "f3", ForeignCAR: "ZZCVCA00001", CertReq: foreignExpiredRaw}},
			{name: "foreign request not forwarded", caller: "dvCurrent", m: msg.Message{Operation: "RequestForeignCertificate", MessageID: "f4", ForeignCAR: "ZZCVCA00001", CertReq: foreignRaw}},
			{name: "foreign request broken TLV", caller: "dvCurrent", m: msg.Message{Operation: "RequestForeignCertificate", MessageID: "f5", ForeignCAR: "ZZCVCA00001", CertReq: garbage}},
		}},
		{"/dv", server.DVProtocols, []string{wsdl.DV11, wsdl.DV10}, []refusal{
			{name: "unknown caller", caller: "unknown", m: rc("u1", terminal.Raw)},
			{name: "unknown caller GetCACertificates", caller: "unknown", m: msg.Message{Operation: "GetCACertificates"}},
			{name: "unknown caller SendCertificates", caller: "unknown", m: msg.Message{Operation: "SendCertificates", MessageID: "u2", StatusInfo: "ok_cert_available"}},
			{name: "unknown caller GetDocumentSignerList", caller: "unknown", m: msg.Message{Operation: "GetDocumentSignerList"}},
			{name: "synchronous processing not possible", caller: "terminal", m: rc("a1", terminal.Raw)},
			{name: "broken base64", caller: "terminal", m: rc("b1", notBase64), edit: breakBase64},
			{name: "no document signer list", caller: "terminal", m: msg.Message{Operation: "GetDocumentSignerList"}},
			{name: "SendCertificates unknown messageID", caller: "terminal", m: msg.Message{Operation: "SendCertificates", MessageID: "nowhere", StatusInfo: "ok_cert_available"}},
			{name: "SendCertificates broken base64", caller: "dv", m: msg.Message{Operation: "SendCertificates", MessageID: "nowhere", StatusInfo: "ok_cert_available", Certificates: [][]byte{notBase64}}, edit: breakBase64},
		}},
		{"/spoc", server.SPOCProtocols, []string{wsdl.SPOC}, []refusal{
			{name: "unknown caller", caller: "unknown", m: msg.Message{Operation: "RequestCertificate", CallerID: "ZZ", MessageID: "u1", CertReq: foreignDV.Raw}},
			{name: "unknown caller GetCACertificates", caller: "unknown", m: msg.Message{Operation: "GetCACertificates", CallerID: "ZZ", MessageID: "u2"}},
			{name: "unknown caller SendCertificates", caller: "unknown", m: msg.Message{Operation: "SendCertificates", CallerID: "ZZ", MessageID: "u3", StatusInfo: "ok_cert_available"}},
			{name: "unknown caller GeneralMessage", caller: "unknown", m: msg.Message{Operation: "GeneralMessage", CallerID: "ZZ", MessageID: "u4", Subject: "s", Body: "b"}},
			{name: "a DV is no SPOC", caller: "dv", m: msg.Message{Operation: "GetCACertificates", CallerID: "UT", MessageID: "u5"}},
			{name: "callerID of another country", caller: "spoc", m: msg.Message{Operation: "RequestCertificate", CallerID: "QQ", MessageID: "q1", CertReq: foreignDV.Raw}},
			{name: "callerID of another country GeneralMessage", caller: "spoc", m: msg.Message{Operation: "GeneralMessage", CallerID: "QQ", MessageID: "q2"}},
			{name: "domain parameters", caller: "spoc", m: msg.Message{Operation: "RequestCertificate", CallerID: "ZZ", MessageID: "d1", CertReq: foreignDV.Raw}},
			{name: "broken TLV", caller: "spoc", m: msg.Message{Operation: "RequestCertificate", CallerID: "ZZ", MessageID: "t1", CertReq: garbage}},
			{name: "broken base64", caller: "spoc", m: msg.Message{Operation: "RequestCertificate", CallerID: "ZZ", MessageID: "b1", CertReq: notBase64}, edit: breakBase64},
			{name: "SendCertificates unknown messageID", caller: "spoc", m: msg.Message{Operation: "SendCertificates", CallerID: "ZZ", MessageID: "nowhere", StatusInfo: "ok_cert_available"}},
		}},
	}
	for _, ep := range endpoints {
		for i, proto := range ep.protocols {
			enums := rcEnumerations(t, ep.wsdls[i])
			for _, r := range ep.refusals {
				send := func(m msg.Message) (msg.Answer, error) {
					if m.MessageID != "" { // unique per version: the store remembers messageIDs
						m.MessageID += "-" + ep.wsdls[i]
					}
					body, err := server.EncodeRequest(proto, m)
					if err != nil {
						t.Fatal(err)
					}
					if r.edit != nil {
						edited := r.edit(body)
						if bytes.Equal(edited, body) {
							t.Fatalf("%s: the edit changed nothing", r.name)
						}
						body = edited
					}
					resp, err := clients[r.caller].Post(srv.URL+ep.path, "text/xml; charset=utf-8", bytes.NewReader(body))
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					return server.DecodeResponse(proto, m.Operation, b)
				}
				if r.first != nil {
					first := *r.first
					if _, err := send(first); err != nil {
						t.Fatalf("%s %s (first): %v", ep.wsdls[i], r.name, err)
					}
				}
				a, err := send(r.m)
				if err != nil {
					t.Errorf("%s %s: %v", ep.wsdls[i], r.name, err)
					continue
				}
				allowed := enums[r.m.Operation]
				if len(allowed) == 0 {
					t.Fatalf("%s: no enumeration for %s", ep.wsdls[i], r.m.Operation)
				}
				if a.ReturnCode.OK() || a.ReturnCode == "ok" {
					t.Errorf("%s %s: %s is no refusal", ep.wsdls[i], r.name, a.ReturnCode)
				}
				if !slices.Contains(allowed, string(a.ReturnCode)) {
					t.Errorf("%s %s %s: returnCode %s is not in the enumeration %v", ep.wsdls[i], r.m.Operation, r.name, a.ReturnCode, allowed)
				} else {
					t.Logf("%s %s %s: %s", ep.wsdls[i], r.m.Operation, r.name, a.ReturnCode)
				}
			}
		}
	}
}

// rcIdentity makes a self-signed TLS client certificate (with the unknown extended key
// usages, if any) and returns it with its hex SHA-256 fingerprint.
func rcIdentity(t *testing.T, cn string, unknown ...asn1.ObjectIdentifier) (tls.Certificate, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), UnknownExtKeyUsage: unknown}
	if len(unknown) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, hex.EncodeToString(sum[:])
}

// rcEnumerations reads, from the WSDL as served, each operation's allowed return codes:
// TR-03129 (rpc/literal) names them in the simple type Op_returnCodeType of its inline
// eacBT schema, CSN 36 9791 in the result element of OpResponse.
func rcEnumerations(t *testing.T, name string) map[string][]string {
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
	var doc struct {
		Schemas []struct {
			Simple []struct {
				Name string `xml:"name,attr"`
				restriction
			} `xml:"simpleType"`
			Elements []struct {
				Name  string `xml:"name,attr"`
				Inner []struct {
					Name   string      `xml:"name,attr"`
					Simple restriction `xml:"simpleType"`
				} `xml:"complexType>sequence>element"`
			} `xml:"element"`
		} `xml:"types>schema"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	values := func(r restriction) []string {
		var v []string
		for _, e := range r.Values {
			v = append(v, e.Value)
		}
		return v
	}
	out := map[string][]string{}
	for _, s := range doc.Schemas {
		for _, st := range s.Simple {
			if op, ok := strings.CutSuffix(st.Name, "_returnCodeType"); ok {
				out[op] = values(st.restriction)
			}
		}
		for _, el := range s.Elements {
			if op, ok := strings.CutSuffix(el.Name, "Response"); ok {
				for _, in := range el.Inner {
					if in.Name == "result" {
						out[op] = values(in.Simple)
					}
				}
			}
		}
	}
	return out
}
