package hsm

import "log/slog"

// Read returns the secret for callers outside this package (a bearer token configured as a
// Secret, say). what names it in errors; log, when set, warns of a file open to others.
func (s Secret) Read(what string, log *slog.Logger) ([]byte, error) { return s.read(what, log) }
