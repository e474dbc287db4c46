package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"veil/cluster"
)

// fillChunk is the registrations or puts of one fill call: a second or
// two of the coordinator's work, far within a request's deadline.
const fillChunk = 20_000

// fillRetries bounds the calls of one chunk that a node refuses for the
// moment (503: no coordinator, unknown outcome). A chunk may be sent
// again: what is there already is counted, not applied twice.
const fillRetries = 10

// filler drives POST /v1/admin/fill of one cluster.
type filler struct {
	hc    *http.Client
	api   string // the node the calls go to; it passes them to the coordinator
	token string // the admin token
	base  cluster.FillRequest

	retries int // calls sent again after a 503
}

// send makes one fill call, again while the cluster answers 503.
func (f *filler) send(ctx context.Context, req cluster.FillRequest) (cluster.FillReply, error) {
	var rep cluster.FillReply
	var err error
	for attempt := 1; attempt <= fillRetries; attempt++ {
		rep = cluster.FillReply{}
		_, err = call(ctx, f.hc, http.MethodPost, f.api, "/v1/admin/fill", f.token, req, &rep)
		var se *statusError
		if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable {
			break
		}
		f.retries++
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if err != nil {
		return rep, fmt.Errorf("fill: %w", err)
	}
	return rep, nil
}

// fillStats is what filling a registry took.
type fillStats struct {
	Took     time.Duration
	Commands int    // registrations and puts proposed
	Existing int    // of them, found there already: a call sent again
	Commit   uint64 // the coordinator's commit index after the last call
	Retries  int    // calls sent again after a 503
}

// fill registers every user, then puts images [0, images), a chunk a call;
// progress is told the images put so far.
func (f *filler) fill(ctx context.Context, images int, progress func(users, images int, took time.Duration)) (fillStats, error) {
	start := time.Now()
	var st fillStats
	users := f.base.Users
	for from := 0; from < users; from += fillChunk {
		req := f.base
		req.UserFrom, req.UserTo = from, min(from+fillChunk, users)
		rep, err := f.send(ctx, req)
		if err != nil {
			return st, err
		}
		st.Commands += rep.Registered + rep.Existing
		st.Existing += rep.Existing
		st.Commit = rep.CommitIndex
		progress(req.UserTo, 0, time.Since(start))
	}
	for from := 0; from < images; from += fillChunk {
		req := f.base
		req.PasswordHash = ""
		req.ImageFrom, req.ImageTo = from, min(from+fillChunk, images)
		rep, err := f.send(ctx, req)
		if err != nil {
			return st, err
		}
		st.Commands += rep.Put + rep.Existing
		st.Existing += rep.Existing
		st.Commit = rep.CommitIndex
		progress(users, req.ImageTo, time.Since(start))
	}
	st.Took, st.Retries = time.Since(start), f.retries
	return st, nil
}

// heap has the coordinator collect its garbage and returns its Go heap
// then, as its /metrics gives it (go_memstats_heap_alloc_bytes), and the
// coordinator's name; apiOf finds a node's API address by its name.
func (f *filler) heap(ctx context.Context, apiOf func(name string) string) (uint64, string, error) {
	req := cluster.FillRequest{Users: f.base.Users, CollectGarbage: true}
	rep, err := f.send(ctx, req)
	if err != nil {
		return 0, "", err
	}
	api := apiOf(rep.Node)
	if api == "" {
		return rep.HeapBytes, rep.Node, nil
	}
	v, err := gauge(ctx, f.hc, api, "go_memstats_heap_alloc_bytes")
	if err != nil {
		return 0, rep.Node, err
	}
	return uint64(v), rep.Node, nil
}
