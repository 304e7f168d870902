package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"eacgate/authority"
	"eacgate/generated/cvca10"
	"eacgate/generated/cvca11"
	"eacgate/generated/dv10"
	"eacgate/generated/dv11"
	"eacgate/generated/spoc"
	"eacgate/msg"
	"eacgate/wsdl"
)

// Protocol is one version of one TR-03129 interface, as generated from wsdl/: the functions
// come from one package of eacgate/generated (rpc.go and adapt.go there).
type Protocol struct {
	Namespace   string
	WSDL        string // file name in package wsdl
	NewRequest  func(local string) (req any, operation string, ok bool)
	NewResponse func(operation string) (resp any, ok bool)
	// Typed conversions between the generated types and msg.Message / msg.Answer.
	MessageFrom  func(req any) (msg.Message, bool)
	RequestFrom  func(m msg.Message) (req any, ok bool)
	AnswerFrom   func(resp any) (msg.Answer, bool)
	FillResponse func(resp any, a msg.Answer) bool
	// ReturnCodes and StatusInfoCodes are the XSD enumerations of each operation's return
	// code and of SendCertificates' statusInfo (see CodeFor).
	ReturnCodes     func(operation string) []authority.ReturnCode
	StatusInfoCodes func() []authority.ReturnCode
}

// The interfaces the gateway serves. The first protocol of each is the default (its WSDL is
// served at ?wsdl); older versions are accepted.
var (
	CVCAProtocols = []Protocol{
		{cvca11.Namespace, "cvca-1.1.wsdl", cvca11.NewRequest, cvca11.NewResponse,
			cvca11.MessageFrom, cvca11.RequestFrom, cvca11.AnswerFrom, cvca11.FillResponse, cvca11.ReturnCodes, cvca11.StatusInfoCodes},
		{cvca10.Namespace, "cvca-1.0.wsdl", cvca10.NewRequest, cvca10.NewResponse,
			cvca10.MessageFrom, cvca10.RequestFrom, cvca10.AnswerFrom, cvca10.FillResponse, cvca10.ReturnCodes, cvca10.StatusInfoCodes},
	}
	DVProtocols = []Protocol{
		{dv11.Namespace, "dv-1.1.wsdl", dv11.NewRequest, dv11.NewResponse,
			dv11.MessageFrom, dv11.RequestFrom, dv11.AnswerFrom, dv11.FillResponse, dv11.ReturnCodes, dv11.StatusInfoCodes},
		{dv10.Namespace, "dv-1.0.wsdl", dv10.NewRequest, dv10.NewResponse,
			dv10.MessageFrom, dv10.RequestFrom, dv10.AnswerFrom, dv10.FillResponse, dv10.ReturnCodes, dv10.StatusInfoCodes},
	}
	// SPOCProtocols is the SPOC-to-SPOC interface of CSN 36 9791 (document/literal).
	SPOCProtocols = []Protocol{{spoc.Namespace, wsdl.SPOC, spoc.NewRequest, spoc.NewResponse,
		spoc.MessageFrom, spoc.RequestFrom, spoc.AnswerFrom, spoc.FillResponse, spoc.ReturnCodes, spoc.StatusInfoCodes}}
)

// Service is a role answering one interface's messages.
type Service interface {
	Handle(ctx context.Context, caller msg.Caller, m msg.Message) msg.Answer
}

// Admitter is a Service that can tell from the transport alone (TLS client certificate,
// address) whether the caller may send requests at all. The endpoint asks before it reads
// the body and reads at most UnidentifiedMaxBody of a caller it does not admit, so that
// unknown callers cannot make the gateway buffer large bodies. Admit may return a context
// carrying what it looked up, for Handle to use.
type Admitter interface {
	Admit(ctx context.Context, c msg.Caller) (context.Context, bool)
}

// UnidentifiedMaxBody bounds the body of a caller a Service does not admit: enough for any
// request to be answered with its refusal code, far below DefaultMaxBody.
const UnidentifiedMaxBody = 16 << 10

// Endpoint is the http.Handler of one SOAP interface (/cvca, /dv).
type Endpoint struct {
	Protocols []Protocol
	Service   Service
	MaxBody   int64 // DefaultMaxBody when 0
	Logger    *slog.Logger
	// PublicURL is the address written into the served WSDL; derived from the request when
	// empty.
	PublicURL string
	// Name labels the endpoint in Metrics ("cvca", "dv"); Metrics may be nil.
	Name    string
	Metrics *Metrics
}

func (e *Endpoint) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

// ServeHTTP serves the WSDL on GET ?wsdl and SOAP requests on POST.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Has("wsdl"):
		e.serveWSDL(w, r)
	case r.Method == http.MethodPost:
		e.serveSOAP(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "POST a SOAP request, or GET ?wsdl", http.StatusMethodNotAllowed)
	}
}

func (e *Endpoint) serveWSDL(w http.ResponseWriter, r *http.Request) {
	url := e.PublicURL
	if url == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		url = scheme + "://" + r.Host + r.URL.Path
	}
	b, err := wsdl.Served(e.Protocols[0].WSDL, url)
	if err != nil {
		e.logger().Error("serve WSDL", "err", err)
		http.Error(w, "WSDL unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(b)
}

func (e *Endpoint) serveSOAP(w http.ResponseWriter, r *http.Request) {
	limit := e.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	soap12 := strings.Contains(r.Header.Get("Content-Type"), "application/soap+xml")
	caller := callerOf(r)
	ctx := r.Context()
	if a, ok := e.Service.(Admitter); ok {
		var admitted bool
		if ctx, admitted = a.Admit(ctx, caller); !admitted {
			limit = min(limit, UnidentifiedMaxBody)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			e.fault(w, soap12, true, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		e.fault(w, soap12, true, http.StatusBadRequest, "cannot read request body")
		return
	}
	env, err := ParseEnvelope(body)
	if err != nil {
		e.logger().Info("malformed SOAP request", "remote", r.RemoteAddr, "err", err)
		e.fault(w, soap12, true, http.StatusInternalServerError, err.Error())
		return
	}
	proto, ok := e.protocol(env.Operation.Space)
	if !ok {
		e.fault(w, env.SOAP12, true, http.StatusInternalServerError, "unknown namespace "+env.Operation.Space)
		return
	}
	req, op, ok := proto.NewRequest(env.Operation.Local)
	if !ok {
		e.fault(w, env.SOAP12, true, http.StatusInternalServerError, "unknown operation "+env.Operation.Local)
		return
	}
	var answer msg.Answer
	start := time.Now()
	defer func() {
		e.Metrics.Observe(e.Name, op, string(answer.ReturnCode), time.Since(start))
		msg.Note(r.Context(), slog.String("op", op), slog.String("code", string(answer.ReturnCode)))
	}()
	if err := env.DecodeOperation(req); err != nil {
		// A well-formed envelope whose content does not fit the schema (garbage base64, a
		// wrong enumeration value) gets the return code, not a fault.
		e.logger().Info("undecodable SOAP operation", "op", op, "remote", r.RemoteAddr, "err", err)
		answer = msg.Answer{ReturnCode: authority.FailureSyntax}
	} else {
		m, _ := proto.MessageFrom(req)
		m.Operation, m.Namespace = op, proto.Namespace
		answer = e.handle(ctx, caller, m)
	}
	// Only codes the peer's version has for this operation go on the wire (a client
	// generated from the v1.0 WSDL rejects a v1.1-only code).
	answer.ReturnCode = CodeFor(proto, op, answer.ReturnCode)
	resp, _ := proto.NewResponse(op)
	if !proto.FillResponse(resp, answer) {
		e.logger().Error("fill response", "op", op, "type", fmt.Sprintf("%T", resp))
		e.fault(w, env.SOAP12, false, http.StatusInternalServerError, "internal error")
		return
	}
	ct := "text/xml; charset=utf-8"
	if env.SOAP12 {
		ct = "application/soap+xml; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	if err := WriteEnvelope(w, env.SOAP12, resp); err != nil {
		e.logger().Error("write response", "op", op, "err", err)
	}
}

// handle calls the service; a panic becomes failure_internal_error, logged with its cause.
func (e *Endpoint) handle(ctx context.Context, c msg.Caller, m msg.Message) (a msg.Answer) {
	defer func() {
		if p := recover(); p != nil {
			e.logger().Error("panic in service", "op", m.Operation, "messageID", m.MessageID, "panic", p)
			a = msg.Answer{ReturnCode: authority.FailureInternalError}
		}
	}()
	return e.Service.Handle(ctx, c, m)
}

func (e *Endpoint) protocol(ns string) (Protocol, bool) {
	for _, p := range e.Protocols {
		if p.Namespace == ns {
			return p, true
		}
	}
	return Protocol{}, false
}

func (e *Endpoint) fault(w http.ResponseWriter, soap12, client bool, status int, reason string) {
	ct := "text/xml; charset=utf-8"
	if soap12 {
		ct = "application/soap+xml; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_ = WriteFault(w, soap12, client, reason)
}

func callerOf(r *http.Request) msg.Caller {
	c := msg.Caller{RemoteAddr: r.RemoteAddr}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		c.Certificate = r.TLS.PeerCertificates[0]
		sum := sha256.Sum256(c.Certificate.Raw)
		c.Fingerprint = hex.EncodeToString(sum[:])
	}
	return c
}
