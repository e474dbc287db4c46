package cluster

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// hangingWorker answers nothing until its client goes away, as a node behind
// a partition that drops packets does.
func hangingWorker(t *testing.T, name string) Member {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	return Member{Name: name, Meta: Meta{API: strings.TrimPrefix(srv.URL, "http://")}}
}

func TestAJobAtAWorkerThatStopsAnsweringIsGivenUp(t *testing.T) {
	c := NewTestCluster(t, 1, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	// node-w is no member and answers no replication: the coordinator must
	// not wait for it until its client gives up.
	ctx, stop := coord.watchWorker(t.Context(), "node-w", true)
	defer stop()
	_, err := coord.sendWork(ctx, hangingWorker(t, "node-w"), job{path: "/v1/internal/hide", contentType: "image/png"})
	if err == nil || !errors.Is(context.Cause(ctx), errWorkerSilent) {
		t.Fatalf("sendWork = %v with cause %v, want the wait given up as errWorkerSilent", err, context.Cause(ctx))
	}
}

func TestACoordinatorCutOffFromItsMajorityGivesUpAJobOut(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	other := c.NotCoordinator(coord)
	for i, n := range c.Nodes {
		if n == coord {
			c.Isolate(i, true)
		}
	}
	ctx, stop := coord.watchWorker(t.Context(), other.cfg.Name, true)
	defer stop()
	_, err := coord.sendWork(ctx, hangingWorker(t, other.cfg.Name), job{path: "/v1/internal/hide", contentType: "image/png"})
	if err == nil || !errors.Is(context.Cause(ctx), errCutOff) {
		t.Fatalf("sendWork = %v with cause %v, want the wait given up as errCutOff", err, context.Cause(ctx))
	}
}

func TestACommandInFlightIsGivenUpWhenTheCoordinatorChanges(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	follower := c.NotCoordinator(coord)
	lead := follower.elector.Leadership()
	ctx, stop := follower.watchCoordinator(t.Context(), lead)
	defer stop()
	if context.Cause(ctx) != nil {
		t.Fatalf("the watch ended while %s still coordinates: %v", lead.Coordinator, context.Cause(ctx))
	}
	for i, n := range c.Nodes {
		if n == coord {
			c.Stop(i)
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("no new coordinator within 30 s")
	}
	if !errors.Is(context.Cause(ctx), errCoordinatorChanged) {
		t.Fatalf("cause %v, want errCoordinatorChanged", context.Cause(ctx))
	}
}
