package main

import (
	"encoding/json"
	"fmt"
	"io"

	"veil/internal/version"
)

var versionCommand = command{
	name:    "version",
	summary: "print the build: module version, source revision, Go toolchain",
	run: func(args []string, stdout, stderr io.Writer) int {
		fl := newFlags("version", "[-format text|json]", stderr)
		format := fl.String("format", "text", "text, or json for the fields one by one")
		if err := parseFlags(fl, args); err != nil {
			return flagStatus(stderr, "version", err)
		}
		in := version.Get()
		switch *format {
		case "text":
			fmt.Fprintln(stdout, in)
		case "json":
			b, _ := json.MarshalIndent(in, "", "  ") // a struct of strings and a bool
			fmt.Fprintln(stdout, string(b))
		default:
			return fail(stderr, "version", usagef("-format %q: want text or json", *format))
		}
		return exitOK
	},
}
