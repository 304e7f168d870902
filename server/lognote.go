package server

import (
	"context"
	"log/slog"
	"sync"
)

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

// note adds attributes to the request's note and reports whether ctx carries one.
func note(ctx context.Context, attrs ...slog.Attr) bool {
	n, ok := ctx.Value(logNoteKey{}).(*LogNote)
	if !ok {
		return false
	}
	n.mu.Lock()
	n.attrs = append(n.attrs, attrs...)
	n.mu.Unlock()
	return true
}
