package local

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"veil/bench/load"
	"veil/cluster/client"
)

// SIGKILL of the coordinator process in the middle of a stream of puts and
// views: clients retry with their idempotency keys, and afterwards the
// registry holds every acknowledged put, with exactly the quota minus the
// acknowledged views left for the viewer. Nothing acknowledged is lost and
// nothing is applied twice.
func TestSIGKILLOfTheCoordinatorLosesAndDuplicatesNothing(t *testing.T) {
	c := spawn(t, SpawnConfig{Nodes: 3})
	old, err := c.WaitSettled(timeout(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	login := func(name string) *client.Client {
		cl, err := client.New(client.Config{Nodes: c.APIs(), Timeout: 30 * time.Second, User: name, Password: "password of " + name})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Register(t.Context(), name, "password of "+name); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		return cl
	}
	alice, bob := login("alice"), login("bob")

	const quota = 3
	var mu sync.Mutex
	puts := map[string]int{} // acknowledged image → acknowledged views
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				res, err := alice.Put(t.Context(), load.TinyPNG(), nil, map[string]int{"bob": quota})
				if err != nil {
					t.Errorf("put: %v", err)
					return
				}
				mu.Lock()
				puts[res.ImageID] = 0
				mu.Unlock()
				for v := 0; v < quota+1; v++ {
					_, err := bob.View(t.Context(), res.PNG)
					var apiErr *client.Error
					switch {
					case err == nil:
						mu.Lock()
						puts[res.ImageID]++
						mu.Unlock()
					case errors.As(err, &apiErr) && apiErr.Code == "no_views_left":
					default:
						t.Errorf("view: %v", err)
						return
					}
				}
			}
		}()
	}
	time.Sleep(2 * time.Second) // the fault schedule: kill 2 s into the stream
	if err := c.Kill(c.Index(old.Coordinator)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if t.Failed() {
		t.Logf("nodes: %s", c.Describe())
		return
	}
	images, err := alice.Images(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]int{}
	for _, img := range images {
		left[img.ID] = img.Viewers["bob"]
	}
	mu.Lock()
	defer mu.Unlock()
	views := 0
	for id, acked := range puts {
		views += acked
		got, ok := left[id]
		switch {
		case !ok:
			t.Errorf("acknowledged put %s is not in the registry", id)
		case got != quota-acked:
			t.Errorf("image %s: %d views left, but %d of %d were acknowledged", id, got, acked, quota)
		}
	}
	if len(images) != len(puts) {
		t.Errorf("the registry holds %d images, %d puts were acknowledged", len(images), len(puts))
	}
	t.Logf("killed %s; %d puts and %d views acknowledged, all accounted for", old.Coordinator, len(puts), views)
}
