package main

import (
	"fmt"
	"io"
	"os"

	"veil/stego"
)

var capacityCommand = command{
	name:    "capacity",
	summary: "print how many bytes of secret a cover image holds",
	run:     runCapacity,
}

func runCapacity(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("capacity", "[--key-file K] COVER", stderr)
	keyFile := fl.String("key-file", "", "master key file (optional: checked if given)")
	maxPixels := fl.Int("max-pixels", stego.DefaultMaxPixels, "refuse images with more pixels")
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return flagStatus(stderr, "capacity", err)
	}
	if len(pos) != 1 {
		return fail(stderr, "capacity", usagef("want one cover image, got %d arguments", len(pos)))
	}
	if *keyFile != "" {
		if _, err := stego.LoadKey(*keyFile); err != nil {
			return fail(stderr, "capacity", err)
		}
	}
	cover, err := os.ReadFile(pos[0])
	if err != nil {
		return fail(stderr, "capacity", err)
	}
	n, err := stego.Capacity(cover, stego.Options{MaxPixels: *maxPixels})
	if err != nil {
		return fail(stderr, "capacity", fmt.Errorf("%s: %w", pos[0], err))
	}
	fmt.Fprintf(stdout, "%d bytes of secret fit in %s\n", n, pos[0])
	return exitOK
}
