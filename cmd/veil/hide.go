package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"veil/cluster"

	"veil/stego"
)

var hideCommand = command{
	name:    "hide",
	summary: "seal a secret image with its viewers into a cover (offline)",
	run:     runHide,
}

func runHide(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("hide", "--key-file K --secret S --owner U [--viewers alice,bob] [--views N] [--cover C] -o OUT.png", stderr)
	keyFile := fl.String("key-file", "", "master key file (required)")
	secretFile := fl.String("secret", "", "secret image to hide: PNG, JPEG or GIF (required)")
	owner := fl.String("owner", "", "owner of the image (required)")
	viewers := fl.String("viewers", "", "who may view it: alice,bob or alice=3,bob=1 (name=views)")
	views := fl.Int("views", 1, "views for each viewer listed without =N")
	coverFile := fl.String("cover", "", "cover image (PNG, JPEG or GIF); none: one is generated")
	seed := fl.Uint64("seed", 0, "seed of the generated cover (0: random)")
	out := fl.String("o", "", "veiled PNG to write (required)")
	maxPixels := fl.Int("max-pixels", stego.DefaultMaxPixels, "refuse images with more pixels")
	stealth := fl.String("stealth", "", "compact, balanced or stealthy (default "+stego.DefaultLevel.String()+"; see veil capacity --secret)")
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return flagStatus(stderr, "hide", err)
	}
	level, err := stego.ParseLevel(*stealth)
	if err != nil {
		return fail(stderr, "hide", usagef("--stealth: %v", err))
	}
	if err := required(fl, "key-file", "secret", "owner", "o"); err != nil {
		return fail(stderr, "hide", err)
	}
	if len(pos) > 0 {
		return fail(stderr, "hide", usagef("unexpected argument %q", pos[0]))
	}
	who, err := parseViewers(*viewers, *views)
	if err != nil {
		return fail(stderr, "hide", err)
	}
	meta := stego.Meta{Owner: *owner, Viewers: who}
	if err := meta.Validate(); err != nil {
		return fail(stderr, "hide", usageErr{err.Error()})
	}
	key, err := stego.LoadKey(*keyFile)
	if err != nil {
		return fail(stderr, "hide", err)
	}
	secret, err := os.ReadFile(*secretFile)
	if err != nil {
		return fail(stderr, "hide", err)
	}
	var cover []byte
	if *coverFile != "" {
		if cover, err = os.ReadFile(*coverFile); err != nil {
			return fail(stderr, "hide", err)
		}
	}
	veiled, meta, err := stego.Hide(secret, meta, cover, key, stego.Options{MaxPixels: *maxPixels, CoverSeed: *seed, Level: level})
	if err != nil {
		return fail(stderr, "hide", err)
	}
	if err := os.WriteFile(*out, veiled, 0o644); err != nil {
		return fail(stderr, "hide", err)
	}
	return printMeta(stdout, stderr, "hide", meta)
}

// parseViewers reads "alice,bob" (each gets views) or "alice=3,bob=1",
// the syntax the cluster's API takes too.
func parseViewers(list string, views int) (map[string]int, error) {
	m, err := cluster.ParseViewers(list, views)
	if err != nil {
		return nil, usagef("--viewers: %v", err)
	}
	return m, nil
}

// required reports the first of the named flags left empty.
func required(fl *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if fl.Lookup(n).Value.String() == "" {
			dash := "--"
			if len(n) == 1 {
				dash = "-"
			}
			return usagef("%s%s is required (see veil %s -h)", dash, n, strings.TrimPrefix(fl.Name(), "veil "))
		}
	}
	return nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (veil reveal IN.png -o OUT), which the flag package
// alone stops at, and returns the positional arguments.
func parseInterspersed(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fl, args); err != nil {
			return nil, err
		}
		rest := fl.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" || !hasFlag(rest[1:]) {
			if rest[0] == "--" {
				rest = rest[1:]
			}
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func hasFlag(args []string) bool {
	for _, a := range args {
		if len(a) > 1 && a[0] == '-' {
			return true
		}
	}
	return false
}

// metaJSON is what hide and reveal print: the image's metadata.
type metaJSON struct {
	ID      string         `json:"id"`
	Owner   string         `json:"owner"`
	Viewers map[string]int `json:"viewers"`
	Created string         `json:"created"`
}

func printMeta(stdout, stderr io.Writer, cmd string, m stego.Meta) int {
	v := metaJSON{ID: m.ID.String(), Owner: m.Owner, Viewers: m.Viewers, Created: m.Created.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")}
	if v.Viewers == nil {
		v.Viewers = map[string]int{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fail(stderr, cmd, err)
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		return fail(stderr, cmd, err)
	}
	return exitOK
}
