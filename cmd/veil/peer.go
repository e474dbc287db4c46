package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"veil/internal/version"

	"github.com/hashicorp/go-hclog"

	"veil/cluster"
	"veil/peer"
)

// The user's side of Phase 2: the peer, and the commands that go through it.

var (
	peerCommand   = command{name: "peer", summary: "run your peer: share images with other users' peers directly", run: runPeer}
	onlineCommand = command{name: "online", summary: "list the users online, through your peer or the cloud", run: runOnline}
	fetchCommand  = command{name: "fetch", summary: "fetch a veiled image from another user's peer into yours", run: runFetch}
)

func runPeer(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("peer", "--user U --listen HOST:PORT --local 127.0.0.1:PORT --data-dir DIR --api NODES  (password from VEIL_PASSWORD or --password-file)", stderr)
	uf := addUserFlags(fl)
	listen := fl.String("listen", "127.0.0.1:7500", "where other peers reach this one (host:port)")
	advertise := fl.String("advertise", "", "the address given to the cloud for other peers, when not --listen (a forwarded port)")
	local := fl.String("local", "127.0.0.1:7600", "the control API, for the veil command's --peer and the web app (loopback only)")
	dataDir := fl.String("data-dir", "", "the device key, the images and what the cloud last said (default veil-peer-USER)")
	policy := fl.String("policy", "refuse", "a request from a non-viewer: refuse (it learns nothing), or requests (queued for you to approve)")
	logLevel := fl.String("log-level", "info", "trace, debug, info, warn or error")
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, "peer", err)
	}
	if *uf.api == "" {
		return fail(stderr, "peer", usagef("%v", errNoAPI))
	}
	if *uf.user == "" {
		return fail(stderr, "peer", usagef("--user is required"))
	}
	pw, err := uf.password()
	if err != nil {
		return fail(stderr, "peer", err)
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		return fail(stderr, "peer", usagef("--log-level %q: want trace, debug, info, warn or error", *logLevel))
	}
	if *dataDir == "" {
		*dataDir = "veil-peer-" + *uf.user
	}
	tc, err := uf.tls.config()
	if err != nil {
		return fail(stderr, "peer", err)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "peer", Level: level, Output: stderr})
	log.Info("starting", "build", version.Get().String())
	p, err := peer.New(peer.Config{
		User: *uf.user, Password: pw, Listen: *listen, Advertise: *advertise, Local: *local,
		DataDir: *dataDir, API: strings.Split(*uf.api, ","), CloudTLS: tc, Policy: peer.Policy(*policy), Logger: log,
	})
	if err != nil {
		return fail(stderr, "peer", usagef("%v", err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := p.Run(ctx); err != nil {
		return fail(stderr, "peer", err)
	}
	return exitOK
}

// addPeerFlag adds --peer, the control API of the user's own peer.
func addPeerFlag(fl interface {
	String(name, value, usage string) *string
}) *string {
	return fl.String("peer", "", "go through your own peer at this control address (veil peer --local) instead of straight to the cloud")
}

// localClient connects to the user's own peer.
func (u userFlags) localClient(addr string) (*peer.LocalClient, error) {
	if *u.user == "" {
		return nil, usagef("--user is required")
	}
	pw, err := u.password()
	if err != nil {
		return nil, err
	}
	lc, err := peer.NewLocalClient(addr, *u.user, pw)
	if err != nil {
		return nil, usagef("--peer: %v", err)
	}
	return lc, nil
}

func runOnline(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("online", "(--peer LOCAL | --api NODES) --user U [-format table|json]", stderr)
	uf := addUserFlags(fl)
	peerAddr := addPeerFlag(fl)
	format := fl.String("format", "table", "output format: table or json")
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, "online", err)
	}
	if *format != "table" && *format != "json" {
		return fail(stderr, "online", usagef("-format %q: want table or json", *format))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *uf.timeout)
	defer cancel()
	var list []cluster.OnlineReply
	stale := false
	if *peerAddr != "" {
		lc, err := uf.localClient(*peerAddr)
		if err != nil {
			return fail(stderr, "online", err)
		}
		o, err := lc.Online(ctx)
		if err != nil {
			return fail(stderr, "online", err)
		}
		list, stale = o.Peers, o.Stale
		if stale {
			fmt.Fprintf(stderr, "veil online: the cloud does not answer; this is what it said at %s\n", o.Heard.Format(time.RFC3339))
		}
	} else {
		cl, err := uf.connect(ctx, false)
		if err != nil {
			return fail(stderr, "online", err)
		}
		if list, err = cl.Online(ctx); err != nil {
			return fail(stderr, "online", err)
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if list == nil {
			list = []cluster.OnlineReply{}
		}
		if err := enc.Encode(list); err != nil {
			return fail(stderr, "online", err)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "User\tDevice\tAddress\tOnline since")
	for _, o := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.User, o.Device, o.Address, o.Since.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return fail(stderr, "online", err)
	}
	return exitOK
}

func runFetch(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("fetch", "--peer LOCAL --user U --image ID [--from OWNER] [-o OUT.png]", stderr)
	uf := addUserFlags(fl)
	peerAddr := addPeerFlag(fl)
	id := fl.String("image", "", "the image id (required)")
	from := fl.String("from", "", "the user whose peer to fetch from first (default: the owner, then any holder)")
	out := fl.String("o", "", "also write the veiled PNG here")
	lease := fl.Int("lease", peer.LeaseAll, "views to lease for offline use after the fetch: -1 all you have left, 0 none")
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, "fetch", err)
	}
	if *lease < peer.LeaseAll {
		return fail(stderr, "fetch", usagef("--lease %d: want a number of views, 0 for none, or -1 for all", *lease))
	}
	if *peerAddr == "" || *id == "" {
		return fail(stderr, "fetch", usagef("--peer and --image are required: a fetch goes from peer to peer"))
	}
	lc, err := uf.localClient(*peerAddr)
	if err != nil {
		return fail(stderr, "fetch", err)
	}
	ctx := context.Background()
	res, err := lc.Fetch(ctx, *id, *from, *lease)
	if err != nil {
		return fail(stderr, "fetch", err)
	}
	if *out != "" {
		b, err := lc.Veiled(ctx, *id)
		if err != nil {
			return fail(stderr, "fetch", err)
		}
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return fail(stderr, "fetch", err)
		}
	}
	switch {
	case res.Already:
		fmt.Fprintf(stdout, "image %s: already held (%d bytes)\n", res.ID, res.Size)
	case res.Resumed > 0:
		fmt.Fprintf(stdout, "image %s: %d bytes from %s at %s, resumed at byte %d, in %s\n", res.ID, res.Size, res.Source, res.Address, res.Resumed, res.Duration)
	default:
		fmt.Fprintf(stdout, "image %s: %d bytes from %s at %s in %s\n", res.ID, res.Size, res.Source, res.Address, res.Duration)
	}
	switch {
	case res.Lease != nil:
		fmt.Fprintf(stdout, "leased %d views for offline use, until %s\n", res.Lease.Views, res.Lease.Expires.Format(time.RFC3339))
	case res.LeaseErr != "":
		fmt.Fprintf(stderr, "veil fetch: no views leased for offline use: %s\n", res.LeaseErr)
	}
	return exitOK
}

// viewThroughPeer is veil view --peer: the user's peer opens a held copy.
func viewThroughPeer(uf userFlags, addr, id, out string, stdout, stderr io.Writer) int {
	if id == "" {
		return fail(stderr, "view", usagef("--peer needs --image ID: the peer opens its own copy"))
	}
	lc, err := uf.localClient(addr)
	if err != nil {
		return fail(stderr, "view", err)
	}
	v, err := lc.View(context.Background(), id)
	var pe *peer.Error
	if errors.As(err, &pe) && pe.Status == 403 {
		if werr := os.WriteFile(out, peer.DeniedImage(), 0o644); werr != nil {
			return fail(stderr, "view", werr)
		}
		fmt.Fprintf(stderr, "veil view: access denied (%s): %s; wrote the placeholder image to %s\n", pe.Code, pe.Message, out)
		return exitDenied
	}
	if err != nil {
		return fail(stderr, "view", err)
	}
	if err := os.WriteFile(out, v.Secret, 0o644); err != nil {
		return fail(stderr, "view", err)
	}
	switch {
	case v.Offline && v.ByOwner:
		fmt.Fprintf(stdout, "%s: image %s (yours, from your peer's store; the cloud is away)\n", out, id)
	case v.Offline:
		fmt.Fprintf(stdout, "%s: image %s, a leased view; %d offline views left\n", out, id, v.ViewsLeft)
	case v.ByOwner:
		fmt.Fprintf(stdout, "%s: image %s (yours; no view spent)\n", out, id)
	default:
		fmt.Fprintf(stdout, "%s: image %s, %d views left\n", out, id, v.ViewsLeft)
	}
	return exitOK
}
