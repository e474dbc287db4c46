package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeCloud answers the routes a workload uses as a faithful cloud would,
// with no stego: the "veiled" image is a name, and a view gives back the
// secret put under it; unless corrupt, when a view's bytes are changed.
type fakeCloud struct {
	corrupt bool

	mu      sync.Mutex
	secrets map[string][]byte // by the veiled image
	stealth []string          // the stealth field of every put, in order
}

func (f *fakeCloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/v1/users":
		w.WriteHeader(http.StatusCreated)
	case "/v1/login":
		_ = json.NewEncoder(w).Encode(map[string]any{"token": "t", "expires": time.Now().Add(time.Hour)})
	case "/v1/images":
		file, _, err := r.FormFile("secret")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		secret, _ := io.ReadAll(file)
		id := fmt.Sprintf("img-%d", len(f.secrets)+1)
		f.secrets[id] = secret
		f.stealth = append(f.stealth, r.FormValue("stealth"))
		w.Header().Set("Veil-Image-Id", id)
		w.Header().Set("Veil-Worker", "node-1")
		_, _ = io.WriteString(w, id)
	case "/v1/view":
		veiled, _ := io.ReadAll(r.Body)
		secret, ok := f.secrets[string(veiled)]
		if !ok {
			http.Error(w, `{"error":{"code":"not_found","message":"no such image"}}`, http.StatusNotFound)
			return
		}
		if f.corrupt {
			secret = slices.Clone(secret)
			secret[len(secret)/2] ^= 1
		}
		w.Header().Set("Veil-Image-Id", string(veiled))
		w.Header().Set("Veil-Worker", "node-2")
		_, _ = w.Write(secret)
	default:
		http.NotFound(w, r)
	}
}

// drive runs a workload of three secrets of different lengths against the
// fake cloud and returns its operations and the secrets.
func drive(t *testing.T, f *fakeCloud) ([]Op, [][]byte) {
	t.Helper()
	f.secrets = map[string][]byte{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	secrets := [][]byte{bytes.Repeat([]byte("a"), 100), bytes.Repeat([]byte("b"), 200), bytes.Repeat([]byte("c"), 300)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := Workload{Pace: Pace{Workers: 2, Requests: 30}, Nodes: []string{srv.URL}, Secrets: secrets, Stealth: "compact", Seed: 3}
	p, err := Prepare(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d := Drive(ctx, w.Pace, func(k int) OpFunc { return p.Worker(k, start) }, nil)
	var ops []Op
	for _, o := range d.Ops {
		ops = append(ops, o...)
	}
	return ops, secrets
}

func TestAWorkloadPutsItsSecretsInTurnAtItsLevelAndHoldsEveryViewAgainstTheSecretPut(t *testing.T) {
	f := &fakeCloud{}
	ops, secrets := drive(t, f)
	index := func(b []byte) int { return slices.IndexFunc(secrets, func(s []byte) bool { return bytes.Equal(s, b) }) }
	last := map[int]int{} // worker → index of its last put's secret
	views := 0
	for _, o := range ops {
		if o.Outcome != OutcomeOK {
			t.Fatalf("%s %s: %s %s", o.Kind, o.Image, o.Outcome, o.Err)
		}
		put := f.secrets[o.Image]
		switch o.Kind {
		case OpPut:
			i := index(put)
			if prev, ok := last[o.Worker]; ok && i != (prev+1)%len(secrets) {
				t.Errorf("worker %d put secret %d after secret %d: want the next in turn", o.Worker, i, prev)
			}
			last[o.Worker] = i
			if o.Bytes != len(put) {
				t.Errorf("put of %s counts %d bytes of secret; it sent %d", o.Image, o.Bytes, len(put))
			}
		case OpView:
			views++
			if o.WrongSecret || o.Bytes != len(put) {
				t.Errorf("view of %s: wrong secret %v, %d bytes; want the %d bytes put", o.Image, o.WrongSecret, o.Bytes, len(put))
			}
		}
	}
	if views == 0 || len(f.stealth) == 0 {
		t.Fatalf("%d views, %d puts: want both", views, len(f.stealth))
	}
	for _, s := range f.stealth {
		if s != "compact" {
			t.Fatalf("a put asked for stealth %q, want compact on every put", s)
		}
	}
}

func TestAViewWhoseBytesAreNotTheSecretPutIsMarkedAndCountsNoSecret(t *testing.T) {
	ops, _ := drive(t, &fakeCloud{corrupt: true})
	views := 0
	for _, o := range ops {
		if o.Kind != OpView {
			continue
		}
		views++
		if o.Outcome != OutcomeOK || !o.WrongSecret || o.Bytes != 0 {
			t.Errorf("a corrupted view: outcome %s, wrong secret %v, %d bytes; want ok (the cloud counted it), marked, 0 bytes",
				o.Outcome, o.WrongSecret, o.Bytes)
		}
	}
	if views == 0 {
		t.Fatal("no view was made")
	}
}
