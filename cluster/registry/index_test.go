package registry

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// checkIndexes checks every read that an index answers against a scan of
// the tables: images by owner and by viewer, peers by user, online and by
// image held, leases by image and by device, keys by index.
func checkIndexes(s *State) error {
	imgs := images(s)
	names := map[string]bool{}
	s.t.users.Ascend(func(u *User) bool { names[u.Name] = true; return true })
	for _, img := range imgs {
		names[img.Owner] = true
		for v := range img.Viewers {
			names[v] = true
		}
	}
	byAge := func(a, b Image) int { return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID)) }
	sorted := slices.SortedFunc(maps.Values(imgs), byAge)
	for name := range names {
		var owned []Image
		var shared []Shared
		for _, img := range sorted {
			if img.Owner == name {
				owned = append(owned, img)
			}
			if left, ok := img.Viewers[name]; ok {
				shared = append(shared, Shared{ID: img.ID, Owner: img.Owner, ViewsLeft: left, Created: img.Created})
			}
		}
		if got := s.ImagesOwnedBy(name); !reflect.DeepEqual(got, owned) {
			return fmt.Errorf("ImagesOwnedBy(%s) = %v, a scan gives %v", name, got, owned)
		}
		if got := s.SharedWith(name); !slices.Equal(got, shared) {
			return fmt.Errorf("SharedWith(%s) = %v, a scan gives %v", name, got, shared)
		}
	}
	viewers := 0
	for _, img := range imgs {
		viewers += len(img.Viewers)
	}
	if s.t.byOwner.Len() != len(imgs) || s.t.byViewer.Len() != viewers {
		return fmt.Errorf("indexes hold %d owners and %d viewers, the images %d and %d", s.t.byOwner.Len(), s.t.byViewer.Len(), len(imgs), viewers)
	}

	all := s.Peers()
	var online []Peer
	holders := map[string][]Peer{}
	byUser := map[string][]Peer{}
	for _, p := range all { // by user, then device
		if p.Online {
			online = append(online, p)
		}
	}
	for _, p := range slices.SortedFunc(slices.Values(all), func(a, b Peer) int { return cmp.Compare(a.Device, b.Device) }) {
		byUser[p.User] = append(byUser[p.User], p)
		if p.Online {
			for _, id := range p.Holds {
				holders[id] = append(holders[id], p)
			}
		}
	}
	if got := s.OnlinePeers(); !reflect.DeepEqual(got, nonNil(online)) {
		return fmt.Errorf("OnlinePeers = %v, a scan gives %v", got, online)
	}
	for user, want := range byUser {
		if got := s.PeersOf(user); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("PeersOf(%s) = %v, a scan gives %v", user, got, want)
		}
	}
	n := 0
	for id, want := range holders {
		n += len(want)
		if got := s.HoldersOf(id); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("HoldersOf(%s) = %v, a scan gives %v", id, got, want)
		}
	}
	if s.t.holders.Len() != n || s.t.peersByUser.Len() != len(all) {
		return fmt.Errorf("indexes hold %d holders and %d peers, a scan %d and %d", s.t.holders.Len(), s.t.peersByUser.Len(), n, len(all))
	}

	ls := leases(s)
	byImage, byDevice := map[string][]Lease{}, map[string][]Lease{}
	for _, id := range slices.Sorted(maps.Keys(ls)) {
		l := ls[id]
		byImage[l.Image] = append(byImage[l.Image], l)
		byDevice[l.Device] = append(byDevice[l.Device], l)
	}
	for image, want := range byImage {
		if got := s.LeasesOf(image); !slices.Equal(got, want) {
			return fmt.Errorf("LeasesOf(%s) = %v, a scan gives %v", image, got, want)
		}
	}
	for device, want := range byDevice {
		if got := s.LeasesOfDevice(device); !slices.Equal(got, want) {
			return fmt.Errorf("LeasesOfDevice(%s) = %v, a scan gives %v", device, got, want)
		}
	}
	if s.t.leasesByImage.Len() != len(ls) || s.t.leasesByDevice.Len() != len(ls) {
		return fmt.Errorf("lease indexes hold %d and %d, the table %d", s.t.leasesByImage.Len(), s.t.leasesByDevice.Len(), len(ls))
	}

	if s.t.keysByIndex.Len() != s.t.keys.Len() {
		return fmt.Errorf("keys by index hold %d, the table %d", s.t.keysByIndex.Len(), s.t.keys.Len())
	}
	var err error
	s.t.keysByIndex.Ascend(func(a keyAge) bool {
		rec, ok := s.key(a.ref)
		if !ok || rec.out.Index != a.index {
			err = fmt.Errorf("key %v at index %d: the table has %+v, %v", a.ref, a.index, rec, ok)
		}
		return err == nil
	})
	return err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// randomPeerCommand draws a peer coming online, refreshing what it offers,
// or going down, among three devices of the four users.
func randomPeerCommand(r *rand.Rand, index uint64) Command {
	users := []string{"ann", "bob", "cy", "dee"}
	device := id(100 + r.IntN(3))
	at := t0.Add(time.Duration(index) * time.Second)
	if r.IntN(3) == 0 {
		return PeerDown{Device: device, At: at}
	}
	var holds []string
	for i := range 4 {
		if r.IntN(2) == 0 {
			holds = append(holds, id(i))
		}
	}
	return PeerUp{User: users[r.IntN(len(users))], Device: device, Key: bytes.Repeat([]byte{byte(index)}, PeerKeyLen),
		Addr: fmt.Sprintf("10.0.0.%d:7000", r.IntN(3)), Holds: holds, At: at}
}

// TestRandomCommandsKeepTheIndexes applies seeded random commands of every
// kind and checks after each that every index agrees with a scan; it
// freezes the state now and then and checks that the frozen copy, read
// while the state goes on, still snapshots to the bytes it had when frozen.
func TestRandomCommandsKeepTheIndexes(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 2))
			s := NewState()
			for i, name := range []string{"ann", "bob", "cy", "dee"} {
				s.Apply(uint64(i+1), RegisterUser{Name: name, PasswordHash: testHash})
			}
			type frozen struct {
				copy *State
				snap []byte
			}
			var held []frozen
			for index := s.LastApplied() + 1; index <= 500; index++ {
				var cmd Command
				switch r.IntN(3) {
				case 0:
					cmd = randomCommand(r, index)
				case 1:
					cmd = randomLeaseCommand(r, s, index)
				default:
					cmd = randomPeerCommand(r, index)
				}
				out := s.Apply(index, cmd)
				if err := checkIndexes(s); err != nil {
					t.Fatalf("seed %d index %d: after %#v (%+v): %v", seed, index, cmd, out, err)
				}
				if r.IntN(25) == 0 {
					c := s.Freeze()
					held = append(held, frozen{c, c.Snapshot()})
				}
				for _, f := range held {
					if f.copy.LastApplied() == index-1 && !bytes.Equal(f.copy.Snapshot(), f.snap) {
						t.Fatalf("seed %d index %d: %#v changed a copy frozen before it", seed, index, cmd)
					}
				}
			}
			for _, f := range held {
				if !bytes.Equal(f.copy.Snapshot(), f.snap) {
					t.Fatalf("seed %d: a copy frozen at %d changed", seed, f.copy.LastApplied())
				}
				if err := checkIndexes(f.copy); err != nil {
					t.Fatalf("seed %d: a copy frozen at %d: %v", seed, f.copy.LastApplied(), err)
				}
			}
		})
	}
}
