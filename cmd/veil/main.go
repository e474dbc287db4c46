// Command veil is the one binary of the Veil image-sharing cloud: a cluster
// node, the tools to talk to a running cluster, the offline stego tools and
// the benchmark.
//
// Exit status: 0 on success, 1 with a one-line reason on stderr on failure,
// 2 on a usage error. Commands that deny access say so with their own status
// (see each command's help).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// A command is one subcommand of veil. run gets the arguments after the
// command's name and returns the process exit status.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands lists every subcommand, in the order help shows them.
var commands = []command{
	keygenCommand, capacityCommand, hideCommand, revealCommand,
	nodeCommand, membersCommand, handoffCommand, snapshotCommand, adminTokenCommand, benchCommand,
	registerCommand, putCommand, viewCommand, shareCommand, imagesCommand,
	peerCommand, onlineCommand, fetchCommand, tlsCommand, versionCommand,
}

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "veil: unknown command %q (run 'veil help' for the list)\n", args[0])
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: veil <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'veil <command> -h' for a command's flags. Every flag can also be set")
	fmt.Fprintln(w, "with a VEIL_* environment variable (VEIL_KEY_FILE for --key-file, ...).")
}

// fail prints a one-line reason for a failed command and returns its status.
func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "veil %s: %v\n", cmd, err)
	var u usageErr
	if errors.As(err, &u) {
		return exitUsage
	}
	return exitFailure
}

// usageErr marks an error in the way a command was called.
type usageErr struct{ msg string }

func (e usageErr) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageErr{fmt.Sprintf(format, a...)} }
