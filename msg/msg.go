// Package msg holds a TR-03129 / CSN 36 9791 message and its answer with the SOAP version
// taken out, and the caller as the transport identified it: the vocabulary server/ decodes
// into and the registration authority, SPOC and callback roles work with.
package msg

import (
	"context"
	"crypto/x509"
	"log/slog"
	"sync"

	"eacgate/authority"
)

// Message is a TR-03129 request with the protocol version taken out: the generated types of
// v1.0 and v1.1 (and of the CVCA and DV interfaces) have the same shape in different
// namespaces, and the roles should not care which one a peer spoke.
type Message struct {
	Operation        string // "RequestCertificate", "GetCACertificates", ...
	Namespace        string // the protocol (SOAP namespace) the message came in
	CallerID         string // CSN 36 9791: the calling SPOC's country
	Subject, Body    string // CSN 36 9791 GeneralMessage
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

// Caller is the peer of a request as the transport identifies it.
type Caller struct {
	// Certificate is the verified TLS client certificate (nil on plain HTTP, which is only
	// for local demos), and Fingerprint its hex SHA-256: the key holders are registered by.
	Certificate *x509.Certificate
	Fingerprint string
	RemoteAddr  string
}

// A LogNote collects what the SOAP layer learned about one request (operation, messageID,
// caller, return code, the certificate issued) for the access log's line of that request, so
// that a request is one log line with its outcome.
type LogNote struct {
	mu    sync.Mutex
	attrs []slog.Attr
}

type logNoteKey struct{}

// WithLogNote returns ctx carrying a new, empty note.
func WithLogNote(ctx context.Context) (context.Context, *LogNote) {
	n := &LogNote{}
	return context.WithValue(ctx, logNoteKey{}, n), n
}

// Attrs returns the attributes noted so far.
func (n *LogNote) Attrs() []slog.Attr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]slog.Attr(nil), n.attrs...)
}

// Note adds attributes to the request's note and reports whether ctx carries one.
func Note(ctx context.Context, attrs ...slog.Attr) bool {
	n, ok := ctx.Value(logNoteKey{}).(*LogNote)
	if !ok {
		return false
	}
	n.mu.Lock()
	n.attrs = append(n.attrs, attrs...)
	n.mu.Unlock()
	return true
}
