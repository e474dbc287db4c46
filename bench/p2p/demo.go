package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"veil/bench/local"
	"veil/cluster/client"
	"veil/peer"
)

// DemoConfig configures the narrated demo.
type DemoConfig struct {
	Bin  string // the veil binary
	Mode string // bully or raft; default bully
	Dir  string // keys, data and logs; default a temporary directory, removed
	Out  io.Writer
	Logf func(format string, args ...any)
}

// Demo runs Phase 2's use cases on a three-node cluster and three users'
// peers, saying what happens at each step and checking it: two users
// online, one shares, the other lists, fetches peer to peer, leasing views
// for offline use, and views; a non-viewer is refused; a viewer added later
// fetches from a relay with the owner offline and the whole cloud down; a
// viewer views offline until its lease is spent (the default image); an
// owner's change reaches a viewer who was offline. It returns an error as
// soon as a step does not do what it says.
func Demo(ctx context.Context, cfg DemoConfig) error {
	if cfg.Mode == "" {
		cfg.Mode = "bully"
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "veil-p2p-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	say := func(format string, a ...any) { fmt.Fprintf(cfg.Out, format+"\n", a...) }
	step := 0
	title := func(format string, a ...any) {
		step++
		say("\n%d. "+format, append([]any{step}, a...)...)
	}
	start := time.Now()
	c, err := local.Spawn(ctx, local.SpawnConfig{Bin: cfg.Bin, Nodes: 3, Mode: cfg.Mode, Dir: dir, KeepDir: cfg.Dir != "",
		Args: []string{"--peer-ttl", "5s"}, Logf: cfg.Logf})
	if err != nil {
		return err
	}
	defer c.Close()
	say("Phase 2: users' own peers share images directly; the cloud (3 %s nodes at %v) keeps the directory, vouches for devices and counts views.",
		cfg.Mode, c.APIs())
	users := []string{"alice", "bob", "carol"}
	if err := register(ctx, c.APIs(), users...); err != nil {
		return err
	}
	peers := map[string]*Peer{}
	for _, u := range users {
		p, err := StartPeer(ctx, cfg.Bin, dir, u, Password(u), c.APIs())
		if err != nil {
			return err
		}
		defer p.Stop()
		peers[u] = p
	}
	alice, bob, carol := peers["alice"].Client(), peers["bob"].Client(), peers["carol"].Client()

	title("alice, bob and carol start their peers (veil peer); each logs in and the cloud vouches for its device key.")
	o, err := bob.Online(ctx)
	if err != nil {
		return err
	}
	for _, p := range o.Peers {
		say("   online: %-6s device %s at %s", p.User, p.Device, p.Address)
	}
	if len(o.Peers) != 3 {
		return fmt.Errorf("demo: %d peers online, want 3", len(o.Peers))
	}

	title("alice puts a picture for bob, 2 views (veil put --peer): the cloud veils it; her peer keeps it and offers it.")
	secret := picture(1)
	veiled, id, err := alice.Put(ctx, secret, nil, map[string]int{"bob": 2})
	if err != nil {
		return err
	}
	say("   image %s: a %d-byte secret in a %d-byte veiled PNG", id, len(secret), len(veiled))

	title("bob asks his peer what he may see, and who holds it (the directory; every node answers the same).")
	if err := waitHolder(ctx, bob, id, "alice"); err != nil {
		return err
	}
	d, err := bob.Directory(ctx)
	if err != nil {
		return err
	}
	if len(d.Images) != 1 || d.Images[0].ID != id {
		return fmt.Errorf("demo: bob's directory lists %d images, want alice's", len(d.Images))
	}
	e := d.Images[0]
	say("   %s from %s: %d views left, held by %d peer(s) (%s's at %s)", e.ID, e.Owner, e.ViewsLeft, len(e.Holders), e.Holders[0].User, e.Holders[0].Address)

	title("bob fetches it straight from alice's peer (veil fetch), and leases his 2 views for offline use.")
	res, err := bob.Fetch(ctx, id, "alice", peer.LeaseAll)
	if err != nil {
		return err
	}
	if res.Lease == nil {
		return fmt.Errorf("demo: bob's fetch leased nothing: %s", res.LeaseErr)
	}
	say("   %d bytes from %s in %s over TLS between the two devices, checked against the cloud's digest;", res.Moved, res.Source, res.Duration)
	say("   no image byte went through the cloud. Leased: %d views until %s, the original sealed to bob's device key", res.Lease.Views, res.Lease.Expires.Format(time.RFC3339))

	title("bob views it (veil view --peer): one leased view spent; the count is sealed again into his copy.")
	v, err := bob.View(ctx, id)
	if err != nil {
		return err
	}
	if !bytes.Equal(v.Secret, secret) {
		return errors.New("demo: bob's view is not alice's picture")
	}
	say("   the original, byte for byte; %d view left", v.ViewsLeft)

	title("carol is not a viewer: the image is not in her directory, and alice's peer answers her as if it did not exist.")
	d, err = carol.Directory(ctx)
	if err != nil {
		return err
	}
	_, ferr := carol.Fetch(ctx, id, "alice", 0)
	var pe *peer.Error
	if len(d.Images) != 0 || !errors.As(ferr, &pe) || pe.Code != "unknown_image" {
		return fmt.Errorf("demo: carol sees %d images; her fetch: %v", len(d.Images), ferr)
	}
	say("   carol's directory: %d images; her fetch: %s", len(d.Images), pe.Code)

	title("alice shares the picture with carol too (veil share --peer), then stops her peer.")
	if _, _, err := alice.Share(ctx, id, map[string]int{"carol": 1}, nil); err != nil {
		return err
	}
	if err := peers["alice"].Stop(); err != nil {
		return err
	}
	// carol's peer hears of the grant, and of bob's copy, at its next
	// contact; ask now.
	if err := waitHolder(ctx, carol, id, "bob"); err != nil {
		return err
	}
	say("   alice is offline; bob still holds a copy")

	title("every cloud node is killed. carol fetches from bob, a relay: bob checks the ticket the cloud gave carol, no cloud needed.")
	for _, i := range c.Live() {
		if err := c.Kill(i); err != nil {
			return err
		}
	}
	if res, err = carol.Fetch(ctx, id, "", peer.LeaseAll); err != nil {
		return err
	}
	say("   %d bytes from %s in %s, with no cloud node up", res.Moved, res.Source, res.Duration)

	title("still no cloud: bob views offline, spending his lease, until his views are spent; carol, with no lease, waits for the cloud.")
	v, err = bob.View(ctx, id)
	if err != nil {
		return fmt.Errorf("demo: bob's offline view: %w", err)
	}
	if !bytes.Equal(v.Secret, secret) || !v.Offline {
		return errors.New("demo: bob's offline view is not the original")
	}
	say("   bob: the original, with no cloud node up; %d offline views left", v.ViewsLeft)
	_, verr := bob.View(ctx, id)
	if !errors.As(verr, &pe) || pe.Code != "no_views_left" {
		return fmt.Errorf("demo: bob's view past his lease: %v", verr)
	}
	say("   bob again: %s, so veil view writes the default image and exits 3", pe.Code)
	_, verr = carol.View(ctx, id)
	if !errors.As(verr, &pe) || pe.Code != "cloud_unreachable" {
		return fmt.Errorf("demo: carol's view with no cloud and no lease: %v", verr)
	}
	say("   carol: %s (her fetch could not lease with the cloud down)", pe.Code)

	title("bob stops his peer; the cloud comes back; alice gives bob 3 views in all (his 2 leased count in them).")
	if err := peers["bob"].Stop(); err != nil {
		return err
	}
	for i := range c.Len() {
		if err := c.Restart(ctx, i); err != nil {
			return err
		}
	}
	if err := peers["alice"].Start(ctx); err != nil {
		return err
	}
	if _, _, err := alice.Share(ctx, id, map[string]int{"bob": 3}, nil); err != nil {
		return err
	}
	say("   the change is committed at once; bob is offline")

	title("bob's peer starts: it reports the 2 views it spent offline, learns the change, and bob views once more.")
	if err := peers["bob"].Start(ctx); err != nil {
		return err
	}
	v, err = bob.View(ctx, id)
	if err != nil {
		return fmt.Errorf("demo: bob's view after the change: %w", err)
	}
	say("   the original, through the cloud; %d views left", v.ViewsLeft)
	say("\nPhase 2 demo done in %s.", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// waitHolder waits until c's directory lists user as a holder of image id.
func waitHolder(ctx context.Context, c *peer.LocalClient, id, user string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		d, err := c.Directory(ctx)
		if err == nil {
			for _, e := range d.Images {
				for _, h := range e.Holders {
					if e.ID == id && h.User == user {
						return nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("p2p: the directory does not list %s as holding %s: %w", user, id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Password is the password the harness gives a user.
func Password(user string) string { return "pw-" + user + "-veil" }

func register(ctx context.Context, api []string, users ...string) error {
	cl, err := client.New(client.Config{Nodes: api})
	if err != nil {
		return err
	}
	for _, u := range users {
		if err := cl.Register(ctx, u, Password(u)); err != nil {
			return fmt.Errorf("p2p: register %s: %w", u, err)
		}
	}
	return nil
}

// picture is a small PNG of noise, different for each seed.
func picture(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, 24, 24))
	for i := range img.Pix {
		img.Pix[i] = byte(r.IntN(256))
	}
	var b bytes.Buffer
	png.Encode(&b, img) // cannot fail in memory
	return b.Bytes()
}

// asPeerError is err as a peer's answer, or nil.
func asPeerError(err error) *peer.Error {
	var pe *peer.Error
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}
