package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// newFlags returns a flag set for one subcommand that writes its help to
// stderr and does not exit on error.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("veil "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: veil %s %s\n\nflags (each also from VEIL_<NAME>, e.g. --key-file from VEIL_KEY_FILE):\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// envName maps a flag name to its environment variable: key-file → VEIL_KEY_FILE.
func envName(flagName string) string {
	return "VEIL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags applies VEIL_* environment variables to the flags not given on
// the command line, then parses args. Flags given on the command line win.
// It returns errHelp when -h was asked for, and a usage error otherwise.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageErr{err.Error()}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var bad error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || bad != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				bad = usagef("%s=%q: %v", envName(f.Name), v, err)
			}
		}
	})
	return bad
}

// errHelp is returned by parseFlags when the user asked for help.
var errHelp = errors.New("help requested")

// flagStatus turns the error of parseFlags into an exit status.
func flagStatus(stderr io.Writer, cmd string, err error) int {
	if errors.Is(err, errHelp) {
		return exitOK
	}
	return fail(stderr, cmd, err)
}
