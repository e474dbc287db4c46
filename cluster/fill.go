package cluster

// The registry filled for measurement: POST /v1/admin/fill proposes
// synthetic registrations and puts on the coordinator through the path
// every write takes (commit: the coordinator's checks, then Bully mode's
// group commit or raft.Apply), many at once so that they share the log's
// appends as concurrent clients' writes do. A put through the API hides an
// image first, far too slow to reach a million; veil bench --registry
// fills a cluster this way and then measures it over the ordinary routes.
//
// A node serves the route only when it was started with the opt-in, the
// environment variable FillEnv set to 1, and only to the admin token:
// anywhere else the route does not exist.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"veil/cluster/registry"
)

// FillEnv is the environment variable that opts a node in to POST
// /v1/admin/fill when it is "1".
const FillEnv = "VEIL_ALLOW_FILL"

// MaxFillCommands bounds the registrations and puts of one fill call, so
// that a call ends well within the request timeout.
const MaxFillCommands = 50_000

// fillInFlight is how many of a call's commands wait to commit at once:
// enough for the log's appends to carry hundreds of entries each. Three
// Bully nodes on 2 cores take 4,600 commands a second with 256 in flight,
// 10,800 with 1,024 and 11,700 with 4,096 (Raft mode 8,500 with 1,024).
const fillInFlight = 1024

// fillViewerOffsets place an image's viewers after its owner among the
// users, as the registry's scale benchmark does: distinct, and never the
// owner while there are more users than the largest offset.
var fillViewerOffsets = [MaxFillViewers]int{1, 7, 31}

// MaxFillViewers is the most viewers a synthetic image has.
const MaxFillViewers = 3

// FillRequest is the body of POST /v1/admin/fill. The synthetic registry
// is fixed by Users, Viewers, Views and Seed: user i is FillUser(i), with
// PasswordHash; image i is owned by user i mod Users and shared with
// Viewers users at fixed offsets after its owner, Views views each; its id
// and digest derive from Seed and i. A call registers the users
// [UserFrom, UserTo), then puts the images [ImageFrom, ImageTo), so users
// come in calls before the images that name them. Those already there
// are counted and left alone: a call may be repeated.
type FillRequest struct {
	Users        int    `json:"users"`
	UserFrom     int    `json:"user_from"`
	UserTo       int    `json:"user_to"`
	ImageFrom    int    `json:"image_from"`
	ImageTo      int    `json:"image_to"`
	Viewers      int    `json:"viewers"`
	Views        int    `json:"views"`
	PasswordHash string `json:"password_hash,omitempty"`
	Seed         uint64 `json:"seed"`
	// CollectGarbage runs a garbage collection on the coordinator once the
	// call's commands are in, and has the reply say the heap then: the
	// figure /metrics gives right after.
	CollectGarbage bool `json:"collect_garbage,omitempty"`
}

// FillReply is what a fill call did.
type FillReply struct {
	Node        string `json:"node"` // the coordinator that proposed the commands
	Registered  int    `json:"registered"`
	Put         int    `json:"put"`
	Existing    int    `json:"existing"` // users and images that were there already
	CommitIndex uint64 `json:"commit_index"`
	TookMS      int64  `json:"took_ms"`
	// HeapBytes is the Go heap in use after the collection, when asked for.
	HeapBytes uint64 `json:"heap_bytes,omitempty"`
}

// FillUser is the name of synthetic user i.
func FillUser(i int) string { return fmt.Sprintf("user%07d", i) }

// Validate states what a fill call may ask.
func (f FillRequest) Validate() error {
	users, images := f.UserTo-f.UserFrom, f.ImageTo-f.ImageFrom
	switch {
	case f.Users < 1 || f.Users > 10_000_000:
		return badRequest("fill: users %d: want 1 to 10,000,000", f.Users)
	case f.UserFrom < 0 || users < 0 || f.UserTo > f.Users:
		return badRequest("fill: users [%d, %d): want a range within [0, %d)", f.UserFrom, f.UserTo, f.Users)
	case f.ImageFrom < 0 || images < 0:
		return badRequest("fill: images [%d, %d): want a range from 0 up", f.ImageFrom, f.ImageTo)
	case users+images > MaxFillCommands:
		return badRequest("fill: %d users and %d images in one call; at most %d commands a call", users, images, MaxFillCommands)
	case f.Viewers < 0 || f.Viewers > MaxFillViewers:
		return badRequest("fill: viewers %d: want 0 to %d an image", f.Viewers, MaxFillViewers)
	case f.Viewers > 0 && f.Users <= fillViewerOffsets[f.Viewers-1]:
		return badRequest("fill: %d viewers an image need more than %d users", f.Viewers, fillViewerOffsets[f.Viewers-1])
	case f.Viewers > 0 && (f.Views < 1 || f.Views > registry.MaxViews):
		return badRequest("fill: views %d: want 1 to %d a viewer", f.Views, registry.MaxViews)
	case users > 0 && f.PasswordHash == "":
		return badRequest("fill: registering users needs password_hash (registry.HashPassword)")
	}
	return nil
}

// user is the registration of synthetic user i.
func (f FillRequest) user(i int) registry.RegisterUser {
	return registry.RegisterUser{Name: FillUser(i), PasswordHash: f.PasswordHash}
}

// image is the put of synthetic image i, stamped created.
func (f FillRequest) image(i int, created time.Time) registry.PutImage {
	var seed [16]byte
	binary.BigEndian.PutUint64(seed[:8], f.Seed)
	binary.BigEndian.PutUint64(seed[8:], uint64(i))
	h := sha256.Sum256(seed[:])
	digest := sha256.Sum256(h[:])
	owner := i % f.Users
	viewers := make(map[string]int, f.Viewers)
	for _, off := range fillViewerOffsets[:f.Viewers] {
		viewers[FillUser((owner+off)%f.Users)] = f.Views
	}
	return registry.PutImage{ID: hex.EncodeToString(h[:16]), Owner: FillUser(owner), Viewers: viewers,
		Created: created, Digest: digest[:]}
}

// fillAllowed reports whether this process was started with the opt-in.
func fillAllowed() bool { return os.Getenv(FillEnv) == "1" }

// handleAdminFill is POST /v1/admin/fill with the admin token, on a node
// started with the opt-in; any node takes it to the coordinator.
func (n *Node) handleAdminFill(w http.ResponseWriter, r *http.Request) error {
	if !fillAllowed() {
		return fmt.Errorf("%w: no route %s %s: this node was not started with %s=1, which fills its registry with synthetic users and images for measurement",
			errNotFound, r.Method, r.URL.Path, FillEnv)
	}
	if err := n.adminOnly(r); err != nil {
		return err
	}
	_, body, err := n.admit(w, r, false)
	if err != nil {
		return err
	}
	var f FillRequest
	if err := decodeStrict(body, &f); err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return err
	}
	return n.atCoordinator(w, r, body, func() *outcome {
		rep, err := n.fill(r.Context(), f)
		if err != nil {
			return errorOutcome(err)
		}
		return jsonOutcome(http.StatusOK, rep)
	})
}

// fill proposes the call's registrations, then its puts, fillInFlight at a
// time, and stops at the first refusal other than "already there".
func (n *Node) fill(ctx context.Context, f FillRequest) (FillReply, error) {
	start := time.Now()
	rep := FillReply{Node: n.cfg.Name}
	var registered, put, existing atomic.Int64
	created := start.UTC()
	steps := []struct {
		from, to int
		cmd      func(i int) registry.Command
		done     *atomic.Int64
		exists   error
	}{
		{f.UserFrom, f.UserTo, func(i int) registry.Command { return f.user(i) }, &registered, registry.ErrUserExists},
		{f.ImageFrom, f.ImageTo, func(i int) registry.Command { return f.image(i, created) }, &put, registry.ErrImageExists},
	}
	for _, s := range steps {
		err := n.commitEach(ctx, s.from, s.to, func(ctx context.Context, i int) error {
			_, err := n.commit(ctx, s.cmd(i))
			switch {
			case err == nil:
				s.done.Add(1)
			case errors.Is(err, s.exists):
				existing.Add(1)
			default:
				return err
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	rep.Registered, rep.Put, rep.Existing = int(registered.Load()), int(put.Load()), int(existing.Load())
	rep.CommitIndex = n.repl.commitIndex()
	if f.CollectGarbage {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		rep.HeapBytes = m.HeapAlloc
	}
	rep.TookMS = time.Since(start).Milliseconds()
	return rep, nil
}

// commitEach runs do for every i in [from, to), fillInFlight at once, and
// returns the first error, after which it starts no more.
func (n *Node) commitEach(ctx context.Context, from, to int, do func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range min(fillInFlight, max(to-from, 0)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				if err := do(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}
