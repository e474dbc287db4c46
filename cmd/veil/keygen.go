package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"veil/stego"
)

var keygenCommand = command{
	name:    "keygen",
	summary: "write a new random master key (mode 0600)",
	run:     runKeygen,
}

func runKeygen(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("keygen", "-o KEYFILE", stderr)
	out := fl.String("o", "", "key file to write (required)")
	force := fl.Bool("force", false, "replace KEYFILE if it exists")
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, "keygen", err)
	}
	if *out == "" || fl.NArg() > 0 {
		return fail(stderr, "keygen", usagef("want -o KEYFILE and no arguments (see veil keygen -h)"))
	}
	key, err := stego.NewKey(nil)
	if err != nil {
		return fail(stderr, "keygen", err)
	}
	text, err := key.MarshalText()
	if err != nil {
		return fail(stderr, "keygen", err)
	}
	if err := writeKeyFile(*out, append(text, '\n'), *force); err != nil {
		return fail(stderr, "keygen", err)
	}
	fmt.Fprintf(stdout, "%s: key %s\n", *out, key.ID())
	return exitOK
}

// writeKeyFile creates path with mode 0600. A key is never overwritten by
// accident: losing one loses every image veiled with it.
func writeKeyFile(path string, data []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists; it may be the key of veiled images (use --force to replace it)", path)
	}
	if err != nil {
		return err
	}
	// The mode given to OpenFile applies only to a new file.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
