package registry

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

func errorIs(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func TestRegisterUser(t *testing.T) {
	tests := []struct {
		name string
		cmd  RegisterUser
		want error
	}{
		{"a new name is registered", RegisterUser{Name: "eve", PasswordHash: testHash}, nil},
		{"a taken name is refused", RegisterUser{Name: "bob", PasswordHash: testHash}, ErrUserExists},
		{"names are case sensitive", RegisterUser{Name: "Bob", PasswordHash: testHash}, nil},
		{"an empty name is refused", RegisterUser{Name: "", PasswordHash: testHash}, ErrInvalid},
		{"a name with a space is refused", RegisterUser{Name: "b ob", PasswordHash: testHash}, ErrInvalid},
		{"a name over 32 bytes is refused", RegisterUser{Name: "a23456789012345678901234567890123", PasswordHash: testHash}, ErrInvalid},
		{"a password instead of a hash is refused", RegisterUser{Name: "eve", PasswordHash: "password1"}, ErrBadHash},
		{"a bad idempotency key is refused", RegisterUser{Name: "eve", PasswordHash: testHash, IdemKey: "a b"}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			if tt.want != nil {
				applyRefused(t, s, tt.cmd, tt.want)
				return
			}
			if out := s.Apply(100, tt.cmd); out.Err != nil {
				t.Fatalf("Apply: %v", out.Err)
			}
			u, ok := s.User(tt.cmd.Name)
			if !ok || u.PasswordHash != tt.cmd.PasswordHash {
				t.Fatalf("User(%q) = %+v, %v", tt.cmd.Name, u, ok)
			}
		})
	}
}

func TestPutImage(t *testing.T) {
	put := func(f func(*PutImage)) PutImage {
		p := PutImage{ID: id(2), Owner: "bob", Viewers: map[string]int{"ann": 3}, Created: t0}
		f(&p)
		return p
	}
	tests := []struct {
		name string
		cmd  PutImage
		want error
	}{
		{"a new image is recorded at version 1", put(func(*PutImage) {}), nil},
		{"an image with no viewers is recorded", put(func(p *PutImage) { p.Viewers = nil }), nil},
		{"viewers need not be registered yet", put(func(p *PutImage) { p.Viewers = map[string]int{"zed": 1} }), nil},
		{"a known id is refused", put(func(p *PutImage) { p.ID = id(1) }), ErrImageExists},
		{"an unregistered owner is refused", put(func(p *PutImage) { p.Owner = "zed" }), ErrUnknownUser},
		{"the owner listed as a viewer is refused", put(func(p *PutImage) { p.Viewers["bob"] = 1 }), ErrInvalid},
		{"zero views are refused", put(func(p *PutImage) { p.Viewers["ann"] = 0 }), ErrInvalid},
		{"negative views are refused", put(func(p *PutImage) { p.Viewers["ann"] = -1 }), ErrInvalid},
		{"views above MaxViews are refused", put(func(p *PutImage) { p.Viewers["ann"] = MaxViews + 1 }), ErrInvalid},
		{"a bad viewer name is refused", put(func(p *PutImage) { p.Viewers["a/b"] = 1 }), ErrInvalid},
		{"more than MaxViewers viewers are refused", put(func(p *PutImage) {
			for i := range MaxViewers + 1 {
				p.Viewers[fmt.Sprintf("v%d", i)] = 1
			}
		}), ErrInvalid},
		{"an uppercase id is refused", put(func(p *PutImage) { p.ID = "0000000000000000000000000000000A" }), ErrInvalid},
		{"a short id is refused", put(func(p *PutImage) { p.ID = "00" }), ErrInvalid},
		{"a zero creation time is refused", put(func(p *PutImage) { p.Created = time.Time{} }), ErrInvalid},
		{"a creation time after 2261 is refused", put(func(p *PutImage) { p.Created = maxCreated }), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			if tt.want != nil {
				applyRefused(t, s, tt.cmd, tt.want)
				return
			}
			out := s.Apply(100, tt.cmd)
			if out.Err != nil || out.Version != 1 || out.ID != tt.cmd.ID {
				t.Fatalf("Apply = %+v", out)
			}
			img, _ := s.Image(tt.cmd.ID)
			if img.Owner != tt.cmd.Owner || !maps.Equal(img.Viewers, tt.cmd.Viewers) || !img.Created.Equal(t0) || img.Version != 1 {
				t.Fatalf("Image = %+v", img)
			}
		})
	}
}

func TestView(t *testing.T) {
	tests := []struct {
		name      string
		views     []string // viewers, in order; the last one is checked
		want      error
		reason    string
		viewsLeft int
		version   uint64
		byOwner   bool
	}{
		{"the owner views and spends nothing", []string{"ann"}, nil, "", 0, 1, true},
		{"the owner views with no viewer left", []string{"cy", "ann"}, nil, "", 0, 2, true},
		{"a listed viewer spends one view", []string{"bob"}, nil, "", 1, 2, false},
		{"a listed viewer spends the last view", []string{"bob", "bob"}, nil, "", 0, 3, false},
		{"a viewer with no views left is denied", []string{"cy", "cy"}, ErrNoViewsLeft, "no_views_left", 0, 0, false},
		{"a registered user not listed is denied", []string{"dee"}, ErrNotAllowed, "not_allowed", 0, 0, false},
		{"an unregistered user is denied", []string{"zed"}, ErrNotAllowed, "not_allowed", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			for _, v := range tt.views[:len(tt.views)-1] {
				if out := s.Apply(s.LastApplied()+1, View{ID: id(1), Viewer: v}); out.Err != nil {
					t.Fatalf("view by %s: %v", v, out.Err)
				}
			}
			cmd := View{ID: id(1), Viewer: tt.views[len(tt.views)-1]}
			if tt.want != nil {
				out := applyRefused(t, s, cmd, tt.want)
				if got := Reason(out.Err); got != tt.reason {
					t.Fatalf("Reason = %q, want %q", got, tt.reason)
				}
				return
			}
			out := s.Apply(s.LastApplied()+1, cmd)
			if out.Err != nil || out.ViewsLeft != tt.viewsLeft || out.Version != tt.version || out.ByOwner != tt.byOwner {
				t.Fatalf("Apply = %+v, want %d left at version %d, by owner %v", out, tt.viewsLeft, tt.version, tt.byOwner)
			}
		})
	}
	t.Run("an unknown image is denied", func(t *testing.T) {
		out := applyRefused(t, fixture(t), View{ID: id(9), Viewer: "bob"}, ErrUnknownImage)
		if Reason(out.Err) != "unknown_image" {
			t.Fatalf("Reason = %q", Reason(out.Err))
		}
	})
}

func TestShare(t *testing.T) {
	tests := []struct {
		name    string
		cmd     Share
		want    error
		viewers map[string]int
	}{
		{"the owner changes a viewer's views", Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 7}}, nil,
			map[string]int{"bob": 7, "cy": 1}},
		{"the owner adds a viewer", Share{ID: id(1), Caller: "ann", Set: map[string]int{"dee": 1}}, nil,
			map[string]int{"bob": 2, "cy": 1, "dee": 1}},
		{"the owner sets a viewer to none left", Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 0}}, nil,
			map[string]int{"bob": 0, "cy": 1}},
		{"the owner removes a viewer", Share{ID: id(1), Caller: "ann", Remove: []string{"cy"}}, nil,
			map[string]int{"bob": 2}},
		{"removing a viewer not listed is no change", Share{ID: id(1), Caller: "ann", Remove: []string{"dee"}}, nil,
			map[string]int{"bob": 2, "cy": 1}},
		{"set and remove in one share", Share{ID: id(1), Caller: "ann", Set: map[string]int{"dee": 4}, Remove: []string{"bob", "cy"}}, nil,
			map[string]int{"dee": 4}},
		{"a viewer cannot share", Share{ID: id(1), Caller: "bob", Set: map[string]int{"dee": 1}}, ErrNotOwner, nil},
		{"a stranger cannot share", Share{ID: id(1), Caller: "dee", Remove: []string{"bob"}}, ErrNotOwner, nil},
		{"an unknown image is refused", Share{ID: id(9), Caller: "ann", Set: map[string]int{"dee": 1}}, ErrUnknownImage, nil},
		{"the owner cannot be a viewer", Share{ID: id(1), Caller: "ann", Set: map[string]int{"ann": 1}}, ErrInvalid, nil},
		{"a name both set and removed is refused", Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 1}, Remove: []string{"bob"}}, ErrInvalid, nil},
		{"a name removed twice is refused", Share{ID: id(1), Caller: "ann", Remove: []string{"bob", "bob"}}, ErrInvalid, nil},
		{"negative views are refused", Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": -1}}, ErrInvalid, nil},
		{"ending with more than MaxViewers viewers is refused", Share{ID: id(1), Caller: "ann", Set: func() map[string]int {
			m := map[string]int{}
			for i := range MaxViewers - 1 {
				m[fmt.Sprintf("v%d", i)] = 1
			}
			return m
		}()}, ErrInvalid, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			if tt.want != nil {
				applyRefused(t, s, tt.cmd, tt.want)
				return
			}
			out := s.Apply(100, tt.cmd)
			img, _ := s.Image(id(1))
			if out.Err != nil || out.Version != 2 || img.Version != 2 || !maps.Equal(img.Viewers, tt.viewers) {
				t.Fatalf("Apply = %+v; viewers %v at version %d, want %v at version 2", out, img.Viewers, img.Version, tt.viewers)
			}
		})
	}
}

func TestApplyIndex(t *testing.T) {
	tests := []struct {
		name  string
		index uint64
		want  error
	}{
		{"the next index is applied", 11, nil},
		{"an index may skip ahead", 50, nil},
		{"the last applied index is refused", 10, ErrAlreadyApplied},
		{"an older index is refused", 3, ErrAlreadyApplied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			before := s.Snapshot()
			out := s.Apply(tt.index, View{ID: id(1), Viewer: "bob"})
			if !errorIs(out.Err, tt.want) {
				t.Fatalf("Apply = %v, want %v", out.Err, tt.want)
			}
			if tt.want != nil && string(s.Snapshot()) != string(before) {
				t.Fatal("a refused index changed the state")
			}
			if tt.want == nil && s.LastApplied() != tt.index {
				t.Fatalf("LastApplied = %d, want %d", s.LastApplied(), tt.index)
			}
		})
	}
	t.Run("a nil command is refused and only advances LastApplied", func(t *testing.T) {
		applyRefused(t, fixture(t), nil, ErrInvalid)
	})
	t.Run("a pointer to a command, even nil, is refused", func(t *testing.T) {
		applyRefused(t, fixture(t), &View{ID: id(1), Viewer: "bob"}, ErrInvalid)
		applyRefused(t, fixture(t), (*PutImage)(nil), ErrInvalid)
	})
}

func TestIdempotency(t *testing.T) {
	t.Run("a retried view returns the first outcome and spends nothing", func(t *testing.T) {
		s := fixture(t)
		first := s.Apply(11, View{ID: id(1), Viewer: "bob", IdemKey: "k1"})
		again := applyUnchanged(t, s, View{ID: id(1), Viewer: "bob", IdemKey: "k1"})
		if first.Err != nil || again.Err != nil || !again.Replayed || again.Index != 11 || again.ViewsLeft != first.ViewsLeft {
			t.Fatalf("first %+v, retry %+v", first, again)
		}
	})
	t.Run("a retried put returns the first id, even re-stamped with another id and time", func(t *testing.T) {
		s := fixture(t)
		p := PutImage{ID: id(2), Owner: "bob", Viewers: map[string]int{"ann": 1}, Created: t0, IdemKey: "p"}
		first := s.Apply(11, p)
		p.ID, p.Created = id(3), t0.Add(time.Minute)
		again := applyUnchanged(t, s, p)
		if again.Err != nil || !again.Replayed || again.ID != id(2) || again.Index != first.Index {
			t.Fatalf("retry = %+v, want the outcome of %+v", again, first)
		}
		if _, ok := s.Image(id(3)); ok {
			t.Fatal("the retry registered a second image")
		}
	})
	t.Run("a retried registration returns the first outcome, not ErrUserExists, and the first hash stands", func(t *testing.T) {
		s := fixture(t)
		s.Apply(11, RegisterUser{Name: "eve", PasswordHash: testHash, IdemKey: "r"})
		rehashed, _ := HashPassword(fastArgon2, seeded(9), "password1")
		if out := applyUnchanged(t, s, RegisterUser{Name: "eve", PasswordHash: rehashed, IdemKey: "r"}); out.Err != nil || !out.Replayed {
			t.Fatalf("retry = %+v", out)
		}
		if u, _ := s.User("eve"); u.PasswordHash != testHash {
			t.Fatal("the retry replaced the hash")
		}
	})
	t.Run("a key reused for a different command is refused and changes nothing", func(t *testing.T) {
		s := fixture(t)
		s.Apply(11, View{ID: id(1), Viewer: "bob", IdemKey: "k"})
		applyRefused(t, s, Share{ID: id(1), Caller: "bob", Set: map[string]int{"dee": 1}, IdemKey: "k"}, ErrKeyReused)
		applyRefused(t, s, View{ID: id(2), Viewer: "bob", IdemKey: "k"}, ErrKeyReused)
	})
	t.Run("keys are per user: the same key from another user is another request", func(t *testing.T) {
		s := fixture(t)
		s.Apply(11, View{ID: id(1), Viewer: "bob", IdemKey: "k"})
		out := s.Apply(12, View{ID: id(1), Viewer: "cy", IdemKey: "k"})
		if out.Err != nil || out.Replayed {
			t.Fatalf("cy's view = %+v", out)
		}
	})
	t.Run("a refused command keeps no key, so its retry is judged afresh", func(t *testing.T) {
		s := fixture(t)
		applyRefused(t, s, View{ID: id(1), Viewer: "dee", IdemKey: "k"}, ErrNotAllowed)
		s.Apply(s.LastApplied()+1, Share{ID: id(1), Caller: "ann", Set: map[string]int{"dee": 1}})
		if out := s.Apply(s.LastApplied()+1, View{ID: id(1), Viewer: "dee", IdemKey: "k"}); out.Err != nil || out.Replayed {
			t.Fatalf("retry after sharing = %+v", out)
		}
	})
	t.Run("Lookup returns the first outcome", func(t *testing.T) {
		s := fixture(t)
		first := s.Apply(11, View{ID: id(1), Viewer: "bob", IdemKey: "k"})
		got, ok := s.Lookup("bob", "k")
		first.Replayed = true
		if !ok || got != first {
			t.Fatalf("Lookup = %+v, %v; want %+v", got, ok, first)
		}
		if _, ok := s.Lookup("cy", "k"); ok {
			t.Fatal("Lookup found bob's key for cy")
		}
	})
	t.Run("ExpireKeys forgets keys recorded below its index, and their retries run again", func(t *testing.T) {
		s := fixture(t)
		s.Apply(11, View{ID: id(1), Viewer: "bob", IdemKey: "old"})
		s.Apply(12, View{ID: id(1), Viewer: "cy", IdemKey: "new"})
		if out := s.Apply(13, ExpireKeys{Before: 12}); out.Err != nil {
			t.Fatal(out.Err)
		}
		if _, ok := s.Lookup("bob", "old"); ok {
			t.Fatal("key at index 11 kept")
		}
		if _, ok := s.Lookup("cy", "new"); !ok {
			t.Fatal("key at index 12 expired")
		}
		if out := s.Apply(14, View{ID: id(1), Viewer: "bob", IdemKey: "old"}); out.Err != nil || out.Replayed || out.ViewsLeft != 0 {
			t.Fatalf("retry after expiry = %+v", out)
		}
	})
	t.Run("ExpireKeys beyond its own index is refused", func(t *testing.T) {
		applyRefused(t, fixture(t), ExpireKeys{Before: 12}, ErrInvalid)
	})
}

// applyUnchanged applies cmd at the next index, requires it to take no
// effect beyond LastApplied (a replay), and returns its outcome.
func applyUnchanged(t *testing.T, s *State, cmd Command) Outcome {
	t.Helper()
	before := s.Clone()
	index := s.LastApplied() + 1
	out := s.Apply(index, cmd)
	before.lastApplied = index
	if string(before.Snapshot()) != string(s.Snapshot()) {
		t.Fatalf("replayed %#v changed the state", cmd)
	}
	return out
}

// serial applies commands to a State one at a time, numbering them, as the
// log does in a node: in the real system concurrent requests become
// entries in one log and are applied in its order by one goroutine, so a
// mutex that orders Apply calls is a faithful stand-in for that part. What
// is tested is that the state machine, given any order, grants exactly the
// quota.
type serial struct {
	mu    sync.Mutex
	state *State
}

func (s *serial) apply(cmd Command) Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Apply(s.state.LastApplied()+1, cmd)
}

func TestExactlyTheQuotaUnderConcurrentViewers(t *testing.T) {
	const attempts = 50
	tests := []struct {
		name    string
		viewers map[string]int // views each is given
	}{
		{"one viewer with 20 views, 50 attempts", map[string]int{"v0": 20}},
		{"one viewer with 50 views, 50 attempts", map[string]int{"v0": 50}},
		{"one viewer with 1 view, 50 attempts", map[string]int{"v0": 1}},
		{"10 viewers with 3 views each, 5 attempts each", func() map[string]int {
			m := map[string]int{}
			for i := range 10 {
				m[fmt.Sprintf("v%d", i)] = 3
			}
			return m
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := fixture(t)
			st.Apply(11, PutImage{ID: id(2), Owner: "ann", Viewers: tt.viewers, Created: t0})
			s := &serial{state: st}
			names := slices.Sorted(maps.Keys(tt.viewers))
			results := make([]Outcome, attempts)
			var wg sync.WaitGroup
			for i := range attempts {
				wg.Go(func() {
					results[i] = s.apply(View{ID: id(2), Viewer: names[i%len(names)], IdemKey: fmt.Sprintf("view-%d", i)})
				})
			}
			wg.Wait()
			quota := 0
			for _, n := range tt.viewers {
				quota += min(n, attempts/len(names))
			}
			granted := 0
			for _, out := range results {
				switch {
				case out.Err == nil:
					granted++
				case !errors.Is(out.Err, ErrNoViewsLeft):
					t.Fatalf("view refused with %v", out.Err)
				}
			}
			img, _ := st.Image(id(2))
			if granted != quota || img.Version != uint64(1+quota) {
				t.Fatalf("%d views granted, version %d; want exactly %d, version %d", granted, img.Version, quota, 1+quota)
			}
			for name, n := range tt.viewers {
				if want := n - min(n, attempts/len(names)); img.Viewers[name] != want {
					t.Fatalf("%s has %d views left, want %d", name, img.Viewers[name], want)
				}
			}
		})
	}
}

func TestQueries(t *testing.T) {
	s := fixture(t)
	s.Apply(11, PutImage{ID: id(3), Owner: "ann", Viewers: map[string]int{"bob": 1}, Created: t0.Add(-time.Hour)})
	s.Apply(12, PutImage{ID: id(2), Owner: "bob", Viewers: map[string]int{"cy": 1}, Created: t0})
	s.Apply(13, View{ID: id(1), Viewer: "cy"})

	t.Run("ImagesOwnedBy lists the owner's images oldest first", func(t *testing.T) {
		var got []string
		for _, img := range s.ImagesOwnedBy("ann") {
			got = append(got, img.ID)
		}
		if want := []string{id(3), id(1)}; !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if imgs := s.ImagesOwnedBy("dee"); len(imgs) != 0 {
			t.Fatalf("dee owns %v", imgs)
		}
	})
	t.Run("SharedWith lists images with views left, spent ones included", func(t *testing.T) {
		got := s.SharedWith("cy")
		want := []Shared{
			{ID: id(1), Owner: "ann", ViewsLeft: 0, Created: t0},
			{ID: id(2), Owner: "bob", ViewsLeft: 1, Created: t0},
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("Image returns a copy the caller may change", func(t *testing.T) {
		img, _ := s.Image(id(1))
		img.Viewers["dee"] = 5
		if again, _ := s.Image(id(1)); again.Viewers["dee"] != 0 {
			t.Fatal("changing a returned image changed the state")
		}
	})
	t.Run("Counts counts users, images and keys", func(t *testing.T) {
		if u, i, k := s.Counts(); u != 4 || i != 3 || k != 0 {
			t.Fatalf("Counts = %d, %d, %d", u, i, k)
		}
	})
}

func TestBarrierChangesNothingButLastApplied(t *testing.T) {
	s := fixture(t)
	before := s.Clone()
	if out := s.Apply(11, Barrier{}); out.Err != nil || out.Index != 11 {
		t.Fatalf("Apply = %+v", out)
	}
	before.lastApplied = 11
	if string(before.Snapshot()) != string(s.Snapshot()) {
		t.Fatal("a barrier changed the state")
	}
}

func TestPeers(t *testing.T) {
	key := bytes.Repeat([]byte{5}, PeerKeyLen)
	up := func(addr string, at time.Time, holds ...string) PeerUp {
		return PeerUp{User: "bob", Device: id(30), Key: key, Addr: addr, Holds: holds, At: at}
	}
	t.Run("a peer comes online since the time its registration was stamped", func(t *testing.T) {
		s := fixture(t)
		mustApply(t, s, up("h:1", t0, id(1)))
		p, ok := s.Peer(id(30))
		if !ok || !p.Online || !p.Since.Equal(t0) || p.Addr != "h:1" || !slices.Equal(p.Holds, []string{id(1)}) {
			t.Fatalf("peer %+v, %v", p, ok)
		}
	})
	t.Run("a change while online keeps the online time and takes the new address and holds", func(t *testing.T) {
		s := fixture(t)
		mustApply(t, s, up("h:1", t0, id(1)))
		mustApply(t, s, up("h:2", t0.Add(time.Minute)))
		p, _ := s.Peer(id(30))
		if !p.Since.Equal(t0) || p.Addr != "h:2" || len(p.Holds) != 0 {
			t.Fatalf("peer %+v", p)
		}
	})
	t.Run("going down forgets the holds and starts the offline time", func(t *testing.T) {
		s := fixture(t)
		mustApply(t, s, up("h:1", t0, id(1)))
		mustApply(t, s, PeerDown{Device: id(30), At: t0.Add(time.Hour)})
		p, _ := s.Peer(id(30))
		if p.Online || !p.Since.Equal(t0.Add(time.Hour)) || p.Holds != nil {
			t.Fatalf("peer %+v", p)
		}
		mustApply(t, s, up("h:1", t0.Add(2*time.Hour)))
		if p, _ = s.Peer(id(30)); !p.Online || !p.Since.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("back online: %+v", p)
		}
	})
	t.Run("a down of an unknown or offline device changes nothing", func(t *testing.T) {
		s := fixture(t)
		before := s.Snapshot()
		out := s.Apply(s.LastApplied()+1, PeerDown{Device: id(31), At: t0})
		if out.Err != nil {
			t.Fatal(out.Err)
		}
		if _, ok := s.Peer(id(31)); ok {
			t.Fatal("a down made a record")
		}
		after := s.Snapshot()
		if !bytes.Equal(after[16:len(after)-4], before[16:len(before)-4]) { // past magic, version and last applied, before the checksum
			t.Fatal("state changed")
		}
	})
	t.Run("a peer of an unregistered user is refused", func(t *testing.T) {
		s := fixture(t)
		c := up("h:1", t0)
		c.User = "nobody"
		if out := s.Apply(s.LastApplied()+1, c); !errors.Is(out.Err, ErrUnknownUser) {
			t.Fatalf("err = %v", out.Err)
		}
		if len(s.Peers()) != 0 {
			t.Fatal("recorded")
		}
	})
	t.Run("holds must be ids in increasing order", func(t *testing.T) {
		for _, holds := range [][]string{{id(2), id(1)}, {id(1), id(1)}, {"x"}} {
			if err := up("h:1", t0, holds...).Validate(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("holds %v: err = %v", holds, err)
			}
		}
	})
	t.Run("an address must be host and port", func(t *testing.T) {
		for _, a := range []string{"", "host", "host:", "host:0", "host:65536", "host:080", ":80", "a b:1"} {
			if err := ValidAddr(a); !errors.Is(err, ErrInvalid) {
				t.Fatalf("address %q: err = %v", a, err)
			}
		}
		for _, a := range []string{"h:1", "127.0.0.1:65535", "[::1]:7000"} {
			if err := ValidAddr(a); err != nil {
				t.Fatalf("address %q: %v", a, err)
			}
		}
	})
}

func TestMaySee(t *testing.T) {
	s := fixture(t)
	img, _ := s.Image(id(1))
	for _, c := range []struct {
		user string
		want bool
	}{{img.Owner, true}, {"nobody", false}} {
		if got := s.MaySee(c.user, id(1)); got != c.want {
			t.Fatalf("MaySee(%s) = %v", c.user, got)
		}
	}
	for v := range img.Viewers {
		if !s.MaySee(v, id(1)) {
			t.Fatalf("viewer %s may not see", v)
		}
	}
	if s.MaySee(img.Owner, id(99)) {
		t.Fatal("an unknown image is seen")
	}
}
