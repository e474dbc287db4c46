package cluster

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A worker's reply carries the worker's view of who coordinates, which may
// be stale; the client must be told the coordinator's own.
func TestAWorkersStaleLeadershipHeadersDoNotReachTheClient(t *testing.T) {
	c := NewTestCluster(t, 1, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	stale := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(hdrCoordinator, "node-old")
		w.Header().Set(hdrCoordinatorAPI, "127.0.0.1:1")
		w.Header().Set(hdrEpoch, "999")
		w.Header().Set(hdrWorker, "node-w")
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("png"))
	}))
	defer stale.Close()
	worker := Member{Name: "node-w", Meta: Meta{API: strings.TrimPrefix(stale.URL, "http://")}}
	o, err := coord.sendWork(context.Background(), worker, job{path: "/v1/internal/hide", contentType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	coord.leadershipHeaders(rec.Header())
	o.write(rec)
	l := coord.Leadership()
	if got := rec.Header().Get(hdrCoordinator); got != l.Coordinator {
		t.Errorf("%s: %q, want the coordinator's own %q", hdrCoordinator, got, l.Coordinator)
	}
	if got, want := rec.Header().Get(hdrEpoch), strconv.FormatUint(l.Epoch.Term, 10); got != want {
		t.Errorf("%s: %q, want %s", hdrEpoch, got, want)
	}
	if got := rec.Header().Get(hdrCoordinatorAPI); got == "127.0.0.1:1" {
		t.Errorf("%s: the worker's stale address reached the client", hdrCoordinatorAPI)
	}
	if got := rec.Header().Get(hdrWorker); got != "node-w" {
		t.Errorf("%s: %q, want the worker's name kept", hdrWorker, got)
	}
}
