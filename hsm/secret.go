package hsm

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
)

// Secret says where a PIN or passphrase comes from: an environment variable or a file (its
// content without the trailing newline). Value is for programs that hold the secret already;
// configuration files and the command line use Env or File, so the secret never shows up in
// a process listing or a log.
type Secret struct {
	// Env is the name of an environment variable holding the secret.
	Env string `yaml:"env,omitempty" json:"env,omitempty"`
	// File is a file holding the secret. A file readable by group or others is used but
	// logged as a warning.
	File string `yaml:"file,omitempty" json:"file,omitempty"`
	// Value is the secret itself. It is never marshalled or logged.
	Value []byte `yaml:"-" json:"-"`
}

// LogValue keeps the secret out of logs: only where it comes from is shown.
func (s Secret) LogValue() slog.Value {
	switch {
	case s.Value != nil:
		return slog.StringValue("(given)")
	case s.Env != "":
		return slog.StringValue("env:" + s.Env)
	case s.File != "":
		return slog.StringValue("file:" + s.File)
	}
	return slog.StringValue("(none)")
}

// String is LogValue's text, so that %v never prints the secret.
func (s Secret) String() string { return s.LogValue().String() }

// IsZero reports whether no source is configured.
func (s Secret) IsZero() bool { return s.Value == nil && s.Env == "" && s.File == "" }

// read returns the secret. what names it in errors ("PIN", "passphrase").
func (s Secret) read(what string, log *slog.Logger) ([]byte, error) {
	n := 0
	for _, set := range []bool{s.Value != nil, s.Env != "", s.File != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, fmt.Errorf("%w: no %s configured (set an environment variable or a file)", ErrLogin, what)
	case n > 1:
		return nil, fmt.Errorf("%w: %s configured from more than one source", ErrLogin, what)
	case s.Value != nil:
		return bytes.Clone(s.Value), nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return nil, fmt.Errorf("%w: %s environment variable %s is not set", ErrLogin, what, s.Env)
		}
		return []byte(v), nil
	}
	fi, err := os.Stat(s.File)
	if err != nil {
		return nil, fmt.Errorf("%w: %s file: %w", ErrLogin, what, err)
	}
	if fi.Mode().Perm()&0o077 != 0 && log != nil {
		log.Warn("secret file is readable by group or others", "what", what, "file", s.File,
			"mode", fi.Mode().Perm().String())
	}
	b, err := os.ReadFile(s.File)
	if err != nil {
		return nil, fmt.Errorf("%w: %s file: %w", ErrLogin, what, err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: %s file %s is empty", ErrLogin, what, s.File)
	}
	return b, nil
}
