package server

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"eacgate/msg"
)

// ErrPeer is the class of errors where the peer answered, but not with a usable SOAP response
// (an HTTP error, a Fault, a body that is not the operation's response). Such errors are
// worth a retry; a well-formed answer with a failure code is not an error at all.
var ErrPeer = errors.New("server: peer did not answer usably")

// CallbackProtocol is the protocol in which the answer to a request received in namespace
// ns is delivered by SendCertificates: the DV interface (which defines SendCertificates for
// the CVCA's callbacks) in the version the request came in.
func CallbackProtocol(ns string) Protocol {
	if ns == SPOCProtocols[0].Namespace {
		return SPOCProtocols[0]
	}
	if strings.HasSuffix(ns, "/1.0") {
		return DVProtocols[1]
	}
	return DVProtocols[0]
}

// EncodeRequest returns the SOAP 1.1 envelope of m (m.Operation) in protocol p.
func EncodeRequest(p Protocol, m msg.Message) ([]byte, error) {
	req, ok := p.RequestFrom(m)
	if !ok {
		return nil, fmt.Errorf("server: %s has no operation %s", p.Namespace, m.Operation)
	}
	var buf bytes.Buffer
	if err := WriteEnvelope(&buf, false, req); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeResponse reads the SOAP response to operation op in protocol p.
func DecodeResponse(p Protocol, op string, body []byte) (msg.Answer, error) {
	env, err := ParseEnvelope(body)
	if err != nil {
		return msg.Answer{}, fmt.Errorf("%w: %v", ErrPeer, err)
	}
	if env.Operation.Local == "Fault" {
		return msg.Answer{}, fmt.Errorf("%w: SOAP Fault: %s", ErrPeer, faultString(body))
	}
	resp, ok := p.NewResponse(op)
	if !ok {
		return msg.Answer{}, fmt.Errorf("server: %s has no operation %s", p.Namespace, op)
	}
	// WS-I BP names the rpc response wrapper operation+"Response"; some stacks (zeep's
	// server side) use the WSDL message's name, such as SendCertificates_Res. Both are
	// taken when in the protocol's namespace.
	want := xml.Name{Space: p.Namespace, Local: op + "Response"}
	if env.Operation.Space != p.Namespace || !strings.HasPrefix(env.Operation.Local, op) || env.Operation.Local == op {
		return msg.Answer{}, fmt.Errorf("%w: expected %sResponse, got {%s}%s", ErrPeer, op, env.Operation.Space, env.Operation.Local)
	}
	if err := env.decodeOperation(resp, &want); err != nil {
		return msg.Answer{}, fmt.Errorf("%w: %v", ErrPeer, err)
	}
	a, _ := p.AnswerFrom(resp)
	if a.ReturnCode == "" {
		return msg.Answer{}, fmt.Errorf("%w: %sResponse without returnCode", ErrPeer, op)
	}
	return a, nil
}

// faultString extracts a Fault's reason text for logs (bounded).
func faultString(body []byte) string {
	for _, tag := range []string{"faultstring>", "Text>"} {
		if i := bytes.Index(body, []byte(tag)); i >= 0 {
			rest := body[i+len(tag):]
			if j := bytes.IndexByte(rest, '<'); j >= 0 {
				rest = rest[:j]
			}
			if len(rest) > 200 {
				rest = rest[:200]
			}
			return string(rest)
		}
	}
	return "(no reason)"
}

// MaxResponseBody bounds what Call reads from a peer.
const MaxResponseBody = 4 << 20

// Call posts a SOAP request to url and decodes the response to operation op. The HTTP
// client carries the TLS configuration and timeouts; ctx bounds the call.
func Call(ctx context.Context, hc *http.Client, url string, p Protocol, op string, body []byte) (msg.Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return msg.Answer{}, fmt.Errorf("server: call %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `""`)
	resp, err := hc.Do(req)
	if err != nil {
		return msg.Answer{}, fmt.Errorf("server: call %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	if err != nil {
		return msg.Answer{}, fmt.Errorf("%w: read response of %s: %v", ErrPeer, url, err)
	}
	if len(b) > MaxResponseBody {
		return msg.Answer{}, fmt.Errorf("%w: response of %s exceeds %d bytes", ErrPeer, url, MaxResponseBody)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusInternalServerError {
		return msg.Answer{}, fmt.Errorf("%w: %s answered HTTP %d", ErrPeer, url, resp.StatusCode)
	}
	a, err := DecodeResponse(p, op, b)
	if err != nil {
		return msg.Answer{}, fmt.Errorf("%s: %w", url, err)
	}
	return a, nil
}

// ProtocolByNamespace finds a protocol this gateway speaks by its SOAP namespace.
func ProtocolByNamespace(ns string) (Protocol, bool) {
	for _, list := range [][]Protocol{CVCAProtocols, DVProtocols, SPOCProtocols} {
		for _, p := range list {
			if p.Namespace == ns {
				return p, true
			}
		}
	}
	return Protocol{}, false
}
