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
	img, ok := s.images[c.Image]
	if !ok {
		return Outcome{ID: c.Image, Err: fmt.Errorf("%w: %s", ErrUnknownImage, c.Image)}
	}
	if c.Viewer == img.Owner {
		return Outcome{ID: c.Image, Err: fmt.Errorf("%w: %q owns %s; the owner views without a lease", ErrNotAllowed, c.Viewer, c.Image)}
	}
	left, ok := img.Viewers[c.Viewer]
	switch {
	case !ok:
		return Outcome{ID: c.Image, Err: fmt.Errorf("%w: %q is not a viewer of %s", ErrNotAllowed, c.Viewer, c.Image)}
	case left <= 0:
		return Outcome{ID: c.Image, Err: fmt.Errorf("%w: %q has no views of %s left to lease", ErrNoViewsLeft, c.Viewer, c.Image)}
	}
	if _, ok := s.leases[c.ID]; ok {
		return Outcome{ID: c.Image, Err: fmt.Errorf("%w: lease id %s is taken", ErrInvalid, c.ID)}
	}
	if n, _ := s.leased(c.Image, c.Viewer); n >= MaxLeasesPerViewer {
		return Outcome{ID: c.Image, Err: fmt.Errorf("%w: %q holds %d leases on %s, at most %d; return one first", ErrInvalid, c.Viewer, n, c.Image, MaxLeasesPerViewer)}
	}
	n := min(c.Views, left)
	img.Viewers[c.Viewer] = left - n
	img.Version++
	s.addLease(&Lease{
		ID: c.ID, Image: c.Image, Viewer: c.Viewer, Device: c.Device, Views: n,
		Issued: c.Issued.UTC(), Expires: c.Expires.UTC(),
	})
	return Outcome{ID: c.Image, Version: img.Version, ViewsLeft: left - n, Leased: n}
}

func (s *State) returnLease(c ReturnLease) Outcome {
	l, ok := s.leases[c.ID]
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
	img, ok := s.images[l.Image]
	if !ok {
		return Outcome{ID: l.Image}
	}
	if c.Spent > 0 {
		if img.Offline == nil {
			img.Offline = map[string]int{}
		}
		img.Offline[l.Viewer] += c.Spent
	}
	out := Outcome{ID: l.Image}
	if left, listed := img.Viewers[l.Viewer]; listed && !l.Revoked {
		out.Returned = l.Views - c.Spent
		img.Viewers[l.Viewer] = left + out.Returned
	}
	img.Version++
	out.Version, out.ViewsLeft = img.Version, img.Viewers[l.Viewer]
	return out
}

// shareLeases applies Share's lease rule for one viewer of img, set to n
// views (set) or removed (!set), and returns the views left online the
// viewer is to have.
func (s *State) shareLeases(img *Image, viewer string, n int, set bool) int {
	count, views := s.leased(img.ID, viewer)
	if count == 0 {
		return n
	}
	if set && n >= views {
		return n - views
	}
	for _, l := range s.byImage[img.ID] {
		if l.Viewer == viewer {
			l.Revoked = true
		}
	}
	return n
}

// leased returns how many unrevoked leases viewer holds on image, and their
// views.
func (s *State) leased(image, viewer string) (count, views int) {
	for _, l := range s.byImage[image] {
		if l.Viewer == viewer && !l.Revoked {
			count++
			views += l.Views
		}
	}
	return count, views
}

func (s *State) addLease(l *Lease) {
	s.leases[l.ID] = l
	if s.byImage[l.Image] == nil {
		s.byImage[l.Image] = map[string]*Lease{}
	}
	s.byImage[l.Image][l.ID] = l
}

func (s *State) deleteLease(l *Lease) {
	delete(s.leases, l.ID)
	delete(s.byImage[l.Image], l.ID)
	if len(s.byImage[l.Image]) == 0 {
		delete(s.byImage, l.Image)
	}
}

// Lease returns a copy of lease id.
func (s *State) Lease(id string) (Lease, bool) {
	l, ok := s.leases[id]
	if !ok {
		return Lease{}, false
	}
	return *l, true
}

// LeasesOf returns copies of the leases of image, revoked ones included,
// sorted by ID.
func (s *State) LeasesOf(image string) []Lease {
	var out []Lease
	for _, l := range s.byImage[image] {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b Lease) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// LeasesOfViewer returns copies of viewer's leases on every image, revoked
// ones included, sorted by image then ID. It scans every lease.
func (s *State) LeasesOfViewer(viewer string) []Lease {
	var out []Lease
	for _, l := range s.leases {
		if l.Viewer == viewer {
			out = append(out, *l)
		}
	}
	slices.SortFunc(out, func(a, b Lease) int { return cmp.Or(cmp.Compare(a.Image, b.Image), cmp.Compare(a.ID, b.ID)) })
	return out
}
