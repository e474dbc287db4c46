package faults

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"veil/bench/check"
	"veil/bench/load"
	"veil/cluster/client"
)

// The users of a workload: one owner puts images, each shared with every
// viewer.
const (
	owner    = "owner"
	password = "password of the fault suite"
)

var viewers = []string{"viewer-a", "viewer-b"}

// Workload is what the clients do while faults come and go.
type Workload struct {
	// Writers put images one after another. Default 2.
	Writers int
	// ClientsPerViewer view as each viewer, each on the newest image it
	// has not used up. Default 2: each image has at most four clients.
	ClientsPerViewer int
	// Quota is the views each viewer gets per image. Default 2.
	Quota int
	// OpTimeout bounds one operation, the client's retries included; an
	// operation that runs out of it has an unknown outcome. Default 5 s.
	OpTimeout time.Duration
	// Pause is the wait between two operations of a client. Default 20 ms.
	Pause time.Duration
}

func (w *Workload) setDefaults() {
	if w.Writers == 0 {
		w.Writers = 2
	}
	if w.ClientsPerViewer == 0 {
		w.ClientsPerViewer = 2
	}
	if w.Quota == 0 {
		w.Quota = 2
	}
	if w.OpTimeout == 0 {
		w.OpTimeout = 5 * time.Second
	}
	if w.Pause == 0 {
		w.Pause = 20 * time.Millisecond
	}
}

// answerKey carries, in a request's context, where to note what the
// cluster answered.
type answerKey struct{}

// answer is the last reply one operation got: the node that answered, and
// the coordinator and epoch it named.
type answer struct {
	mu          sync.Mutex
	node, coord string
	epoch       uint64
}

// settle stamps op with its return time and result and, when the answer
// was definite, with the node, coordinator and epoch it named.
func (a *answer) settle(op *check.Op, err error, rec *check.Recorder) {
	op.Return = rec.Now()
	op.Result, op.Err = classify(err)
	if op.Result != check.Unknown {
		a.mu.Lock()
		op.Node, op.Coordinator, op.Epoch = a.node, a.coord, a.epoch
		a.mu.Unlock()
	}
}

// recording is an HTTP transport that notes the headers of every reply
// into the answer of the operation that sent the request.
type recording struct{ base http.RoundTripper }

func (r recording) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if a, ok := req.Context().Value(answerKey{}).(*answer); ok {
		epoch, _ := strconv.ParseUint(resp.Header.Get("Veil-Epoch"), 10, 64)
		a.mu.Lock()
		a.node, a.coord, a.epoch = resp.Header.Get("Veil-Node"), resp.Header.Get("Veil-Coordinator"), epoch
		a.mu.Unlock()
	}
	return resp, nil
}

// acked is an image whose put was acknowledged, for the viewers.
type acked struct {
	id  string
	png []byte
}

// board is the list of acknowledged images, newest last.
type board struct {
	mu     sync.Mutex
	images []acked
}

func (b *board) add(a acked) {
	b.mu.Lock()
	b.images = append(b.images, a)
	b.mu.Unlock()
}

// newest returns the newest image after index from (-1: any), and its index.
func (b *board) newest(from int) (acked, int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.images); n > 0 && n-1 > from {
		return b.images[n-1], n - 1, true
	}
	return acked{}, from, false
}

// run drives the workload against the nodes until stop is closed; each
// client finishes its operation in flight first. Every operation goes
// into rec.
func (w Workload) run(stop <-chan struct{}, nodes []string, transport http.RoundTripper, rec *check.Recorder) error {
	w.setDefaults()
	hc := &http.Client{Transport: recording{transport}}
	newClient := func(user string) (*client.Client, error) {
		return client.New(client.Config{Nodes: nodes, Timeout: w.OpTimeout, HTTP: hc, User: user, Password: password})
	}
	var b board
	var wg sync.WaitGroup
	errs := make(chan error, w.Writers+len(viewers)*w.ClientsPerViewer)
	id := 0
	for range w.Writers {
		cl, err := newClient(owner)
		if err != nil {
			return err
		}
		me := id
		id++
		wg.Go(func() { errs <- w.write(stop, me, cl, rec, &b) })
	}
	for _, v := range viewers {
		for range w.ClientsPerViewer {
			cl, err := newClient(v)
			if err != nil {
				return err
			}
			me := id
			id++
			wg.Go(func() { errs <- w.view(stop, me, v, cl, rec, &b) })
		}
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

func stopped(stop <-chan struct{}, pause time.Duration) bool {
	select {
	case <-stop:
		return true
	case <-time.After(pause):
		return false
	}
}

// write puts images as the owner, each listing every viewer with the quota
// and a tag that only it lists.
func (w Workload) write(stop <-chan struct{}, me int, cl *client.Client, rec *check.Recorder, b *board) error {
	quota := map[string]int{}
	for _, v := range viewers {
		quota[v] = w.Quota
	}
	for n := 1; !stopped(stop, w.Pause); n++ {
		tag := check.Tag(me, n)
		if !registerTag(cl, tag) {
			continue // a fault got in the way: no put this round
		}
		list := map[string]int{tag: 1}
		for v, q := range quota {
			list[v] = q
		}
		var a answer
		ctx := context.WithValue(context.Background(), answerKey{}, &a)
		op := check.Op{Client: me, Kind: check.Put, Tag: tag, Quota: quota, Call: rec.Now()}
		res, err := cl.Put(ctx, load.TinyPNG(), nil, list)
		a.settle(&op, err, rec)
		if err == nil {
			op.Image = res.ImageID
			if op.Image == "" {
				return fmt.Errorf("client %d: an acknowledged put named no image", me)
			}
			b.add(acked{id: res.ImageID, png: res.PNG})
		}
		rec.Add(op)
	}
	return nil
}

// registerTag registers a put's tag as a user, outside the history: a put
// may list only registered users. It reports whether the tag exists.
func registerTag(cl *client.Client, tag string) bool {
	err := cl.Register(context.Background(), tag, password)
	var apiErr *client.Error
	return err == nil || errors.As(err, &apiErr) && apiErr.Code == "user_exists"
}

// view views, as one viewer, the newest image it has not used up, until
// it is denied; then it waits for a newer one.
func (w Workload) view(stop <-chan struct{}, me int, viewer string, cl *client.Client, rec *check.Recorder, b *board) error {
	cur, at, have := acked{}, -1, false
	for !stopped(stop, w.Pause) {
		if !have {
			if cur, at, have = b.newest(at); !have {
				continue
			}
		}
		var a answer
		ctx := context.WithValue(context.Background(), answerKey{}, &a)
		op := check.Op{Client: me, Kind: check.View, Image: cur.id, Viewer: viewer,
			Quota: map[string]int{viewer: w.Quota}, Call: rec.Now()}
		res, err := cl.View(ctx, cur.png)
		a.settle(&op, err, rec)
		if err == nil {
			op.ViewsLeft = res.ViewsLeft
			if res.ImageID != cur.id {
				return fmt.Errorf("client %d: viewing image %s showed image %s", me, cur.id, res.ImageID)
			}
		}
		rec.Add(op)
		if op.Result == check.Denied || op.Result == check.Failed {
			have = false // used up: on to a newer image
		}
	}
	return nil
}

// classify turns what the client library returned into a result. Only an
// answer that says nothing was done is a failure; everything else the
// cluster could still have applied is unknown.
func classify(err error) (check.Result, string) {
	if err == nil {
		return check.OK, ""
	}
	var apiErr *client.Error
	if errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500 {
		switch apiErr.Code {
		case "no_views_left":
			return check.Denied, ""
		case "stale_epoch":
			return check.Unknown, err.Error()
		}
		return check.Failed, err.Error()
	}
	return check.Unknown, err.Error()
}

// register makes the owner and the viewers, accepting ones that exist.
func register(ctx context.Context, nodes []string, transport http.RoundTripper) error {
	cl, err := client.New(client.Config{Nodes: nodes, Timeout: 20 * time.Second, HTTP: &http.Client{Transport: transport}})
	if err != nil {
		return err
	}
	for _, u := range append([]string{owner}, viewers...) {
		err := cl.Register(ctx, u, password)
		var apiErr *client.Error
		if err != nil && !(errors.As(err, &apiErr) && apiErr.Code == "user_exists") {
			return fmt.Errorf("faults: registering %s: %w", u, err)
		}
	}
	return nil
}

// final reads the owner's images from the cluster once the faults are
// over.
func final(ctx context.Context, nodes []string, transport http.RoundTripper) ([]check.Image, error) {
	cl, err := client.New(client.Config{Nodes: nodes, Timeout: 30 * time.Second, HTTP: &http.Client{Transport: transport},
		User: owner, Password: password})
	if err != nil {
		return nil, err
	}
	images, err := cl.Images(ctx)
	if err != nil {
		return nil, fmt.Errorf("faults: reading the registry after the faults: %w", err)
	}
	out := make([]check.Image, len(images))
	for i, img := range images {
		out[i] = check.Image{ID: img.ID, Viewers: img.Viewers}
	}
	return out, nil
}
