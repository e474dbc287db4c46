package main

import (
	"fmt"
	"io"
	"os"

	"veil/stego"
)

var revealCommand = command{
	name:    "reveal",
	summary: "get the secret image and its metadata out of a veiled PNG (offline)",
	run:     runReveal,
}

// runReveal is the operator's offline tool: with the master key it opens
// any image veiled with it, and does not count views (the cloud's view path
// does that).
func runReveal(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("reveal", "--key-file K -o OUT IN.png", stderr)
	keyFile := fl.String("key-file", "", "master key file (required)")
	out := fl.String("o", "", "file to write the secret image to (required)")
	maxPixels := fl.Int("max-pixels", stego.DefaultMaxPixels, "refuse images with more pixels")
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return flagStatus(stderr, "reveal", err)
	}
	if err := required(fl, "key-file", "o"); err != nil {
		return fail(stderr, "reveal", err)
	}
	if len(pos) != 1 {
		return fail(stderr, "reveal", usagef("want one veiled image, got %d arguments", len(pos)))
	}
	key, err := stego.LoadKey(*keyFile)
	if err != nil {
		return fail(stderr, "reveal", err)
	}
	veiled, err := os.ReadFile(pos[0])
	if err != nil {
		return fail(stderr, "reveal", err)
	}
	secret, meta, err := stego.Reveal(veiled, key, stego.Options{MaxPixels: *maxPixels})
	if err != nil {
		return fail(stderr, "reveal", fmt.Errorf("%s: %w", pos[0], err))
	}
	// The secret is someone's private picture: readable by the operator only.
	if err := os.WriteFile(*out, secret, 0o600); err != nil {
		return fail(stderr, "reveal", err)
	}
	return printMeta(stdout, stderr, "reveal", meta)
}
