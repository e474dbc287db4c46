package registry

// Offline leases: views escrowed from a viewer's online count to one of the
// viewer's devices, as bounded counters do, so that the device can spend
// them with no cloud and the books still balance. For each image and
// viewer, always:
//
//	granted = views left online
//	        + views in unrevoked leases not yet returned
//	        + views spent online
//	        + views spent offline (reported, Image.Offline)
//	        + views of revoked leases not spent (forfeited)
//
// where granted counts what the owner gave and has not taken back (Share
// takes back only views left online; see Share).
//
// The registry never reads a clock, so it does not act on expiry: an
// expired lease stays, with its views, until its device returns it. The
// device stops spending at Expires on its own (its signed lease says so),
// and whoever wants expired leases gone proposes their return.

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// MaxLeasesPerViewer is how many unrevoked leases one viewer may hold on
// one image at a time.
const MaxLeasesPerViewer = 16

// Lease is views of one image moved from a viewer's online count to one of
// the viewer's devices, for offline use.
type Lease struct {
	ID      string // 32 lowercase hex digits, chosen by the coordinator
	Image   string
	Viewer  string
	Device  string // 32 hex digits, as peers' device ids (ValidDevice)
	Views   int    // views leased, >= 1
	Issued  time.Time
	Expires time.Time // after Issued
	Revoked bool      // the owner lowered or removed the viewer's views: the device must stop spending at its next contact; unspent views are forfeited
}

// TakeLease moves up to Views of Viewer's views of Image to a lease held by
// Device, in one step. ID, Issued and Expires are the coordinator's: the id
// it picked and the times it stamped. The owner views without a lease
// (ErrNotAllowed), as does anyone not listed (ErrNotAllowed); a viewer with
// no views left is refused with ErrNoViewsLeft, one who already holds
// MaxLeasesPerViewer unrevoked leases on the image with ErrInvalid, as is a
// lease id already in use. A viewer with fewer views left than wanted gets
// what is left: Outcome.Leased says how many.
//
// The idempotency key is scoped by Viewer. A retry is the same request when
// it names the same lease id, image, device and views; its times are left
// out of the comparison (a retry may be stamped anew), and Lease(ID) gives
// the ones that stand.
type TakeLease struct {
	ID, Image, Viewer, Device string
	Views                     int // wanted, >= 1 (at most MaxViews)
	Issued, Expires           time.Time
	IdemKey                   string // scoped by Viewer, as View's
}

// ReturnLease ends lease ID with the device's report: Spent of its views
// were spent offline, and the rest come back to the viewer's online count
// (Outcome.Returned), unless the lease was revoked, or the viewer is no
// longer listed: then they are forfeited. Spent is recorded in the image's
// Offline either way. Only the lease's viewer may return it
// (ErrNotAllowed); an unknown lease fails with ErrUnknownLease, a report of
// more views than the lease held with ErrInvalid.
type ReturnLease struct {
	ID      string
	Viewer  string // the caller; must be the lease's viewer
	Spent   int    // views the device spent offline, 0..Views
	IdemKey string // scoped by Viewer
}

func (TakeLease) Kind() Kind   { return KindTakeLease }
func (ReturnLease) Kind() Kind { return KindReturnLease }

func (c TakeLease) idem() (string, string)   { return c.Viewer, c.IdemKey }
func (c ReturnLease) idem() (string, string) { return c.Viewer, c.IdemKey }

// validLeaseID checks a lease id: 32 lowercase hex digits.
func validLeaseID(id string) error {
	if err := ValidImageID(id); err != nil {
		return fmt.Errorf("%w: lease id %.40q is not 32 lowercase hex digits", ErrInvalid, id)
	}
	return nil
}

// Validate checks the ids, the name, the views, the times and the key.
func (c TakeLease) Validate() error {
	if err := validLeaseID(c.ID); err != nil {
		return err
	}
	if err := ValidImageID(c.Image); err != nil {
		return err
	}
	if err := ValidName(c.Viewer); err != nil {
		return fmt.Errorf("viewer: %w", err)
	}
	if err := ValidDevice(c.Device); err != nil {
		return err
	}
	if c.Views < 1 || c.Views > MaxViews {
		return fmt.Errorf("%w: a lease of %d views, want 1 to %d", ErrInvalid, c.Views, MaxViews)
	}
	if err := validTime("issue time", c.Issued); err != nil {
		return err
	}
	if err := validTime("expiry", c.Expires); err != nil {
		return err
	}
	if !c.Expires.After(c.Issued) {
		return fmt.Errorf("%w: lease expires at %v, not after it is issued at %v", ErrInvalid, c.Expires, c.Issued)
	}
	return validKey(c.IdemKey)
}

// Validate checks the id, the name, the views and the key. Whether Spent
// fits the lease depends on the state and is checked by Apply.
func (c ReturnLease) Validate() error {
	if err := validLeaseID(c.ID); err != nil {
		return err
	}
	if err := ValidName(c.Viewer); err != nil {
		return fmt.Errorf("viewer: %w", err)
	}
	if c.Spent < 0 || c.Spent > MaxViews {
		return fmt.Errorf("%w: %d views spent, want 0 to %d", ErrInvalid, c.Spent, MaxViews)
	}
	return validKey(c.IdemKey)
}

func (c TakeLease) appendBody(b []byte) []byte {
	b = appendID(b, c.ID)
	b = appendID(b, c.Image)
	b = appendStr(b, c.Viewer)
	b = appendID(b, c.Device)
	b = appendU32(b, uint32(c.Views))
	b = appendU64(b, uint64(c.Issued.UnixNano()))
	b = appendU64(b, uint64(c.Expires.UnixNano()))
	return appendStr(b, c.IdemKey)
}

func (c ReturnLease) appendBody(b []byte) []byte {
	b = appendID(b, c.ID)
	b = appendStr(b, c.Viewer)
	b = appendU32(b, uint32(c.Spent))
	return appendStr(b, c.IdemKey)
}

func (s *State) takeLease(c TakeLease) Outcome {
	img, ok := s.image(c.Image)
	if !ok {
		return Outcome{ID: c.Image, Err: fmt.Errorf("%w: %s", ErrUnknownImage, c.Image)}
	}
	if c.Viewer == img.owner {
		return Outcome{ID: c.Image, Err: fmt.Errorf("%w: %q owns %s; the owner views without a lease", ErrNotAllowed, c.Viewer, c.Image)}
	}
	i, ok := find(img.viewers, c.Viewer)
	switch {
	case !ok:
		return Outcome{ID: c.Image, Err: fmt.Errorf("%w: %q is not a viewer of %s", ErrNotAllowed, c.Viewer, c.Image)}
	case img.viewers[i].n <= 0:
		return Outcome{ID: c.Image, Err: fmt.Errorf("%w: %q has no views of %s left to lease", ErrNoViewsLeft, c.Viewer, c.Image)}
	}
	if _, ok := s.t.leases.Get(&Lease{ID: c.ID}); ok {
		return Outcome{ID: c.Image, Err: fmt.Errorf("%w: lease id %s is taken", ErrInvalid, c.ID)}
	}
	if n, _ := s.leased(c.Image, c.Viewer); n >= MaxLeasesPerViewer {
		return Outcome{ID: c.Image, Err: fmt.Errorf("%w: %q holds %d leases on %s, at most %d; return one first", ErrInvalid, c.Viewer, n, c.Image, MaxLeasesPerViewer)}
	}
	img = s.imageFor(img)
	left := img.viewers[i].n
	n := min(c.Views, left)
	img.viewers[i].n = left - n
	img.version++
	s.addLease(&Lease{
		ID: c.ID, Image: img.id, Viewer: img.viewers[i].name, Device: c.Device, Views: n,
		Issued: c.Issued.UTC(), Expires: c.Expires.UTC(),
	})
	return Outcome{ID: c.Image, Version: img.version, ViewsLeft: left - n, Leased: n}
}

func (s *State) returnLease(c ReturnLease) Outcome {
	l, ok := s.t.leases.Get(&Lease{ID: c.ID})
	if !ok {
		return Outcome{Err: fmt.Errorf("%w: %s", ErrUnknownLease, c.ID)}
	}
	if c.Viewer != l.Viewer {
		return Outcome{ID: l.Image, Err: fmt.Errorf("%w: lease %s is %q's, not %q's", ErrNotAllowed, c.ID, l.Viewer, c.Viewer)}
	}
	if c.Spent > l.Views {
		return Outcome{ID: l.Image, Err: fmt.Errorf("%w: %d views reported spent of a lease of %d", ErrInvalid, c.Spent, l.Views)}
	}
	s.deleteLease(l)
	img, ok := s.image(l.Image)
	if !ok {
		return Outcome{ID: l.Image}
	}
	img = s.imageFor(img)
	if c.Spent > 0 {
		spent, _ := get(img.offline, l.Viewer)
		img.offline = set(img.offline, l.Viewer, spent+c.Spent)
	}
	out := Outcome{ID: l.Image}
	if i, listed := find(img.viewers, l.Viewer); listed && !l.Revoked {
		out.Returned = l.Views - c.Spent
		img.viewers[i].n += out.Returned
	}
	img.version++
	out.Version = img.version
	out.ViewsLeft, _ = get(img.viewers, l.Viewer)
	return out
}

// shareLeases applies Share's lease rule for one viewer of img, set to n
// views (set) or removed (!set), and returns the views left online the
// viewer is to have.
func (s *State) shareLeases(img *imageRec, viewer string, n int, set bool) int {
	count, views := s.leased(img.id, viewer)
	if count == 0 {
		return n
	}
	if set && n >= views {
		return n - views
	}
	for _, id := range seconds(s.t.leasesByImage, img.id) {
		l, _ := s.t.leases.Get(&Lease{ID: id})
		if l.Viewer == viewer && !l.Revoked {
			r := *l
			r.Revoked = true
			s.t.leases.ReplaceOrInsert(&r)
		}
	}
	return n
}

// leased returns how many unrevoked leases viewer holds on image, and their
// views.
func (s *State) leased(image, viewer string) (count, views int) {
	for _, id := range seconds(s.t.leasesByImage, image) {
		l, _ := s.t.leases.Get(&Lease{ID: id})
		if l.Viewer == viewer && !l.Revoked {
			count++
			views += l.Views
		}
	}
	return count, views
}

func (s *State) addLease(l *Lease) {
	s.t.leases.ReplaceOrInsert(l)
	s.t.leasesByImage.ReplaceOrInsert(pair{l.Image, l.ID})
	s.t.leasesByDevice.ReplaceOrInsert(pair{l.Device, l.ID})
}

func (s *State) deleteLease(l *Lease) {
	s.t.leases.Delete(l)
	s.t.leasesByImage.Delete(pair{l.Image, l.ID})
	s.t.leasesByDevice.Delete(pair{l.Device, l.ID})
}

// Lease returns a copy of lease id.
func (s *State) Lease(id string) (Lease, bool) {
	l, ok := s.t.leases.Get(&Lease{ID: id})
	if !ok {
		return Lease{}, false
	}
	return *l, true
}

// LeasesOf returns copies of the leases of image, revoked ones included,
// sorted by ID.
func (s *State) LeasesOf(image string) []Lease {
	return s.leasesIn(seconds(s.t.leasesByImage, image))
}

// LeasesOfDevice returns copies of the leases a device holds, revoked ones
// included, sorted by ID.
func (s *State) LeasesOfDevice(device string) []Lease {
	return s.leasesIn(seconds(s.t.leasesByDevice, device))
}

func (s *State) leasesIn(ids []string) []Lease {
	var out []Lease
	for _, id := range ids {
		l, _ := s.t.leases.Get(&Lease{ID: id})
		out = append(out, *l)
	}
	return out
}

// LeasesOfViewer returns copies of viewer's leases on every image, revoked
// ones included, sorted by image then ID. It reads the leases of the
// images viewer is listed on, and those of images viewer was taken off
// while holding a lease (revoked, until returned) by scanning every
// lease; it is for tests and tools, not for a request's path.
func (s *State) LeasesOfViewer(viewer string) []Lease {
	var out []Lease
	s.t.leases.Ascend(func(l *Lease) bool {
		if l.Viewer == viewer {
			out = append(out, *l)
		}
		return true
	})
	slices.SortFunc(out, func(a, b Lease) int { return cmp.Or(cmp.Compare(a.Image, b.Image), cmp.Compare(a.ID, b.ID)) })
	return out
}
