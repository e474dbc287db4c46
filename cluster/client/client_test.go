package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func fastConfig(nodes ...string) Config {
	return Config{Nodes: nodes, Timeout: 2 * time.Second, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

func jsonError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(`{"error":{"code":"` + code + `","message":"` + code + ` happened"}}`))
}

func TestHideRetriesUnavailableWithTheSameIdempotencyKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		if n < 3 {
			jsonError(w, http.StatusServiceUnavailable, "no_coordinator")
			return
		}
		w.Header().Set("Veil-Image-Id", "abc")
		w.Header().Set("Veil-Worker", "n2")
		w.Header().Set("Veil-Epoch", "7")
		w.Write([]byte("png"))
	}))
	defer srv.Close()
	c, err := New(fastConfig(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Hide(context.Background(), HideRequest{Secret: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 3 || string(res.PNG) != "png" || res.ImageID != "abc" || res.Worker != "n2" || res.Epoch != 7 {
		t.Fatalf("result %+v", res)
	}
	if keys[0] == "" || keys[0] != keys[1] || keys[1] != keys[2] {
		t.Fatalf("idempotency keys across retries: %q", keys)
	}
}

func TestAFinalErrorIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		jsonError(w, http.StatusUnprocessableEntity, "unsupported_image")
	}))
	defer srv.Close()
	c, _ := New(fastConfig(srv.URL))
	_, err := c.Hide(context.Background(), HideRequest{Secret: []byte("s")})
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Status != 422 || apiErr.Code != "unsupported_image" {
		t.Fatalf("err = %v, want a 422 unsupported_image", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d calls for a final error, want 1", calls.Load())
	}
}

func TestTheClientGoesStraightToTheCoordinatorItLearnt(t *testing.T) {
	var coordCalls, otherCalls atomic.Int32
	coord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		coordCalls.Add(1)
		w.Write([]byte(`[]`))
	}))
	defer coord.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherCalls.Add(1)
		w.Header().Set("Veil-Coordinator-Api", strings.TrimPrefix(coord.URL, "http://"))
		w.Write([]byte(`[]`))
	}))
	defer other.Close()
	c, _ := New(fastConfig(other.URL))
	for i := 0; i < 3; i++ {
		if _, err := c.Members(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if otherCalls.Load() != 1 || coordCalls.Load() != 2 {
		t.Fatalf("calls: first node %d, coordinator %d; want 1 and 2", otherCalls.Load(), coordCalls.Load())
	}
}

func TestAnUnreachableNodeIsSkipped(t *testing.T) {
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`[]`)) }))
	defer good.Close()
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	deadURL := dead.URL
	dead.Close()
	c, _ := New(Config{Nodes: []string{deadURL, good.URL}, Route: RouteAny, Timeout: 2 * time.Second,
		MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	if _, err := c.Members(context.Background()); err != nil {
		t.Fatalf("members with one dead node of two: %v", err)
	}
}

func TestTheClientGivesUpAtItsDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jsonError(w, http.StatusServiceUnavailable, "no_coordinator")
	}))
	defer srv.Close()
	cfg := fastConfig(srv.URL)
	cfg.Timeout = 300 * time.Millisecond
	c, _ := New(cfg)
	start := time.Now()
	_, err := c.Coordinator(context.Background())
	if err == nil || !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("err = %v, want a give-up", err)
	}
	// The last error is the cluster's answer, or the deadline itself when
	// the last try was cut short by it.
	var apiErr *Error
	if !errors.As(err, &apiErr) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v wraps neither the last answer nor the deadline", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Fatalf("gave up only after %s", elapsed)
	}
}

func TestMulticastSendsToEveryNodeWithOneKeyAndTakesTheFirstSuccess(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]int{}
	var arrived sync.WaitGroup
	arrived.Add(3)
	handler := func(ok bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			keys[r.Header.Get("Idempotency-Key")]++
			mu.Unlock()
			arrived.Done()
			if !ok {
				jsonError(w, http.StatusServiceUnavailable, "unavailable")
				return
			}
			// Answer only once every copy has arrived, so that the count
			// below does not depend on scheduling.
			arrived.Wait()
			w.Write([]byte("png"))
		}
	}
	a, b, d := httptest.NewServer(handler(false)), httptest.NewServer(handler(true)), httptest.NewServer(handler(false))
	defer a.Close()
	defer b.Close()
	defer d.Close()
	cfg := fastConfig(a.URL, b.URL, d.URL)
	cfg.Route = RouteMulticast
	c, _ := New(cfg)
	res, err := c.Hide(context.Background(), HideRequest{Secret: []byte("s")})
	if err != nil || string(res.PNG) != "png" {
		t.Fatalf("multicast hide: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 1 {
		t.Fatalf("multicast used %d idempotency keys, want one shared by all copies", len(keys))
	}
	for _, n := range keys {
		if n != 3 {
			t.Fatalf("the request reached %d nodes, want 3", n)
		}
	}
}

func TestConfigAndRouteErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no nodes: no error")
	}
	if _, err := New(Config{Nodes: []string{"http://"}}); err == nil {
		t.Error("empty host: no error")
	}
	for in, want := range map[string]Route{"": RouteCoordinator, "coordinator": RouteCoordinator, "any": RouteAny, "multicast": RouteMulticast, "spread": RouteSpread} {
		if got, err := ParseRoute(in); err != nil || got != want {
			t.Errorf("ParseRoute(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseRoute("broadcast"); err == nil {
		t.Error("ParseRoute(broadcast): no error")
	}
}

// A node that stops answering in the middle of a call is given up after
// one attempt's timeout, and the call goes on at another node.
func TestASilentNodeIsGivenUpAfterTheAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // accepts the request and never answers, as a node cut off mid-call
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer silent.Close()
	defer close(release)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[]`))
	}))
	defer good.Close()
	cfg := fastConfig(silent.URL, good.URL)
	cfg.Route, cfg.Timeout, cfg.AttemptTimeout = RouteAny, time.Minute, 100*time.Millisecond
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Members(ctx); err != nil {
		t.Fatalf("members with one silent node of two: %v", err)
	}
}

func TestSpreadPassesOverTheCoordinatorOnceKnown(t *testing.T) {
	c, err := New(Config{Nodes: []string{"h1:1", "h2:1", "h3:1"}, Route: RouteSpread})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for range 6 {
		seen[c.target()]++
	}
	if len(seen) != 3 {
		t.Fatalf("before the coordinator is known: %v, want every node", seen)
	}
	c.learn(http.Header{"Veil-Coordinator-Api": []string{"h2:1"}})
	seen = map[string]int{}
	for range 6 {
		seen[c.target()]++
	}
	if seen["http://h2:1"] != 0 || seen["http://h1:1"] != 3 || seen["http://h3:1"] != 3 {
		t.Fatalf("with h2 coordinating: %v, want h1 and h3 in turn", seen)
	}
	one, _ := New(Config{Nodes: []string{"h2:1"}, Route: RouteSpread})
	one.learn(http.Header{"Veil-Coordinator-Api": []string{"h2:1"}})
	if got := one.target(); got != "http://h2:1" {
		t.Fatalf("a cluster of one: %s", got)
	}
}

func TestAShedAttemptIsTriedAgainAfterItsRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		at = append(at, time.Now())
		n := len(keys)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			jsonError(w, http.StatusTooManyRequests, "overloaded")
			return
		}
		w.Write([]byte("png"))
	}))
	defer srv.Close()
	cfg := fastConfig(srv.URL)
	cfg.Timeout = 5 * time.Second
	c, _ := New(cfg)
	res, err := c.Hide(context.Background(), HideRequest{Secret: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("%d attempts with keys %q, want 2 with one key", res.Attempts, keys)
	}
	if gap := at[1].Sub(at[0]); gap < time.Second {
		t.Fatalf("tried again %v after a 429 that asked for 1 s", gap)
	}
}

func TestAShedAttemptEndsTheCallWhenAskedOrWhenTheWaitOutlastsTheDeadline(t *testing.T) {
	for _, tc := range []struct {
		name        string
		retryAfter  string
		shedIsFinal bool
	}{
		{"shed is final", "1", true},
		{"the wait outlasts the deadline", "5", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Retry-After", tc.retryAfter)
				jsonError(w, http.StatusTooManyRequests, "overloaded")
			}))
			defer srv.Close()
			cfg := fastConfig(srv.URL)
			cfg.ShedIsFinal = tc.shedIsFinal
			c, _ := New(cfg)
			_, err := c.Hide(context.Background(), HideRequest{Secret: []byte("s")})
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.Status != http.StatusTooManyRequests || apiErr.Code != "overloaded" {
				t.Fatalf("err = %v, want the 429 overloaded", err)
			}
			if calls.Load() != 1 || apiErr.Attempts != 1 || apiErr.RetryAfter.String() != tc.retryAfter+"s" {
				t.Fatalf("%d calls, attempts %d, Retry-After %v", calls.Load(), apiErr.Attempts, apiErr.RetryAfter)
			}
		})
	}
}

func TestNoRetrySendsEachCallOnceAsAPlainClientDoes(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "1")
		jsonError(w, http.StatusServiceUnavailable, "no_coordinator")
	}))
	defer srv.Close()
	cfg := fastConfig(srv.URL)
	cfg.NoRetry = true
	c, _ := New(cfg)
	_, err := c.Hide(context.Background(), HideRequest{Secret: []byte("s")})
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Code != "no_coordinator" || apiErr.Attempts != 1 {
		t.Fatalf("err = %v, want the 503 no_coordinator of the one attempt", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d calls, want 1", calls.Load())
	}
}

func TestAThrottledLoginIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "1")
		jsonError(w, http.StatusTooManyRequests, "too_many_attempts")
	}))
	defer srv.Close()
	cfg := fastConfig(srv.URL)
	cfg.Timeout = 5 * time.Second
	c, _ := New(cfg)
	_, err := c.Login(context.Background(), "ann", "wrong password")
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Code != "too_many_attempts" || apiErr.Attempts != 1 {
		t.Fatalf("err = %v, want the 429 too_many_attempts of the one attempt", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d calls: a throttled login was sent again", calls.Load())
	}
}
