package cluster

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/cluster/registry"
)

const backupPassword = "a password kept in the backup"

// backupHash is the password hash of every user of these tests, made once:
// a hash takes tens of milliseconds.
var backupHash = sync.OnceValue(func() string {
	h, err := registry.HashPassword(registry.DefaultArgon2, rand.Reader, backupPassword)
	if err != nil {
		panic(err)
	}
	return h
})

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// smallRegistry is a registry with users, images, a view spent and a
// lease, applied in order from index 1.
func smallRegistry(t testing.TB) *registry.State {
	t.Helper()
	s := registry.NewState()
	var index uint64
	apply := func(cmd registry.Command) {
		index++
		if out := s.Apply(index, cmd); out.Err != nil {
			t.Fatalf("%T at %d: %v", cmd, index, out.Err)
		}
	}
	for _, u := range []string{"ada", "bo", "cy"} {
		apply(registry.RegisterUser{Name: u, PasswordHash: backupHash()})
	}
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ids := []string{randomHex(t), randomHex(t), randomHex(t)}
	for i, id := range ids {
		apply(registry.PutImage{ID: id, Owner: "ada", Viewers: map[string]int{"bo": 3 + i, "cy": 1}, Created: created, Digest: make([]byte, registry.DigestLen)})
	}
	apply(registry.View{ID: ids[0], Viewer: "bo"})
	apply(registry.TakeLease{ID: randomHex(t), Image: ids[1], Viewer: "bo", Device: randomHex(t), Views: 2,
		Issued: created, Expires: created.Add(time.Hour)})
	return s
}

func backupOf(t testing.TB, s *registry.State) ([]byte, BackupInfo) {
	t.Helper()
	var buf bytes.Buffer
	info, err := writeBackup(&buf, s.Freeze(), time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), info
}

// registryIn returns the registry snapshot within a backup, which must be
// sound.
func registryIn(t testing.TB, b []byte) []byte {
	t.Helper()
	info, err := CheckBackup(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return b[backupHeaderLen : int64(backupHeaderLen)+info.RegistrySize]
}

func TestABackupHoldsTheRegistryAtItsIndexWithItsChecksums(t *testing.T) {
	s := smallRegistry(t)
	b, wrote := backupOf(t, s)
	info, err := CheckBackup(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if info != wrote {
		t.Fatalf("the check reads %+v; the writer said %+v", info, wrote)
	}
	if info.Index != s.LastApplied() || info.Size != int64(len(b)) || !info.Saved.Equal(time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("info %+v for a registry at %d in %d bytes", info, s.LastApplied(), len(b))
	}
	if !bytes.Equal(registryIn(t, b), s.Snapshot()) {
		t.Fatal("the registry within the backup is not the state's snapshot, byte for byte")
	}
	if sum := sha256.Sum256(b[:len(b)-sha256.Size]); sum != info.SHA256 || hex.EncodeToString(sum[:]) != info.Checksum() {
		t.Fatalf("the checksum %s is not the SHA-256 of the file before it, %x", info.Checksum(), sum)
	}
	snap := s.Snapshot()
	if crc := uint32(snap[len(snap)-4])<<24 | uint32(snap[len(snap)-3])<<16 | uint32(snap[len(snap)-2])<<8 | uint32(snap[len(snap)-1]); crc != info.RegistryCRC {
		t.Fatalf("registry CRC %08x, the snapshot ends in %08x", info.RegistryCRC, crc)
	}
}

func TestEveryDamagedOrCutBackupIsRefused(t *testing.T) {
	b, _ := backupOf(t, smallRegistry(t))
	check := func(what string, d []byte) {
		t.Helper()
		if _, err := CheckBackup(bytes.NewReader(d), int64(len(d))); !errors.Is(err, ErrBadBackup) {
			t.Fatalf("%s: %v; want ErrBadBackup", what, err)
		}
	}
	for i := range b {
		d := bytes.Clone(b)
		d[i] ^= 0x10
		check(fmt.Sprintf("byte %d of %d flipped", i, len(b)), d)
	}
	for n := range len(b) {
		check(fmt.Sprintf("cut to %d bytes of %d", n, len(b)), b[:n])
	}
	check("a byte added", append(bytes.Clone(b), 0))
	check("another file", []byte("VEILREG\x04 is the start of a registry snapshot, not of a backup file; and this is not either"))
}

func TestRebaseChangesOnlyTheIndexAndTheCRC(t *testing.T) {
	s := smallRegistry(t)
	orig := s.Snapshot()
	d := bytes.Clone(orig)
	rebase(d, 1000)
	got := registry.NewState()
	if err := got.Restore(d); err != nil {
		t.Fatalf("a rebased snapshot does not restore: %v", err)
	}
	if got.LastApplied() != 1000 {
		t.Fatalf("rebased to 1000, the state says %d", got.LastApplied())
	}
	rebase(d, s.LastApplied())
	if !bytes.Equal(d, orig) {
		t.Fatal("rebased there and back, the snapshot differs")
	}
}

func FuzzCheckBackup(f *testing.F) {
	b, _ := backupOf(f, smallRegistry(f))
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte(backupMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := CheckBackup(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrBadBackup) {
				t.Fatalf("refused with %v, not ErrBadBackup", err)
			}
			return
		}
		if sha256.Sum256(b[:len(b)-sha256.Size]) != info.SHA256 || info.Size != int64(len(b)) {
			t.Fatalf("accepted with %+v", info)
		}
	})
}

// saveOver fetches a backup from n with a plain HTTP client.
func saveOver(t testing.TB, n *Node, token string) ([]byte, http.Header) {
	t.Helper()
	r := call(t, "GET", "http://"+n.APIAddr()+RouteSnapshot, nil, map[string]string{"Authorization": "Bearer " + token})
	if r.status != http.StatusOK {
		t.Fatalf("save at %s: %d %s", n.Name(), r.status, r.body)
	}
	return r.body, r.header
}

func restoreOver(t testing.TB, n *Node, token string, b []byte, force bool) reply {
	t.Helper()
	u := "http://" + n.APIAddr() + RouteRestore
	if force {
		u += "?force=true"
	}
	return call(t, "POST", u, b, map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/octet-stream"})
}

// registryBytes is the snapshot of n's registry now.
func registryBytes(n *Node) []byte {
	var b []byte
	n.ReadRegistry(func(s *registry.State) { b = s.Snapshot() })
	return b
}

// loadOn runs writes on the coordinator until stopped: views of the
// filled images, leases, and new users with images.
type loadOn struct {
	stop chan struct{}
	wg   sync.WaitGroup
	done atomic.Int64
}

func startLoad(t *testing.T, coord *Node, f FillRequest, images int) *loadOn {
	l := &loadOn{stop: make(chan struct{})}
	now := time.Now().UTC()
	l.wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			img := f.image(i%images, now)
			viewer := FillUser((i%images%f.Users + 1) % f.Users)
			var cmd registry.Command = registry.View{ID: img.ID, Viewer: viewer}
			if i%5 == 4 {
				cmd = registry.TakeLease{ID: randomHex(t), Image: img.ID, Viewer: viewer, Device: randomHex(t), Views: 1,
					Issued: now, Expires: now.Add(time.Hour)}
			}
			coord.SubmitForTest(cmd) // refusals (no views left, too many leases) are load too
			l.done.Add(1)
		}
	})
	l.wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			name := fmt.Sprintf("load%04d", i)
			coord.SubmitForTest(registry.RegisterUser{Name: name, PasswordHash: backupHash()})
			coord.SubmitForTest(registry.PutImage{ID: randomHex(t), Owner: name, Viewers: map[string]int{FillUser(0): 2},
				Created: now, Digest: make([]byte, registry.DigestLen)})
			l.done.Add(2)
		}
	})
	return l
}

func (l *loadOn) end() {
	close(l.stop)
	l.wg.Wait()
}

// The goal: save under load, wipe every node, restore into a new
// cluster with the same master key, and the registry is the one saved,
// byte for byte, on every node: logins, views left and leases as at the
// backup's index. Both routes are called with a plain HTTP client, at a
// node that passes them on to the coordinator.
func TestABackupSavedUnderLoadRestoresTheRegistryByteForByteOnEveryNode(t *testing.T) {
	t.Setenv(FillEnv, "1")
	ForEachMode(t, func(t *testing.T, mode Mode) {
		a := NewTestClusterMode(t, mode, 3, nil)
		coord := a.WaitCoordinator(30 * time.Second)
		follower := a.NotCoordinator(coord)
		token := AdminToken(a.Key)
		const users, images = 40, 200
		f := FillRequest{Users: users, UserTo: users, Viewers: 3, Views: 5, PasswordHash: backupHash(), Seed: 9}
		for _, step := range []FillRequest{f, {Users: users, ImageTo: images, Viewers: 3, Views: 5, Seed: 9}} {
			if r := fillCall(t, coord, step, token); r.status != http.StatusOK {
				t.Fatalf("fill: %d %s", r.status, r.body)
			}
		}
		lease := registry.TakeLease{ID: randomHex(t), Image: f.image(0, time.Time{}).ID, Viewer: FillUser(1), Device: randomHex(t),
			Views: 2, Issued: time.Now().UTC(), Expires: time.Now().UTC().Add(time.Hour)}
		if out, err := coord.SubmitForTest(lease); err != nil || out.Err != nil {
			t.Fatalf("a lease: %v %v", err, out.Err)
		}

		load := startLoad(t, coord, f, images)
		a.WaitFor(30*time.Second, "the load to be under way", func() bool { return load.done.Load() >= 40 })
		b, h := saveOver(t, follower, token)
		load.end()
		info, err := CheckBackup(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("the backup saved does not check: %v", err)
		}
		if h.Get(hdrBackupIndex) != strconv.FormatUint(info.Index, 10) {
			t.Fatalf("the reply says index %s, the file %d", h.Get(hdrBackupIndex), info.Index)
		}
		saved := registryIn(t, b)
		at := registry.NewState()
		if err := at.Restore(saved); err != nil {
			t.Fatal(err)
		}
		t.Logf("saved %d bytes at index %d with %d writes of load done; the cluster went on to %d",
			len(b), info.Index, load.done.Load(), coord.repl.commitIndex())

		// Every node wiped: a new cluster, new data directories, the same key.
		for _, n := range a.Nodes {
			n.Close()
		}
		c := NewTestClusterMode(t, mode, 3, func(_ int, cfg *Config) { cfg.Key = a.Key })
		coord = c.WaitCoordinator(30 * time.Second)
		r := restoreOver(t, c.NotCoordinator(coord), token, b, false)
		if r.status != http.StatusOK {
			t.Fatalf("restore: %d %s", r.status, r.body)
		}
		var res RestoreReply
		if err := json.Unmarshal(r.body, &res); err != nil {
			t.Fatal(err)
		}
		if res.Node != coord.Name() || res.Index != info.Index || res.BackupIndex != info.Index || res.Rebased || res.SHA256 != info.Checksum() {
			t.Fatalf("restore answered %+v; want %s at the backup's index %d", res, coord.Name(), info.Index)
		}
		c.WaitFor(60*time.Second, "every node to hold the registry saved, byte for byte", func() bool {
			for _, n := range c.Nodes {
				if !bytes.Equal(registryBytes(n), saved) {
					return false
				}
			}
			return true
		})

		// Logins, views left and leases are the backup's.
		for _, n := range c.Nodes {
			if r := login(t, http.DefaultClient, n, FillUser(7), backupPassword, nil); r.status != http.StatusOK {
				t.Fatalf("login at %s after the restore: %d %s", n.Name(), r.status, r.body)
			}
		}
		img, viewer := f.image(3, time.Time{}).ID, FillUser(4)
		want, ok := at.ViewsLeft(img, viewer)
		if !ok {
			t.Fatalf("%s is not a viewer of %s in the backup", viewer, img)
		}
		wantLease, _ := at.Lease(lease.ID)
		coord.ReadRegistry(func(s *registry.State) {
			if got, _ := s.ViewsLeft(img, viewer); got != want {
				t.Errorf("%s has %d views of %s left; the backup says %d", viewer, got, img, want)
			}
			if got, ok := s.Lease(lease.ID); !ok || fmt.Sprint(got) != fmt.Sprint(wantLease) {
				t.Errorf("lease %s is %+v (%v); the backup holds %+v", lease.ID, got, ok, wantLease)
			}
		})

		// The restored cluster takes writes, and keeps them across a restart.
		if out, err := coord.SubmitForTest(registry.View{ID: img, Viewer: viewer}); err != nil || out.Err != nil {
			t.Fatalf("a view after the restore: %v %v", err, out.Err)
		}
		c.RestartAll()
		coord = c.WaitCoordinator(30 * time.Second)
		c.WaitFor(30*time.Second, "every node to hold the same registry after a restart", func() bool {
			first := registryBytes(c.Nodes[0])
			for _, n := range c.Nodes[1:] {
				if !bytes.Equal(registryBytes(n), first) {
					return false
				}
			}
			return true
		})
		for _, n := range c.Nodes {
			n.ReadRegistry(func(s *registry.State) {
				if got, _ := s.ViewsLeft(img, viewer); got != want-1 {
					t.Errorf("%s after a restart: %d views left; want %d", n.Name(), got, want-1)
				}
			})
		}
	})
}

// Bad input changes nothing: a damaged or cut backup is refused, and so is
// a restore into a cluster that holds data, unless forced. The checks are
// the same code in both modes (only the install differs), so this runs in
// Bully mode, where a forced restore into a cluster further along must
// also rebase the registry's index.
func TestARestoreRefusesADamagedBackupOrAClusterWithDataUnlessForced(t *testing.T) {
	t.Setenv(FillEnv, "1")
	a := NewTestCluster(t, 1, nil)
	token := AdminToken(a.Key)
	fillBoth := func(n *Node, users, images int, seed uint64) {
		t.Helper()
		for _, step := range []FillRequest{
			{Users: users, UserTo: users, PasswordHash: backupHash(), Seed: seed},
			{Users: users, ImageTo: images, Viewers: 1, Views: 3, Seed: seed},
		} {
			if r := fillCall(t, n, step, token); r.status != http.StatusOK {
				t.Fatalf("fill: %d %s", r.status, r.body)
			}
		}
	}
	fillBoth(a.WaitCoordinator(30*time.Second), 10, 20, 1)
	backup, _ := saveOver(t, a.Nodes[0], token)
	saved := registryIn(t, backup)
	a.Nodes[0].Close()

	c := NewTestCluster(t, 3, func(_ int, cfg *Config) { cfg.Key = a.Key })
	coord := c.WaitCoordinator(30 * time.Second)
	fillBoth(coord, 20, 100, 2)
	c.WaitFor(30*time.Second, "every node to hold the registry", func() bool {
		for _, n := range c.Nodes {
			if !bytes.Equal(registryBytes(n), registryBytes(coord)) {
				return false
			}
		}
		return true
	})
	before := registryBytes(coord)
	unchanged := func(what string) {
		t.Helper()
		for _, n := range c.Nodes {
			if !bytes.Equal(registryBytes(n), before) {
				t.Fatalf("%s changed the registry of %s", what, n.Name())
			}
			if _, err := os.Stat(filepath.Join(n.cfg.DataDir, restoreName)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s left %s in the data directory of %s (%v)", what, restoreName, n.Name(), err)
			}
		}
	}

	flipped := bytes.Clone(backup)
	flipped[len(flipped)/2] ^= 1
	sumFlipped := bytes.Clone(backup)
	sumFlipped[len(sumFlipped)-1] ^= 1
	cases := []struct {
		name string
		body []byte
	}{
		{"a byte of the registry flipped", flipped},
		{"a byte of the checksum flipped", sumFlipped},
		{"cut short by a byte", backup[:len(backup)-1]},
		{"cut in half", backup[:len(backup)/2]},
		{"empty", nil},
		{"the registry without the backup's frame", saved},
	}
	for _, tc := range cases {
		for _, force := range []bool{false, true} {
			r := restoreOver(t, coord, token, tc.body, force)
			if force && (r.status != http.StatusBadRequest || errorCode(t, r) != "bad_backup") {
				t.Fatalf("%s, forced: %d %s; want 400 bad_backup", tc.name, r.status, r.body)
			}
			if !force && (r.status != http.StatusConflict || errorCode(t, r) != "not_empty") {
				// Refused for the data before the body is read.
				t.Fatalf("%s: %d %s; want 409 not_empty", tc.name, r.status, r.body)
			}
			unchanged(tc.name)
		}
	}
	if r := restoreOver(t, c.NotCoordinator(coord), "not-the-token", backup, true); r.status != http.StatusUnauthorized {
		t.Fatalf("a restore without the admin token: %d %s", r.status, r.body)
	}
	r := restoreOver(t, c.NotCoordinator(coord), token, backup, false)
	var refusal struct {
		Users, Images int
	}
	if r.status != http.StatusConflict || errorCode(t, r) != "not_empty" || json.Unmarshal(r.body, &refusal) != nil || refusal.Users != 20 || refusal.Images != 100 {
		t.Fatalf("a restore into a cluster with data: %d %s; want 409 not_empty with 20 users and 100 images", r.status, r.body)
	}
	unchanged("a restore not forced")

	commit := coord.repl.commitIndex()
	r = restoreOver(t, c.NotCoordinator(coord), token, backup, true)
	var res RestoreReply
	if r.status != http.StatusOK || json.Unmarshal(r.body, &res) != nil {
		t.Fatalf("a forced restore: %d %s", r.status, r.body)
	}
	if !res.Rebased || res.Index != commit+1 || res.ReplacedUsers != 20 || res.ReplacedImages != 100 || res.Users != 10 || res.Images != 20 || len(res.Holding) < 2 {
		t.Fatalf("a forced restore into a cluster at %d answered %+v", commit, res)
	}
	want := bytes.Clone(saved)
	rebase(want, res.Index)
	c.WaitFor(30*time.Second, "every node to hold the backup's registry at the index it was rebased to", func() bool {
		for _, n := range c.Nodes {
			if !bytes.Equal(registryBytes(n), want) {
				return false
			}
		}
		return true
	})
	if r := login(t, http.DefaultClient, coord, FillUser(3), backupPassword, nil); r.status != http.StatusOK {
		t.Fatalf("a user of the backup logs in: %d %s", r.status, r.body)
	}
	if r := login(t, http.DefaultClient, coord, FillUser(15), backupPassword, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("a user the restore replaced logs in: %d %s", r.status, r.body)
	}
	if out, err := coord.SubmitForTest(registry.View{ID: FillRequest{Users: 10, Seed: 1}.image(0, time.Time{}).ID, Viewer: FillUser(1)}); err != nil || out.Err != nil {
		t.Fatalf("a view after a rebased restore: %v %v", err, out.Err)
	}
}

// reseal sets the checksums of a backup whose registry was changed: the
// registry's CRC-32C and the file's SHA-256.
func reseal(b []byte) {
	reg := b[backupHeaderLen : len(b)-backupTrailerLen]
	rebase(reg, binary.BigEndian.Uint64(reg[8:16]))
	sum := sha256.Sum256(b[:len(b)-sha256.Size])
	copy(b[len(b)-sha256.Size:], sum[:])
}

// A backup whose checksums hold but whose registry breaks a rule (here a
// user's name) is refused before anything changes, in both modes: in Raft
// mode a state machine that cannot restore what Raft wrote would panic.
func TestARestoreChecksEveryRuleOfTheRegistryBeforeAnythingChanges(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 1, nil)
		n := c.WaitCoordinator(30 * time.Second)
		token := AdminToken(c.Key)
		s := smallRegistry(t)
		good, info := backupOf(t, s)
		forged := bytes.Clone(good)
		forged[backupHeaderLen+8+8+4+2] = 0 // the first byte of the first user's name
		reseal(forged)
		if _, err := CheckBackup(bytes.NewReader(forged), int64(len(forged))); err != nil {
			t.Fatalf("the forged backup's checksums do not hold: %v", err)
		}
		before, commit := registryBytes(n), n.repl.commitIndex()
		for _, force := range []bool{false, true} {
			r := restoreOver(t, n, token, forged, force)
			if r.status != http.StatusBadRequest || errorCode(t, r) != "bad_backup" {
				t.Fatalf("a forged backup (force %v): %d %s; want 400 bad_backup", force, r.status, r.body)
			}
			if !bytes.Equal(registryBytes(n), before) || n.repl.commitIndex() != commit {
				t.Fatalf("a forged backup changed the registry (commit %d, was %d)", n.repl.commitIndex(), commit)
			}
		}
		if r := restoreOver(t, n, token, good, false); r.status != http.StatusOK {
			t.Fatalf("the backup itself: %d %s", r.status, r.body)
		}
		if !bytes.Equal(registryBytes(n), s.Snapshot()) || n.repl.commitIndex() < info.Index {
			t.Fatalf("the registry restored is not the backup's (commit %d, backup %d)", n.repl.commitIndex(), info.Index)
		}
		if r := login(t, http.DefaultClient, n, "bo", backupPassword, nil); r.status != http.StatusOK {
			t.Fatalf("login after the restore: %d %s", r.status, r.body)
		}
	})
}

func TestASaveNeedsTheAdminTokenAndAnEmptyClusterSavesAnEmptyRegistry(t *testing.T) {
	c := NewTestCluster(t, 1, nil)
	n := c.WaitCoordinator(30 * time.Second)
	for _, token := range []string{"", "not-the-token", internalToken(c.Key)} {
		r := call(t, "GET", "http://"+n.APIAddr()+RouteSnapshot, nil, map[string]string{"Authorization": "Bearer " + token})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("a save with the token %q: %d %s", token, r.status, r.body)
		}
	}
	b, _ := saveOver(t, n, AdminToken(c.Key))
	if !bytes.Equal(registryIn(t, b), registryBytes(n)) {
		t.Fatal("the empty registry saved is not the node's")
	}
}

// With TLS, a save and a restore called at a follower reach the
// coordinator over mutual TLS, and the client trusts the authority alone.
func TestBackupsGoToTheCoordinatorOverTLS(t *testing.T) {
	p := newTestPKI(t)
	a := NewTestCluster(t, 3, func(_ int, cfg *Config) { cfg.TLS = p.node(cfg.Name) })
	coord := a.WaitCoordinator(30 * time.Second)
	if out, err := coord.SubmitForTest(registry.RegisterUser{Name: "ada", PasswordHash: backupHash()}); err != nil || out.Err != nil {
		t.Fatalf("register: %v %v", err, out.Err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: p.user(nil)}}
	do := func(method string, n *Node, body []byte) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, n.APIURL()+map[string]string{"GET": RouteSnapshot, "POST": RouteRestore}[method], bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+AdminToken(a.Key))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	status, backup := do("GET", a.NotCoordinator(coord), nil)
	if status != http.StatusOK {
		t.Fatalf("save over TLS: %d %s", status, backup)
	}
	saved := registryIn(t, backup)
	for _, n := range a.Nodes {
		n.Close()
	}

	c := NewTestCluster(t, 3, func(_ int, cfg *Config) { cfg.TLS, cfg.Key = p.node(cfg.Name), a.Key })
	coord = c.WaitCoordinator(30 * time.Second)
	if status, body := do("POST", c.NotCoordinator(coord), backup); status != http.StatusOK {
		t.Fatalf("restore over TLS: %d %s", status, body)
	}
	c.WaitFor(30*time.Second, "every node to hold the registry saved", func() bool {
		for _, n := range c.Nodes {
			if !bytes.Equal(registryBytes(n), saved) {
				return false
			}
		}
		return true
	})
}
