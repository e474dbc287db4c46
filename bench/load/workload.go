package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/png"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"time"

	"veil/bench/proc"
	"veil/cluster"
	"veil/cluster/client"
	"veil/stego"
)

// OpKind is what an operation does.
type OpKind string

const (
	OpPut  OpKind = "put"
	OpView OpKind = "view"
)

// Outcome is what a client knows of an operation when it ends.
type Outcome string

const (
	// OutcomeOK: acknowledged. It happened, exactly once.
	OutcomeOK Outcome = "ok"
	// OutcomeFailed: refused with a final answer (4xx). It did not happen.
	OutcomeFailed Outcome = "failed"
	// OutcomeUnknown: no final answer (timeouts, 503 after every retry).
	// It may have happened once, or not at all.
	OutcomeUnknown Outcome = "unknown"
	// OutcomeShed: the cluster was overloaded and said so (429 with
	// Retry-After). It did not happen; it is not an error of the cluster
	// but its answer to more load than it can carry.
	OutcomeShed Outcome = "shed"
)

// Op is one operation as the client saw it. Times are offsets from the
// start of the run.
type Op struct {
	Worker  int           `json:"worker"`
	Kind    OpKind        `json:"kind"`
	Due     time.Duration `json:"due"` // when it was due: latency counts from here
	Start   time.Duration `json:"start"`
	End     time.Duration `json:"end"`
	Outcome Outcome       `json:"outcome"`
	Err     string        `json:"error,omitempty"` // the error's kind
	// Image is the image put (as acknowledged) or viewed; Viewer and Quota
	// are who may view a put's image and how many times.
	Image       string `json:"image,omitempty"`
	Viewer      string `json:"viewer,omitempty"`
	Quota       int    `json:"quota,omitempty"`
	Node        string `json:"node,omitempty"` // the node that did the image work: a put's hide, a view's reveal
	Coordinator string `json:"coordinator,omitempty"`
	Attempts    int    `json:"attempts,omitempty"`
	// Bytes is the size of the secret an acknowledged put sent or an
	// acknowledged view got back, when it was the secret put.
	Bytes int `json:"bytes,omitempty"`
	// WrongSecret marks an acknowledged view whose bytes are not the
	// secret its image was put with: the cloud counted a view and gave
	// the viewer something else.
	WrongSecret bool `json:"wrong_secret,omitempty"`
}

// Latency is from when the operation was due to its answer.
func (o Op) Latency() time.Duration { return o.End - o.Due }

// Workload is a mix of puts and views by real users of the cluster: one
// owner puts images, each for one of Viewers viewers with Quota views;
// viewers view the images put for them, never more than their quota.
type Workload struct {
	Pace
	// Nodes are the API addresses the clients know (required).
	Nodes []string
	// ViewShare is the share of operations that are views, 0 to 1, as far
	// as there are views left to spend. Default 0.5; negative means none.
	ViewShare float64
	// Quota is the views each put gives its viewer. Default 3.
	Quota int
	// Viewers is the number of viewer users. Default 4.
	Viewers int
	// Secrets are the files put (PNG, JPEG or GIF), each put the next of
	// them, from where the worker's seed starts it. Default: one 8x8 PNG.
	Secrets [][]byte
	// Cover is the cover sent with every put; nil lets the cluster make
	// one.
	Cover []byte
	// Stealth is the stealth level every put asks for ("compact",
	// "balanced", "stealthy"); "" leaves it to the cluster's default.
	Stealth string
	Route   client.Route
	// NoRetry sends each operation once, as a plain HTTP client does: what
	// the cloud's own churn costs such a client shows as failures.
	NoRetry bool
	// Timeout bounds one operation, retries included. Default 30 s.
	Timeout time.Duration
	// Seed drives the choices of every worker (worker w uses Seed+w).
	Seed uint64
	// Users is the prefix of the users' names; default a fresh random one,
	// so that the registry's images of this run are only this run's.
	Users string
	HTTP  *http.Client
}

func (w *Workload) SetDefaults() {
	if w.Workers < 1 {
		w.Workers = 1
	}
	if w.ViewShare == 0 {
		w.ViewShare = 0.5
	}
	if w.ViewShare < 0 {
		w.ViewShare = 0
	}
	if w.Quota <= 0 {
		w.Quota = 3
	}
	if w.Viewers <= 0 {
		w.Viewers = 4
	}
	if len(w.Secrets) == 0 {
		w.Secrets = [][]byte{tinyPNG()}
	}
	if w.Timeout <= 0 {
		w.Timeout = 30 * time.Second
	}
	if w.Users == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		w.Users = "b" + hex.EncodeToString(b[:])
	}
	if w.HTTP == nil {
		w.HTTP = NewHTTPClient()
	}
}

// Owner and Viewer name the workload's users.
func (w *Workload) Owner() string       { return w.Users }
func (w *Workload) Viewer(k int) string { return fmt.Sprintf("%s-v%d", w.Users, k+1) }

// userPassword is every bench user's password: they are throwaway users.
func userPassword(name string) string { return "password of " + name }

// Prepared is a workload ready to run: its users exist and are logged in.
type Prepared struct {
	w       Workload
	owner   *client.Client
	viewers []*client.Client
}

// Prepare registers the owner and the viewers and logs each in once; all
// workers share those clients.
func Prepare(ctx context.Context, w Workload) (*Prepared, error) {
	w.SetDefaults()
	if len(w.Nodes) == 0 {
		return nil, errors.New("bench: a workload needs the API address of at least one node")
	}
	r := &Prepared{w: w}
	mk := func(name string) (*client.Client, error) {
		// An open loop counts what the cluster sheds; a closed-loop
		// client waits as it is told and tries again.
		cl, err := client.New(client.Config{Nodes: w.Nodes, Route: w.Route, Timeout: w.Timeout, HTTP: w.HTTP,
			User: name, Password: userPassword(name), ShedIsFinal: w.Rate > 0, NoRetry: w.NoRetry})
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		err = cl.Register(ctx, name, userPassword(name))
		var apiErr *client.Error
		if err != nil && !(errors.As(err, &apiErr) && apiErr.Code == "user_exists") {
			return nil, fmt.Errorf("bench: registering %s: %w", name, err)
		}
		if _, err := cl.Login(ctx, name, userPassword(name)); err != nil {
			return nil, fmt.Errorf("bench: logging in %s: %w", name, err)
		}
		return cl, nil
	}
	var err error
	if r.owner, err = mk(w.Owner()); err != nil {
		return nil, err
	}
	for k := range w.Viewers {
		cl, err := mk(w.Viewer(k))
		if err != nil {
			return nil, err
		}
		r.viewers = append(r.viewers, cl)
	}
	return r, nil
}

// viewable is an acknowledged image a worker may still view.
type viewable struct {
	id     string
	png    []byte
	secret int // the index of the secret it was put with
	viewer int
	left   int // views the worker will still ask for
}

// maxViewable bounds the veiled images a worker keeps for later views, and
// maxViewableBytes their bytes over all workers: a photograph of 2 MB
// veils to 30 MB at the balanced level and to 60 at the stealthy one.
const (
	maxViewable      = 8
	maxViewableBytes = 512 << 20
)

// Worker returns worker k's operation: a view of one of its images when
// the dice say so and views are left, a put otherwise.
func (r *Prepared) Worker(k int, start time.Time) OpFunc {
	rng := mrand.New(mrand.NewPCG(r.w.Seed, uint64(k)))
	viewer := k % len(r.viewers)
	next := 0
	if n := len(r.w.Secrets); n > 1 {
		// Only then: with one secret, a seed's puts and views stay those
		// it gave before there could be several.
		next = rng.IntN(n)
	}
	// A worker keeps at least the image it put last, however large.
	budget := maxViewableBytes / max(r.w.Workers, 1)
	var pool []viewable
	pooled := 0
	return func(ctx context.Context, due time.Time) Op {
		if len(pool) > 0 && rng.Float64() < r.w.ViewShare {
			i := rng.IntN(len(pool))
			v := &pool[i]
			op := Op{Kind: OpView, Due: due.Sub(start), Image: v.id, Viewer: r.w.Viewer(v.viewer)}
			op.Start = time.Since(start)
			res, err := r.viewers[v.viewer].View(ctx, v.png)
			op.End = time.Since(start)
			op.Outcome, op.Err = classify(err)
			if err == nil {
				op.Node = res.Worker
				if bytes.Equal(res.Secret, r.w.Secrets[v.secret]) {
					op.Bytes = len(res.Secret)
				} else {
					op.WrongSecret = true
				}
			}
			if v.left--; v.left <= 0 || op.Outcome != OutcomeOK {
				// Once an outcome is unknown the views left are too: the
				// worker stops viewing the image rather than be refused.
				// slices.Delete clears the slot it frees: no veiled image
				// stays alive behind the pool's length.
				pooled -= len(v.png)
				pool = slices.Delete(pool, i, i+1)
			}
			return op
		}
		secret := next
		next = (next + 1) % len(r.w.Secrets)
		op := Op{Kind: OpPut, Due: due.Sub(start), Viewer: r.w.Viewer(viewer), Quota: r.w.Quota}
		op.Start = time.Since(start)
		res, err := r.owner.Hide(ctx, client.HideRequest{Secret: r.w.Secrets[secret], Cover: r.w.Cover,
			Viewers: map[string]int{op.Viewer: r.w.Quota}, Stealth: r.w.Stealth})
		op.End = time.Since(start)
		op.Outcome, op.Err = classify(err)
		if err == nil {
			op.Image, op.Node, op.Coordinator, op.Attempts = res.ImageID, res.Worker, res.Coordinator, res.Attempts
			op.Bytes = len(r.w.Secrets[secret])
			if r.w.ViewShare > 0 {
				for len(pool) > 0 && (len(pool) == maxViewable || pooled+len(res.PNG) > budget) {
					pooled -= len(pool[0].png)
					pool = slices.Delete(pool, 0, 1)
				}
				pool = append(pool, viewable{id: res.ImageID, png: res.PNG, secret: secret, viewer: viewer, left: r.w.Quota})
				pooled += len(res.PNG)
			}
		}
		return op
	}
}

// classify says what a client knows after an error: a final answer (4xx)
// means the operation did not happen; anything else leaves it unknown.
func classify(err error) (Outcome, string) {
	if err == nil {
		return OutcomeOK, ""
	}
	var apiErr *client.Error
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests {
		if apiErr.Attempts > 1 {
			// Shed on a retry: the attempt before may have been carried out.
			return OutcomeUnknown, errorKey(err)
		}
		return OutcomeShed, errorKey(err)
	}
	if errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500 {
		return OutcomeFailed, errorKey(err)
	}
	return OutcomeUnknown, errorKey(err)
}

// NoisePNG is a w×h PNG of seeded noise: a secret that does not compress,
// so that its size in bytes is about 3·w·h.
func NoisePNG(w, h int, seed uint64) ([]byte, error) {
	rng := mrand.New(mrand.NewPCG(seed, 1))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		v := rng.Uint32()
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(v), uint8(v>>8), uint8(v>>16), 255
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("bench: encoding a secret: %w", err)
	}
	return b.Bytes(), nil
}

// CoverPNG is a generated w×h cover, as the cluster would make one.
func CoverPNG(w, h int, seed uint64) ([]byte, error) {
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&b, stego.GenerateCover(w, h, seed)); err != nil {
		return nil, fmt.Errorf("bench: encoding a cover: %w", err)
	}
	return b.Bytes(), nil
}

// Images reads the owner's images from the coordinator (so that a
// follower's lag cannot show an old registry).
func (r *Prepared) Images(ctx context.Context, hc *http.Client, apis []string) ([]cluster.ImageReply, error) {
	nodes := apis
	for _, api := range apis {
		var r cluster.CoordinatorReply
		if proc.GetJSON(ctx, hc, api, "/v1/coordinator", &r) == nil && r.API != "" {
			nodes = []string{proc.Rebase(api, r.API)}
			break
		}
	}
	cl, err := client.New(client.Config{Nodes: nodes, HTTP: hc, Timeout: time.Minute,
		User: r.w.Owner(), Password: userPassword(r.w.Owner())})
	if err != nil {
		return nil, err
	}
	return cl.Images(ctx)
}
