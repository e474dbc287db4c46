package main

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"veil/cluster"
	"veil/stego"
)

var capacityCommand = command{
	name:    "capacity",
	summary: "print how many bytes of secret a cover holds, or what a secret costs at each stealth level",
	run:     runCapacity,
}

// What each level's images show the detectors of stego's tests, as
// docs/stego.md measures it on photographs and generated covers.
var detectability = map[stego.Level]string{
	stego.Compact:  "weighted stego flags it (AUC 1.00)",
	stego.Balanced: "no detector better than chance",
	stego.Stealthy: "no detector better than chance, twice the margin",
}

func runCapacity(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("capacity", "[--stealth LEVEL] [--key-file K] COVER | --secret FILE", stderr)
	keyFile := fl.String("key-file", "", "master key file (optional: checked if given)")
	maxPixels := fl.Int("max-pixels", stego.DefaultMaxPixels, "refuse images with more pixels")
	stealth := fl.String("stealth", "", "stealth level for a COVER: compact, balanced or stealthy (default "+stego.DefaultLevel.String()+")")
	secretFile := fl.String("secret", "", "veil this secret at every stealth level, here, and print what each costs")
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return flagStatus(stderr, "capacity", err)
	}
	level, err := stego.ParseLevel(*stealth)
	if err != nil {
		return fail(stderr, "capacity", usagef("--stealth: %v", err))
	}
	switch {
	case *secretFile != "" && len(pos) != 0:
		return fail(stderr, "capacity", usagef("--secret veils into generated covers: give no cover"))
	case *secretFile == "" && len(pos) != 1:
		return fail(stderr, "capacity", usagef("want one cover image, or --secret FILE; got %d arguments", len(pos)))
	}
	if *keyFile != "" {
		if _, err := stego.LoadKey(*keyFile); err != nil {
			return fail(stderr, "capacity", err)
		}
	}
	opts := stego.Options{MaxPixels: *maxPixels, Level: level}
	if *secretFile != "" {
		if err := secretCosts(stdout, *secretFile, opts); err != nil {
			return fail(stderr, "capacity", err)
		}
		return exitOK
	}
	cover, err := os.ReadFile(pos[0])
	if err != nil {
		return fail(stderr, "capacity", err)
	}
	n, err := stego.Capacity(cover, opts)
	if err != nil {
		return fail(stderr, "capacity", fmt.Errorf("%s: %w", pos[0], err))
	}
	fmt.Fprintf(stdout, "%d bytes of secret fit in %s at the %s level\n", n, pos[0], level)
	return exitOK
}

// secretCosts veils the secret at every level into a generated cover, with a
// throwaway key, and prints the veiled size, the cover and the time each
// took on this machine, then the largest secret a node takes at each level.
func secretCosts(w io.Writer, path string, opts stego.Options) error {
	secret, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(secret))
	if err != nil {
		return fmt.Errorf("%s: %w: not a PNG, JPEG or GIF image (%v)", path, stego.ErrUnsupportedImage, err)
	}
	key, err := stego.NewKey(nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %d bytes, %s %dx%d\n\n", path, len(secret), format, cfg.Width, cfg.Height)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "level\tveiled PNG\tx secret\tcover\thide here\tdetectors\t")
	node := cluster.DefaultConfig("n")
	for _, l := range stego.Levels {
		o := opts
		o.Level = l
		start := time.Now()
		veiled, _, err := stego.Hide(secret, stego.Meta{Owner: "you", Viewers: map[string]int{"them": 1}}, nil, key, o)
		took := time.Since(start)
		if errors.Is(err, stego.ErrPayloadTooLarge) {
			fmt.Fprintf(tw, "%s\t-\t-\ttoo large: at most %d bytes\t-\t%s\t\n", l, stego.MaxSecret(l, o), detectability[l])
			continue
		}
		if err != nil {
			return err
		}
		vc, _, _ := image.DecodeConfig(bytes.NewReader(veiled))
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%dx%d\t%.2fs\t%s\t\n", l, len(veiled), float64(len(veiled))/float64(len(secret)),
			vc.Width, vc.Height, took.Seconds(), detectability[l])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nthe largest secret a node takes (defaults):")
	for _, l := range stego.Levels {
		fmt.Fprintf(w, " %s %d bytes;", l, node.MaxSecret(l))
	}
	fmt.Fprintf(w, " the default level is %s\n", stego.DefaultLevel)
	return nil
}
