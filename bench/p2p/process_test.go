package p2p

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"veil/bench/local"
)

// cutOnce forwards TCP to target and cuts the first connection after
// limit bytes have come back.
func cutOnce(t *testing.T, target string, limit int64) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		first := true
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cut := first
			first = false
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				if cut {
					io.CopyN(c, u, limit)
					return
				}
				io.Copy(c, u)
			}()
		}
	}()
	return ln.Addr().String()
}

func noisePNG(t *testing.T, side int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 31 % 251)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Between real processes: a fetch cut in the middle resumes where it
// stopped, and a request that replays another device's statement, or
// comes without one, is refused.
func TestPeerProcessesResumeACutFetchAndRefuseAReplayedStatement(t *testing.T) {
	dir := t.TempDir()
	logsOnFailure(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := local.Spawn(ctx, local.SpawnConfig{Bin: veilBin, Nodes: 3, Dir: dir, KeepDir: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := register(ctx, c.APIs(), "alice", "bob", "carol"); err != nil {
		t.Fatal(err)
	}
	port, err := local.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	proxy := cutOnce(t, listen, 20_000)
	alice, err := StartPeer(ctx, veilBin, dir, "alice", Password("alice"), c.APIs(), "--listen", listen, "--advertise", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Stop()
	bob, err := StartPeer(ctx, veilBin, dir, "bob", Password("bob"), c.APIs())
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Stop()
	veiled, id, err := alice.Client().Put(ctx, noisePNG(t, 96), nil, map[string]int{"bob": 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := bob.Client().Fetch(ctx, id, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || res.Resumed == 0 || res.Moved != int64(len(veiled)) {
		t.Fatalf("fetch: %d attempts, resumed at %d, %d bytes moved; want 2, the second resuming, %d in all", res.Attempts, res.Resumed, res.Moved, len(veiled))
	}

	// carol's device, made here, shows bob's statement (read off bob's disk,
	// as if captured) over a connection with its own key.
	var st struct {
		Statement string `json:"statement"`
	}
	b, err := os.ReadFile(filepath.Join(bob.Dir, "cloud.json"))
	if err != nil || json.Unmarshal(b, &st) != nil || st.Statement == "" {
		t.Fatalf("bob's statement: %v", err)
	}
	hc := deviceClient(t)
	for _, tt := range []struct{ name, statement string }{{"bob's statement replayed", st.Statement}, {"no statement", ""}} {
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+listen+"/p2p/v1/images/"+id, nil)
		if tt.statement != "" {
			req.Header.Set("Veil-Device", tt.statement)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "bad_statement") {
			t.Fatalf("%s: %d %s, want 401 bad_statement", tt.name, resp.StatusCode, body)
		}
	}
}

// deviceClient is an HTTPS client with a device key of its own.
func deviceClient(t *testing.T) *http.Client {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}}}
}

// Offline operation between real processes: a lease file put back brings
// no view back; a viewer who was stopped while the owner removed it comes
// back to no views (what it spent offline counted), and to more views
// where the owner raised them; an owner's change made with the whole cloud
// down waits in its peer, across a restart of the peer, and lands when the
// cloud is back.
func TestPeerProcessesKeepQuotasExactOffline(t *testing.T) {
	dir := t.TempDir()
	logsOnFailure(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, alice, bob := aliceAndBob(t, ctx, dir, "--peer-ttl", "3s")
	a, b := alice.Client(), bob.Client()
	put := func(seed uint64, views int) string {
		_, id, err := a.Put(ctx, picture(seed), nil, map[string]int{"bob": views})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := b.Fetch(ctx, id, "alice", -1); err != nil || res.Lease == nil {
			t.Fatalf("fetch %s: %v %+v", id, err, res)
		}
		return id
	}
	rolled, removed, raised := put(1, 2), put(2, 2), put(3, 1)
	code := func(err error) string {
		if pe := asPeerError(err); pe != nil {
			return pe.Code
		}
		return ""
	}

	// A rollback of the lease file.
	st, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var file string
	for _, l := range st.Leases {
		if l.Image == rolled {
			file = filepath.Join(bob.Dir, "leases", l.ID+".lease")
		}
	}
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.View(ctx, rolled); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(file, before, 0o600)
	if v, err := b.View(ctx, rolled); err != nil || v.ViewsLeft != 0 {
		t.Fatalf("after a rollback: %v, %d left; want the last view", err, v.ViewsLeft)
	}
	if _, err := b.View(ctx, rolled); code(err) != "no_views_left" {
		t.Fatalf("a third view after a rollback: %v", err)
	}

	// Changes while bob is stopped.
	if _, err := b.View(ctx, removed); err != nil {
		t.Fatal(err)
	}
	if err := bob.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Share(ctx, removed, nil, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Share(ctx, raised, map[string]int{"bob": 4}, nil); err != nil {
		t.Fatal(err)
	}
	if err := bob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.View(ctx, removed); code(err) != "unknown_image" {
		t.Fatalf("a view after the removal: %v, want unknown_image (what the cloud tells one who may not see an image)", err)
	}
	for i := range 4 {
		if _, err := b.View(ctx, raised); err != nil {
			t.Fatalf("view %d of 4 after the raise: %v", i+1, err)
		}
	}
	if _, err := b.View(ctx, raised); code(err) != "no_views_left" {
		t.Fatalf("a fifth view after the raise: %v", err)
	}
	d, err := a.Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range d.Images {
		if e.ID == removed && e.Offline["bob"] != 1 {
			t.Fatalf("the removed image: bob spent %d offline, want 1 counted", e.Offline["bob"])
		}
	}
	// bob's peer reports the view it spent on its lease of the raised
	// image at its next contact. Wait for it: were it reported after the
	// owner's next change, that change would be counted against a lease
	// still held, and the check below would see one view fewer.
	for deadline := time.Now().Add(20 * time.Second); ; {
		d, err := a.Directory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held := false
		for _, e := range d.Images {
			for _, l := range e.Leases {
				held = held || e.ID == raised && l.Viewer == "bob" && !l.Revoked
			}
		}
		if !held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob's peer never reported its lease of the raised image")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The owner's change with the whole cloud down.
	for _, i := range c.Live() {
		if err := c.Kill(i); err != nil {
			t.Fatal(err)
		}
	}
	var queued bool
	for deadline := time.Now().Add(20 * time.Second); !queued && time.Now().Before(deadline); {
		_, q, err := a.Share(ctx, raised, map[string]int{"bob": 7}, nil)
		queued = err == nil && q != nil
		if !queued {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !queued {
		t.Fatal("alice's change was never queued with the cloud down")
	}
	if err := alice.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := alice.Launch(); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Status(ctx); err != nil || len(st.Queued) != 1 {
		t.Fatalf("after alice's peer restarted: %v, %d queued, want 1", err, len(st.Queued))
	}
	for i := range c.Len() {
		if err := c.Restart(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := alice.WaitOnline(ctx); err != nil {
		t.Fatal(err)
	}
	d, err = a.Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range d.Images {
		if e.ID != raised {
			continue
		}
		// The value set is bob's whole allowance: his views online and
		// those his device holds leased (spent or not: it has not said).
		allowance := e.Viewers["bob"]
		for _, l := range e.Leases {
			if l.Viewer == "bob" && !l.Revoked {
				allowance += l.Views
			}
		}
		if allowance != 7 {
			t.Fatalf("after the queue was sent, bob's allowance of the raised image is %d (%d online, leases %+v), want 7", allowance, e.Viewers["bob"], e.Leases)
		}
	}
}
