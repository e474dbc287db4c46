package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"veil/cluster"
	"veil/cluster/client"
	"veil/peer"
	"veil/stego"
)

// The cloud's image commands: they talk to a running cluster as a user.
// The password comes from VEIL_PASSWORD or --password-file, never from a
// flag (flags show in process listings and shell history).

// exitDenied is the status of a view the cluster refused.
const exitDenied = 3

var (
	registerCommand = command{name: "register", summary: "create a user on a cluster", run: runRegister}
	putCommand      = command{name: "put", summary: "veil an image through the cluster for chosen viewers", run: runPut}
	viewCommand     = command{name: "view", summary: "see the original of a veiled image, spending one view", run: runView}
	shareCommand    = command{name: "share", summary: "change who may see one of your images", run: runShare}
	imagesCommand   = command{name: "images", summary: "list your images, or those shared with you", run: runImages}
)

// userFlags are the flags every user command has.
type userFlags struct {
	api, user, passwordFile *string
	timeout                 *time.Duration
	tls                     cloudTLS
}

func addUserFlags(fl *flag.FlagSet) userFlags {
	return userFlags{
		api:          fl.String("api", "", "API address of any node (comma separated for several)"),
		user:         fl.String("user", "", "user name"),
		passwordFile: fl.String("password-file", "", "file holding the password (default: $VEIL_PASSWORD)"),
		timeout:      fl.Duration("timeout", 30*time.Second, "give up after this long, retries included"),
		tls:          addCloudTLSFlags(fl),
	}
}

func (u userFlags) password() (string, error) {
	if *u.passwordFile != "" {
		b, err := os.ReadFile(*u.passwordFile)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if p, ok := os.LookupEnv("VEIL_PASSWORD"); ok {
		return p, nil
	}
	return "", usagef("no password: set VEIL_PASSWORD or give --password-file")
}

// connect checks the common flags, makes a client and, unless register is
// true, logs in.
func (u userFlags) connect(ctx context.Context, register bool) (*client.Client, error) {
	if *u.api == "" {
		return nil, usagef("%v", errNoAPI)
	}
	if *u.user == "" {
		return nil, usagef("--user is required")
	}
	pw, err := u.password()
	if err != nil {
		return nil, err
	}
	tc, err := u.tls.config()
	if err != nil {
		return nil, err
	}
	cl, err := client.New(client.Config{Nodes: strings.Split(*u.api, ","), Timeout: *u.timeout, TLS: tc})
	if err != nil {
		return nil, usagef("%v", err)
	}
	if register {
		if err := cl.Register(ctx, *u.user, pw); err != nil {
			return nil, err
		}
	}
	if _, err := cl.Login(ctx, *u.user, pw); err != nil {
		return nil, err
	}
	return cl, nil
}

func runRegister(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("register", "--api URL --user U  (password from VEIL_PASSWORD or --password-file)", stderr)
	uf := addUserFlags(fl)
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, "register", err)
	}
	if _, err := uf.connect(context.Background(), true); err != nil {
		return fail(stderr, "register", err)
	}
	fmt.Fprintf(stdout, "registered %s\n", *uf.user)
	return exitOK
}

func runPut(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("put", "(--api URL | --peer LOCAL) --user U --secret S [--viewers bob=2,carol] [--views N] [--cover C] [--stealth LEVEL] [-q] -o OUT.png", stderr)
	uf := addUserFlags(fl)
	peerAddr := addPeerFlag(fl)
	secretPath := fl.String("secret", "", "the image to veil: PNG, JPEG or GIF (required)")
	coverPath := fl.String("cover", "", "cover image (default: one is generated)")
	viewers := fl.String("viewers", "", "who may view it: bob,carol or bob=3,carol=1 (name=views)")
	views := fl.Int("views", 1, "views for each viewer listed without =N")
	out := fl.String("o", "", "where to write the veiled PNG (required)")
	quiet := fl.Bool("q", false, "print only the image id (for scripts: ID=$(veil put -q ...))")
	stealth := fl.String("stealth", "", "compact, balanced or stealthy: the veiled PNG's size against how hard it is to detect (default: the cluster's, "+stego.DefaultLevel.String()+"; see veil capacity --secret)")
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, "put", err)
	}
	if _, err := stego.ParseLevel(*stealth); err != nil {
		return fail(stderr, "put", usagef("--stealth: %v", err))
	}
	if *secretPath == "" || *out == "" {
		return fail(stderr, "put", usagef("--secret and -o are required"))
	}
	who, err := parseViewers(*viewers, *views)
	if err != nil {
		return fail(stderr, "put", err)
	}
	secret, err := os.ReadFile(*secretPath)
	if err != nil {
		return fail(stderr, "put", err)
	}
	var cover []byte
	if *coverPath != "" {
		if cover, err = os.ReadFile(*coverPath); err != nil {
			return fail(stderr, "put", err)
		}
	}
	ctx := context.Background()
	if *peerAddr != "" {
		lc, err := uf.localClient(*peerAddr)
		if err != nil {
			return fail(stderr, "put", err)
		}
		png, id, err := lc.Hide(ctx, client.HideRequest{Secret: secret, Cover: cover, Viewers: who, Stealth: *stealth})
		if err != nil {
			return fail(stderr, "put", err)
		}
		if err := os.WriteFile(*out, png, 0o644); err != nil {
			return fail(stderr, "put", err)
		}
		if *quiet {
			fmt.Fprintln(stdout, id)
		} else {
			fmt.Fprintf(stdout, "%s: image %s, kept and offered by your peer\n", *out, id)
		}
		return exitOK
	}
	cl, err := uf.connect(ctx, false)
	if err != nil {
		return fail(stderr, "put", err)
	}
	res, err := cl.Hide(ctx, client.HideRequest{Secret: secret, Cover: cover, Viewers: who, Stealth: *stealth})
	if err != nil {
		return fail(stderr, "put", err)
	}
	if err := os.WriteFile(*out, res.PNG, 0o644); err != nil {
		return fail(stderr, "put", err)
	}
	if *quiet {
		fmt.Fprintln(stdout, res.ImageID)
	} else {
		fmt.Fprintf(stdout, "%s: image %s, made by %s (coordinator %s, epoch %d)\n", *out, res.ImageID, res.Worker, res.Coordinator, res.Epoch)
	}
	return exitOK
}

func runView(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("view", "--api URL --user U -o OUT IN.png  |  --peer LOCAL --user U --image ID -o OUT", stderr)
	uf := addUserFlags(fl)
	out := fl.String("o", "", "where to write the original (required); on a denial, a placeholder image")
	peerAddr := addPeerFlag(fl)
	id := fl.String("image", "", "with --peer: the id of an image your peer holds")
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, "view", err)
	}
	if *peerAddr != "" {
		if *out == "" || fl.NArg() != 0 {
			return fail(stderr, "view", usagef("with --peer: want -o OUT and --image ID, no file"))
		}
		return viewThroughPeer(uf, *peerAddr, *id, *out, stdout, stderr)
	}
	if *out == "" || fl.NArg() != 1 {
		return fail(stderr, "view", usagef("want -o OUT and one veiled PNG"))
	}
	veiled, err := os.ReadFile(fl.Arg(0))
	if err != nil {
		return fail(stderr, "view", err)
	}
	ctx := context.Background()
	cl, err := uf.connect(ctx, false)
	if err != nil {
		return fail(stderr, "view", err)
	}
	res, err := cl.View(ctx, veiled)
	var apiErr *client.Error
	if errors.As(err, &apiErr) && (apiErr.Status == 403 || apiErr.Code == "unknown_image") {
		if werr := os.WriteFile(*out, peer.DeniedImage(), 0o644); werr != nil {
			return fail(stderr, "view", werr)
		}
		fmt.Fprintf(stderr, "veil view: access denied (%s): %s; wrote the placeholder image to %s\n", apiErr.Code, apiErr.Message, *out)
		return exitDenied
	}
	if err != nil {
		return fail(stderr, "view", err)
	}
	if err := os.WriteFile(*out, res.Secret, 0o644); err != nil {
		return fail(stderr, "view", err)
	}
	if res.ByOwner {
		fmt.Fprintf(stdout, "%s: image %s (yours; no view spent)\n", *out, res.ImageID)
	} else {
		fmt.Fprintf(stdout, "%s: image %s, %d views left\n", *out, res.ImageID, res.ViewsLeft)
	}
	return exitOK
}

func runShare(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("share", "(--api URL | --peer LOCAL) --user U --image ID [--viewers bob=3,carol] [--views N] [--remove dave,erin]", stderr)
	uf := addUserFlags(fl)
	peerAddr := addPeerFlag(fl)
	id := fl.String("image", "", "the image id (required)")
	viewers := fl.String("viewers", "", "viewers to add or set: bob=3,carol (name=views left)")
	views := fl.Int("views", 1, "views for each viewer listed without =N")
	remove := fl.String("remove", "", "viewers to remove, comma separated")
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, "share", err)
	}
	if *id == "" {
		return fail(stderr, "share", usagef("--image is required"))
	}
	set, err := parseViewers(*viewers, *views)
	if err != nil {
		return fail(stderr, "share", err)
	}
	var drop []string
	if *remove != "" {
		drop = strings.Split(*remove, ",")
	}
	if len(set) == 0 && len(drop) == 0 {
		return fail(stderr, "share", usagef("nothing to change: give --viewers or --remove"))
	}
	ctx := context.Background()
	var img cluster.ImageReply
	if *peerAddr != "" {
		lc, err := uf.localClient(*peerAddr)
		if err != nil {
			return fail(stderr, "share", err)
		}
		var queued *peer.Queued
		img, queued, err = lc.Share(ctx, *id, set, drop)
		if err != nil {
			return fail(stderr, "share", err)
		}
		if queued != nil {
			fmt.Fprintf(stdout, "the cloud is away: your peer queued the change (%d waiting); it goes when the cloud is back\n", queued.Position)
			return exitOK
		}
	} else {
		cl, err := uf.connect(ctx, false)
		if err != nil {
			return fail(stderr, "share", err)
		}
		if img, err = cl.Share(ctx, *id, set, drop); err != nil {
			return fail(stderr, "share", err)
		}
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(img); err != nil {
		return fail(stderr, "share", err)
	}
	return exitOK
}

func runImages(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("images", "--api URL --user U [--shared] [-format table|json]", stderr)
	uf := addUserFlags(fl)
	shared := fl.Bool("shared", false, "list the images shared with you instead of your own")
	format := fl.String("format", "table", "output format: table or json")
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, "images", err)
	}
	if *format != "table" && *format != "json" {
		return fail(stderr, "images", usagef("-format %q: want table or json", *format))
	}
	ctx := context.Background()
	cl, err := uf.connect(ctx, false)
	if err != nil {
		return fail(stderr, "images", err)
	}
	var rows any
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if *shared {
		list, err := cl.Shared(ctx)
		if err != nil {
			return fail(stderr, "images", err)
		}
		rows = list
		fmt.Fprintln(tw, "ID\tOwner\tViews left\tCreated")
		for _, s := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.ID, s.Owner, s.ViewsLeft, s.Created.Format(time.RFC3339))
		}
	} else {
		list, err := cl.Images(ctx)
		if err != nil {
			return fail(stderr, "images", err)
		}
		rows = list
		fmt.Fprintln(tw, "ID\tViewers (views left)\tVersion\tCreated")
		for _, img := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", img.ID, formatViewerMap(img.Viewers), img.Version, img.Created.Format(time.RFC3339))
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return fail(stderr, "images", err)
		}
		return exitOK
	}
	if err := tw.Flush(); err != nil {
		return fail(stderr, "images", err)
	}
	return exitOK
}

func formatViewerMap(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for name, n := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", name, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
