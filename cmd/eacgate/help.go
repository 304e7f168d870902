package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"eacgate/store"
)

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// commandHelp answers a command called without a sub-command (usage on stderr, exit 2) or
// with -h (usage on stdout, exit 0). handled false: the caller goes on with c.args[0].
func commandHelp(c cli, usage string) (code int, handled bool) {
	switch {
	case len(c.args) == 0:
		fmt.Fprint(c.stderr, usage)
		return 2, true
	case isHelp(c.args[0]):
		fmt.Fprint(c.stdout, usage)
		return 0, true
	}
	return 0, false
}

// unknownSub reports a sub-command the command does not have (exit 2).
func unknownSub(c cli, cmd, usage string) int {
	fmt.Fprintf(c.stderr, "eacgate %s: unknown sub-command %q\n\n%s", cmd, c.args[0], usage)
	return 2
}

// newFlagSet is a (sub-)command's flag set whose usage is the text followed by the flags.
func newFlagSet(c cli, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(fs.Output(), "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args. done true: the caller returns code, 0 after -h (the usage went
// to stdout), 2 after a bad flag (the error and the usage went to stderr).
func parseFlags(c cli, fs *flag.FlagSet, args []string) (code int, done bool) {
	// The flag package prints the usage itself before returning ErrHelp; collect it and
	// send it where it belongs.
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(c.stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = c.stdout.Write(buf.Bytes())
		return 0, true
	case err != nil:
		_, _ = c.stderr.Write(buf.Bytes())
		return 2, true
	}
	return 0, false
}

// errText is an error as an operator is shown it: the database's own text of a
// constraint violation (tables, columns, driver codes) is replaced by what it means.
func errText(err error) string {
	if !store.IsConstraintViolation(err) {
		return err.Error()
	}
	op, _, _ := strings.Cut(err.Error(), ": conflict")
	return strings.TrimPrefix(op, "store: ") + ": conflicts with an existing record"
}

const versionUsage = `usage: eacgate version   (or eacgate --version)

Prints the build: module version, VCS revision and time, whether the working tree was
modified, and the Go version.
`

func runVersion(_ context.Context, c cli) int {
	if len(c.args) > 0 {
		if isHelp(c.args[0]) {
			fmt.Fprint(c.stdout, versionUsage)
			return 0
		}
		fmt.Fprint(c.stderr, versionUsage)
		return 2
	}
	printVersion(c.stdout)
	return 0
}

// printVersion prints what the binary knows of its build (debug.ReadBuildInfo).
func printVersion(w io.Writer) {
	bi, _ := debug.ReadBuildInfo()
	writeVersion(w, bi)
}

// writeVersion prints the build information bi (nil: none).
func writeVersion(w io.Writer, bi *debug.BuildInfo) {
	version, settings := "(unknown)", map[string]string{}
	goVersion := runtime.Version()
	if bi != nil {
		version, goVersion = bi.Main.Version, bi.GoVersion
		if version == "" {
			version = "(devel)"
		}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
	}
	fmt.Fprintf(w, "eacgate %s\n", version)
	if settings["vcs.revision"] == "" {
		fmt.Fprintln(w, "  revision: not recorded (built outside a git checkout or with -buildvcs=false)")
	} else {
		fmt.Fprintf(w, "  revision: %s\n", settings["vcs.revision"])
		fmt.Fprintf(w, "  time:     %s\n", settings["vcs.time"])
		fmt.Fprintf(w, "  modified: %s\n", settings["vcs.modified"])
	}
	fmt.Fprintf(w, "  go:       %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
}
