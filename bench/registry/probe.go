package registry

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"veil/cluster"
	"veil/cluster/api"
)

// session is a synthetic user logged in, with an image of its own and a
// viewer of it for the writes.
type session struct {
	user, token   string
	image, viewer string
}

// login logs in n users drawn at random from the registry's, and finds
// for each an image it owns and a viewer of it.
func login(ctx context.Context, hc *http.Client, node, password string, users, n int, rng *rand.Rand) ([]session, error) {
	picked := map[int]bool{}
	var out []session
	for len(out) < min(n, users) {
		i := rng.IntN(users)
		if picked[i] {
			continue
		}
		picked[i] = true
		s := session{user: cluster.FillUser(i)}
		var lr api.LoginReply
		if _, err := call(ctx, hc, http.MethodPost, node, "/v1/login", "", map[string]string{"name": s.user, "password": password}, &lr); err != nil {
			return nil, fmt.Errorf("login as %s: %w", s.user, err)
		}
		s.token = lr.Token
		var imgs []api.ImageReply
		if _, err := call(ctx, hc, http.MethodGet, node, "/v1/images", s.token, nil, &imgs); err != nil {
			return nil, fmt.Errorf("the images of %s: %w", s.user, err)
		}
		for _, img := range imgs {
			if len(img.Viewers) > 0 {
				s.image = img.ID
				s.viewer = slices.Sorted(maps.Keys(img.Viewers))[0]
				break
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// readSamples are the timed reads, and the entries each list held on
// average.
type readSamples struct {
	Directory, Images               []time.Duration
	DirectoryEntries, ImagesEntries float64
	Failed                          int
	FirstError                      string
}

// reads times GET /v1/directory and GET /v1/images, n of each in turn,
// each as a session drawn at random, sent once with no retry.
func reads(ctx context.Context, hc *http.Client, node string, ss []session, n int, rng *rand.Rand) readSamples {
	var r readSamples
	var dirEntries, imgEntries int
	fail := func(err error) {
		r.Failed++
		if r.FirstError == "" {
			r.FirstError = err.Error()
		}
	}
	for range n {
		if ctx.Err() != nil {
			break
		}
		s := ss[rng.IntN(len(ss))]
		var dir api.DirectoryReply
		if d, err := call(ctx, hc, http.MethodGet, node, "/v1/directory", s.token, nil, &dir); err != nil {
			fail(err)
		} else {
			r.Directory = append(r.Directory, d)
			dirEntries += len(dir.Images)
		}
		s = ss[rng.IntN(len(ss))]
		var imgs []api.ImageReply
		if d, err := call(ctx, hc, http.MethodGet, node, "/v1/images", s.token, nil, &imgs); err != nil {
			fail(err)
		} else {
			r.Images = append(r.Images, d)
			imgEntries += len(imgs)
		}
	}
	if len(r.Directory) > 0 {
		r.DirectoryEntries = float64(dirEntries) / float64(len(r.Directory))
	}
	if len(r.Images) > 0 {
		r.ImagesEntries = float64(imgEntries) / float64(len(r.Images))
	}
	return r
}

// write is one timed write.
type write struct {
	Start, End time.Time
	Err        error
}

// writer sends cheap writes one after another: the owner of an image sets
// the views of one of its viewers (PATCH /v1/images/{id}), a change the
// registry commits through the log like a view, with no image work.
type writer struct {
	hc    *http.Client
	node  string
	ss    []session
	views int
	rng   *rand.Rand
	k     int
}

func (w *writer) one(ctx context.Context) write {
	var s session
	for range len(w.ss) {
		if s = w.ss[w.rng.IntN(len(w.ss))]; s.image != "" {
			break
		}
	}
	w.k++
	views := w.views - w.k%2 // changes every time
	start := time.Now()
	_, err := call(ctx, w.hc, http.MethodPatch, w.node, "/v1/images/"+s.image, s.token,
		map[string]any{"set": map[string]int{s.viewer: views}}, nil)
	return write{Start: start, End: time.Now(), Err: err}
}
