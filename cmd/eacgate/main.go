// Command eacgate is the EAC PKI gateway: SOAP endpoints for the CVCA, DV and SPOC roles,
// and the operator tools around them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// cli is what every sub-command gets: its arguments and the process's standard streams.
type cli struct {
	args   []string
	stdout io.Writer
	stderr io.Writer
	// session: the operator token and two-person policy of this run (proposal.go).
	session *session
}

// command is one top-level sub-command ("cvc", "key", ...). run returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, c cli) int
}

func commands() map[string]command {
	return map[string]command{
		"cvc":         {"print, verify and request CV certificates", runCVC},
		"key":         {"generate and list signing keys (software keystore or PKCS#11)", runKey},
		"audit":       {"verify, export and list the keyed audit log; its checkpoint key", runAudit},
		"serve":       {"run the gateway (embedded defaults without configuration)", runServe},
		"holder":      {"register, list, suspend, reinstate and revoke DVs and terminals", runHolder},
		"init":        {"create the CVCA or the DV (keys in the software keystore or PKCS#11)", runInit},
		"cvca":        {"roll the CVCA over to a new key (link certificate)", runCVCA},
		"ceremony":    {"print the key ceremony record of a CVCA certificate (for partners' registration forms)", runCeremony},
		"outbox":      {"list callback deliveries, retry dead-lettered ones", runOutbox},
		"request":     {"list, approve and reject requests held for approval", runRequest},
		"spoc":        {"send notifications to partner SPOCs; list the general messages sent and received", runSPOC},
		"partner":     {"register, suspend and reinstate partner countries and their DVs (TR-03139)", runPartner},
		"trust":       {"add and list other countries' CVCA certificates (a DV whose SPOC is another gateway)", runTrust},
		"operator":    {"register, list, disable, rotate and remove operators of the admin REST API (bearer token or TLS certificate)", runOperator},
		"apiclient":   {"register, list, disable, rotate and remove clients of the emCA-compatible suspend/reinstate/revoke endpoints", runAPIClient},
		"certificate": {"list, show and export the stored CV certificates", runCertificate},
		"version":     {"print the build: version, VCS revision, Go version", runVersion},
		"proposal":    {"list, show, approve, withdraw and reject proposals of critical tasks (two-person principle)", runProposal},
		"backup":      {"copy the database and software keystore to an archive while the gateway serves", runBackup},
		"restore":     {"restore a backup archive into a new data directory", runRestore},
	}
}

// subcommands are the commands' sub-commands (a command not listed has none): the
// dispatch of the store commands and the help test walk them.
func subcommands() map[string][]string {
	return map[string][]string{
		"cvc":         {"print", "verify", "request"},
		"key":         {"generate", "list"},
		"audit":       {"verify", "export", "key", "list"},
		"holder":      {"add", "list", "show", "suspend", "reinstate", "revoke", "countries", "rights"},
		"init":        {"cvca", "dv"},
		"cvca":        {"rollover"},
		"outbox":      {"list", "retry"},
		"request":     {"list", "approve", "reject"},
		"spoc":        {"messages", "notify"},
		"partner":     {"add", "list", "show", "suspend", "reinstate", "dv"},
		"trust":       {"add", "list"},
		"operator":    {"add", "list", "disable", "rotate", "remove"},
		"apiclient":   {"add", "list", "disable", "rotate", "remove"},
		"certificate": {"list", "show", "export"},
		"proposal":    {"list", "show", "approve", "withdraw", "reject"},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: eacgate COMMAND [ARGS]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'eacgate COMMAND -h' or 'eacgate COMMAND SUBCOMMAND -h' for their own help;")
	fmt.Fprintln(w, "'eacgate --version' prints the build.")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		args = append([]string{"version"}, args[1:]...)
	}
	if len(args) >= 2 && args[0] == "help" { // eacgate help COMMAND [SUBCOMMAND]
		args = append(args[1:], "-h")
	}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if isHelp(args[0]) {
		usage(stdout)
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "eacgate: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return cmd.run(ctx, cli{args: args[1:], stdout: stdout, stderr: stderr, session: &session{}})
}
