package registry

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"
)

// dev is the device that holds the tests' leases.
var dev = id(100)

// take is a lease of n views of image 1 by viewer, numbered lease.
func take(lease int, viewer string, n int) TakeLease {
	return TakeLease{ID: id(200 + lease), Image: id(1), Viewer: viewer, Device: dev, Views: n, Issued: t0, Expires: t0.Add(time.Hour)}
}

func returnOf(lease int, viewer string, spent int) ReturnLease {
	return ReturnLease{ID: id(200 + lease), Viewer: viewer, Spent: spent}
}

func TestTakeLease(t *testing.T) {
	// In the fixture, ann owns image 1; bob has 2 views, cy 1; dee is not
	// listed.
	tests := []struct {
		name     string
		before   []Command
		cmd      TakeLease
		want     error
		leased   int
		left     int
		reason   string
		viewsNow map[string]int
	}{
		{name: "a viewer leases some of its views", cmd: take(1, "bob", 1), leased: 1, left: 1,
			viewsNow: map[string]int{"bob": 1, "cy": 1}},
		{name: "a viewer leases every view it has", cmd: take(1, "bob", 2), leased: 2, left: 0,
			viewsNow: map[string]int{"bob": 0, "cy": 1}},
		{name: "a lease of more than is left takes what is left", cmd: take(1, "bob", 5), leased: 2, left: 0,
			viewsNow: map[string]int{"bob": 0, "cy": 1}},
		{name: "a second lease takes from what the first left", before: []Command{take(1, "bob", 1)}, cmd: take(2, "bob", 5), leased: 1, left: 0,
			viewsNow: map[string]int{"bob": 0, "cy": 1}},
		{name: "the owner is refused: the owner views without a lease", cmd: take(1, "ann", 1), want: ErrNotAllowed, reason: "not_allowed"},
		{name: "a user not listed is refused", cmd: take(1, "dee", 1), want: ErrNotAllowed, reason: "not_allowed"},
		{name: "a viewer with no views left is refused", before: []Command{View{ID: id(1), Viewer: "cy"}}, cmd: take(1, "cy", 1),
			want: ErrNoViewsLeft, reason: "no_views_left"},
		{name: "a viewer whose views are all leased is refused", before: []Command{take(1, "cy", 1)}, cmd: take(2, "cy", 1),
			want: ErrNoViewsLeft, reason: "no_views_left"},
		{name: "an unknown image is refused", cmd: func() TakeLease { c := take(1, "bob", 1); c.Image = id(9); return c }(),
			want: ErrUnknownImage, reason: "unknown_image"},
		{name: "a lease id in use is refused", before: []Command{take(1, "cy", 1)}, cmd: take(1, "bob", 1), want: ErrInvalid},
		{name: "zero views are refused", cmd: take(1, "bob", 0), want: ErrInvalid},
		{name: "more than MaxViews are refused", cmd: take(1, "bob", MaxViews+1), want: ErrInvalid},
		{name: "an expiry at the issue time is refused", cmd: func() TakeLease { c := take(1, "bob", 1); c.Expires = c.Issued; return c }(), want: ErrInvalid},
		{name: "an issue time before 1970 is refused", cmd: func() TakeLease { c := take(1, "bob", 1); c.Issued = minCreated.Add(-1); return c }(), want: ErrInvalid},
		{name: "an expiry after 2261 is refused", cmd: func() TakeLease { c := take(1, "bob", 1); c.Expires = maxCreated; return c }(), want: ErrInvalid},
		{name: "a device id that is not 32 hex digits is refused", cmd: func() TakeLease { c := take(1, "bob", 1); c.Device = "dev"; return c }(), want: ErrInvalid},
		{name: "a lease id that is not 32 hex digits is refused", cmd: func() TakeLease { c := take(1, "bob", 1); c.ID = "L1"; return c }(), want: ErrInvalid},
		{name: "a bad viewer name is refused", cmd: take(1, "b ob", 1), want: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			for _, c := range tt.before {
				mustApply(t, s, c)
			}
			if tt.want != nil {
				out := applyRefused(t, s, tt.cmd, tt.want)
				if got := Reason(out.Err); got != tt.reason {
					t.Fatalf("Reason = %q, want %q", got, tt.reason)
				}
				return
			}
			was, _ := s.Image(id(1))
			out := mustApply(t, s, tt.cmd)
			img, _ := s.Image(id(1))
			if out.Leased != tt.leased || out.ViewsLeft != tt.left || out.ID != id(1) || out.Version != was.Version+1 || img.Version != out.Version {
				t.Fatalf("Apply = %+v, want %d leased, %d left, version %d", out, tt.leased, tt.left, was.Version+1)
			}
			if !maps.Equal(img.Viewers, tt.viewsNow) {
				t.Fatalf("viewers %v, want %v", img.Viewers, tt.viewsNow)
			}
			l, ok := s.Lease(tt.cmd.ID)
			want := Lease{ID: tt.cmd.ID, Image: id(1), Viewer: tt.cmd.Viewer, Device: dev, Views: tt.leased, Issued: t0, Expires: t0.Add(time.Hour)}
			if !ok || l != want {
				t.Fatalf("Lease = %+v, %v; want %+v", l, ok, want)
			}
		})
	}
}

func TestAViewerHoldsAtMostMaxLeasesPerViewerUnrevokedLeasesOnAnImage(t *testing.T) {
	s := fixture(t)
	mustApply(t, s, Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 100}})
	for i := range MaxLeasesPerViewer {
		mustApply(t, s, take(i, "bob", 1))
	}
	applyRefused(t, s, take(MaxLeasesPerViewer, "bob", 1), ErrInvalid)

	t.Run("another viewer or another image is not counted", func(t *testing.T) {
		s := s.Clone()
		mustApply(t, s, take(MaxLeasesPerViewer, "cy", 1))
		mustApply(t, s, PutImage{ID: id(2), Owner: "ann", Viewers: map[string]int{"bob": 1}, Created: t0})
		c := take(MaxLeasesPerViewer+1, "bob", 1)
		c.Image = id(2)
		mustApply(t, s, c)
	})
	t.Run("a returned lease makes room", func(t *testing.T) {
		s := s.Clone()
		mustApply(t, s, returnOf(0, "bob", 0))
		mustApply(t, s, take(MaxLeasesPerViewer, "bob", 1))
	})
	t.Run("revoked leases are not counted", func(t *testing.T) {
		s := s.Clone()
		mustApply(t, s, Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 3}})
		mustApply(t, s, take(MaxLeasesPerViewer, "bob", 1))
	})
}

func TestReturnLease(t *testing.T) {
	// bob (2 views of image 1) leases both as lease 1 before each case.
	tests := []struct {
		name     string
		before   []Command
		cmd      ReturnLease
		want     error
		returned int
		left     int
		offline  map[string]int
	}{
		{name: "the unspent views come back", cmd: returnOf(1, "bob", 0), returned: 2, left: 2},
		{name: "the spent views are recorded as spent offline", cmd: returnOf(1, "bob", 1), returned: 1, left: 1, offline: map[string]int{"bob": 1}},
		{name: "a lease spent in full gives nothing back", cmd: returnOf(1, "bob", 2), returned: 0, left: 0, offline: map[string]int{"bob": 2}},
		{name: "views come back on top of what the owner set since", before: []Command{Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 5}}},
			cmd: returnOf(1, "bob", 1), returned: 1, left: 4, offline: map[string]int{"bob": 1}},
		{name: "a revoked lease gives nothing back but its spent views are recorded",
			before: []Command{Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 1}}},
			cmd:    returnOf(1, "bob", 1), returned: 0, left: 1, offline: map[string]int{"bob": 1}},
		{name: "a lease of a removed viewer gives nothing back but its spent views are recorded",
			before: []Command{Share{ID: id(1), Caller: "ann", Remove: []string{"bob"}}},
			cmd:    returnOf(1, "bob", 2), returned: 0, left: 0, offline: map[string]int{"bob": 2}},
		{name: "a lease revoked then set again gives nothing back",
			before: []Command{Share{ID: id(1), Caller: "ann", Remove: []string{"bob"}}, Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 3}}},
			cmd:    returnOf(1, "bob", 0), returned: 0, left: 3},
		{name: "a return by another viewer is refused", cmd: returnOf(1, "cy", 0), want: ErrNotAllowed},
		{name: "a return by the owner is refused", cmd: returnOf(1, "ann", 0), want: ErrNotAllowed},
		{name: "more spent than leased is refused", cmd: returnOf(1, "bob", 3), want: ErrInvalid},
		{name: "negative spent is refused", cmd: returnOf(1, "bob", -1), want: ErrInvalid},
		{name: "an unknown lease is refused", cmd: returnOf(2, "bob", 0), want: ErrUnknownLease},
		{name: "a second return is refused", before: []Command{returnOf(1, "bob", 0)}, cmd: returnOf(1, "bob", 0), want: ErrUnknownLease},
		{name: "a bad lease id is refused", cmd: ReturnLease{ID: "x", Viewer: "bob"}, want: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			mustApply(t, s, take(1, "bob", 2))
			for _, c := range tt.before {
				mustApply(t, s, c)
			}
			if tt.want != nil {
				applyRefused(t, s, tt.cmd, tt.want)
				return
			}
			was, _ := s.Image(id(1))
			out := mustApply(t, s, tt.cmd)
			img, _ := s.Image(id(1))
			if out.Returned != tt.returned || out.ViewsLeft != tt.left || out.ID != id(1) || out.Version != was.Version+1 || img.Version != out.Version {
				t.Fatalf("Apply = %+v, want %d returned, %d left, version %d", out, tt.returned, tt.left, was.Version+1)
			}
			if img.Viewers["bob"] != tt.left || !maps.Equal(img.Offline, tt.offline) {
				t.Fatalf("bob has %d views left, offline %v; want %d, %v", img.Viewers["bob"], img.Offline, tt.left, tt.offline)
			}
			if _, ok := s.Lease(tt.cmd.ID); ok {
				t.Fatal("the lease is still held")
			}
		})
	}
}

func TestShareWithLeases(t *testing.T) {
	// Before each case bob is set to 10 views and leases 3 (lease 1) and 2
	// (lease 2), keeping 5 online; cy (1 view) leases it (lease 3).
	tests := []struct {
		name    string
		cmd     Share
		viewers map[string]int
		revoked []int // leases revoked after the share
	}{
		{"a share that names no leaseholder changes no lease", Share{ID: id(1), Caller: "ann", Set: map[string]int{"dee": 4}},
			map[string]int{"bob": 5, "cy": 0, "dee": 4}, nil},
		{"setting more than is leased keeps the leases and leaves the rest online", Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 8}},
			map[string]int{"bob": 3, "cy": 0}, nil},
		{"setting exactly what is leased keeps the leases and leaves none online", Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 5}},
			map[string]int{"bob": 0, "cy": 0}, nil},
		{"setting less than is leased revokes every lease and leaves that many online", Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 4}},
			map[string]int{"bob": 4, "cy": 0}, []int{1, 2}},
		{"setting zero revokes every lease", Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 0}},
			map[string]int{"bob": 0, "cy": 0}, []int{1, 2}},
		{"removing a viewer revokes its leases", Share{ID: id(1), Caller: "ann", Remove: []string{"bob"}},
			map[string]int{"cy": 0}, []int{1, 2}},
		{"one share keeps one viewer's leases and revokes another's", Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 9}, Remove: []string{"cy"}},
			map[string]int{"bob": 4}, []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			mustApply(t, s, Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 10}})
			mustApply(t, s, take(1, "bob", 3))
			mustApply(t, s, take(2, "bob", 2))
			mustApply(t, s, take(3, "cy", 1))
			mustApply(t, s, tt.cmd)
			img, _ := s.Image(id(1))
			if !maps.Equal(img.Viewers, tt.viewers) {
				t.Fatalf("viewers %v, want %v", img.Viewers, tt.viewers)
			}
			for _, n := range []int{1, 2, 3} {
				l, ok := s.Lease(id(200 + n))
				if !ok || l.Revoked != slices.Contains(tt.revoked, n) {
					t.Fatalf("lease %d: %+v, %v; want revoked %v", n, l, ok, slices.Contains(tt.revoked, n))
				}
			}
		})
	}
	t.Run("a revoked lease is not counted again by a later share", func(t *testing.T) {
		s := fixture(t)
		mustApply(t, s, take(1, "bob", 2))
		mustApply(t, s, Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 1}})
		mustApply(t, s, Share{ID: id(1), Caller: "ann", Set: map[string]int{"bob": 1}})
		if img, _ := s.Image(id(1)); img.Viewers["bob"] != 1 {
			t.Fatalf("bob has %d views, want 1", img.Viewers["bob"])
		}
	})
}

func TestLeaseReplays(t *testing.T) {
	t.Run("a retried take returns the first outcome, even stamped with new times", func(t *testing.T) {
		s := fixture(t)
		c := take(1, "bob", 5)
		c.IdemKey = "t"
		first := mustApply(t, s, c)
		c.Issued, c.Expires = t0.Add(time.Minute), t0.Add(2*time.Hour)
		again := applyUnchanged(t, s, c)
		first.Replayed = true
		if again != first || again.Leased != 2 {
			t.Fatalf("retry = %+v, want %+v", again, first)
		}
		if l, _ := s.Lease(c.ID); !l.Issued.Equal(t0) {
			t.Fatalf("the retry's times replaced the first: %+v", l)
		}
	})
	t.Run("a retried take under another lease id is refused: the outcome would not name the lease", func(t *testing.T) {
		s := fixture(t)
		c := take(1, "bob", 1)
		c.IdemKey = "t"
		mustApply(t, s, c)
		c.ID = id(299)
		applyRefused(t, s, c, ErrKeyReused)
	})
	t.Run("a retried return returns the first outcome, though the lease is gone", func(t *testing.T) {
		s := fixture(t)
		mustApply(t, s, take(1, "bob", 2))
		r := returnOf(1, "bob", 1)
		r.IdemKey = "r"
		first := mustApply(t, s, r)
		again := applyUnchanged(t, s, r)
		first.Replayed = true
		if again != first || again.Returned != 1 {
			t.Fatalf("retry = %+v, want %+v", again, first)
		}
	})
	t.Run("a key of a view is not the key of a lease", func(t *testing.T) {
		s := fixture(t)
		mustApply(t, s, View{ID: id(1), Viewer: "bob", IdemKey: "k"})
		c := take(1, "bob", 1)
		c.IdemKey = "k"
		applyRefused(t, s, c, ErrKeyReused)
	})
	t.Run("the recorded outcomes keep Leased and Returned across a snapshot", func(t *testing.T) {
		s := fixture(t)
		c := take(1, "bob", 2)
		c.IdemKey = "t"
		mustApply(t, s, c)
		r := returnOf(1, "bob", 0)
		r.IdemKey = "r"
		mustApply(t, s, r)
		restored := NewState()
		if err := restored.Restore(s.Snapshot()); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"t", "r"} {
			got, _ := restored.Lookup("bob", key)
			want, _ := s.Lookup("bob", key)
			if got != want || got.Leased+got.Returned != 2 {
				t.Fatalf("Lookup(bob, %s) after Restore = %+v, want %+v", key, got, want)
			}
		}
	})
}

func TestLeaseQueries(t *testing.T) {
	s := fixture(t)
	mustApply(t, s, PutImage{ID: id(2), Owner: "cy", Viewers: map[string]int{"bob": 5}, Created: t0})
	mustApply(t, s, take(3, "bob", 1))
	mustApply(t, s, take(1, "cy", 1))
	c := take(2, "bob", 1)
	c.Image = id(2)
	mustApply(t, s, c)
	mustApply(t, s, take(0, "bob", 1))

	ids := func(ls []Lease) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.ID)
		}
		return out
	}
	if got, want := ids(s.LeasesOf(id(1))), []string{id(200), id(201), id(203)}; !slices.Equal(got, want) {
		t.Fatalf("LeasesOf = %v, want %v", got, want)
	}
	if got, want := ids(s.LeasesOfViewer("bob")), []string{id(200), id(203), id(202)}; !slices.Equal(got, want) {
		t.Fatalf("LeasesOfViewer = %v, want %v (by image, then id)", got, want)
	}
	if got := s.LeasesOf(id(9)); len(got) != 0 {
		t.Fatalf("LeasesOf an unknown image = %v", got)
	}
	mustApply(t, s, returnOf(1, "cy", 1))
	t.Run("Image returns a copy of the offline views", func(t *testing.T) {
		img, _ := s.Image(id(1))
		img.Offline["cy"] = 99
		if again, _ := s.Image(id(1)); again.Offline["cy"] != 1 {
			t.Fatalf("changing a returned image changed the state: %v", again.Offline)
		}
	})
	t.Run("Clone copies the leases", func(t *testing.T) {
		c := s.Clone()
		mustApply(t, c, Share{ID: id(1), Caller: "ann", Remove: []string{"bob"}})
		if l, _ := s.Lease(id(200)); l.Revoked {
			t.Fatal("a share on the clone revoked the original's lease")
		}
		if !reflect.DeepEqual(s.LeasesOf(id(2)), c.LeasesOf(id(2))) {
			t.Fatal("the clone's leases differ")
		}
	})
}

func TestLeaseCommandsDoNotDecodeBeforeVersion3(t *testing.T) {
	for _, c := range []Command{take(1, "bob", 1), returnOf(1, "bob", 0)} {
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []byte{1, 2} {
			b[0] = v
			if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s as version %d: err = %v, want ErrMalformed", c.Kind(), v, err)
			}
		}
	}
}
