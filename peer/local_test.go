package peer

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// offlinePeer is a peer whose cloud is nowhere, not running: its control
// API's handler can be called directly.
func offlinePeer(t testing.TB) *Peer {
	t.Helper()
	p, err := New(Config{
		User: "alice", Password: "secret", Listen: "127.0.0.1:0", Local: "127.0.0.1:0",
		DataDir: t.TempDir(), API: []string{"127.0.0.1:1"}, CloudTimeout: 50 * time.Millisecond, RequestTimeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.p2pLn.Close(); p.localLn.Close() })
	return p
}

// localCall calls h as a program of the user's would: with LocalHeader on
// a control API route. header holds more headers, in pairs; an empty value
// removes the header.
func localCall(h http.Handler, method, target, host string, auth bool, body string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = host
	if method == "POST" && strings.HasPrefix(target, "/app/") {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if strings.HasPrefix(target, "/local/") {
		r.Header.Set(LocalHeader, "1")
	}
	if auth {
		r.SetBasicAuth("alice", "secret")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			r.Header.Del(header[i])
		} else {
			r.Header.Set(header[i], header[i+1])
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// The control API answers only its own user on this machine, and bad
// input gets a clear error and changes nothing.
func TestTheControlAPIRefusesWhatIsNotItsUsers(t *testing.T) {
	p := offlinePeer(t)
	h := p.localHandler()
	tests := []struct {
		name, method, target, host string
		auth                       bool
		body                       string
		status                     int
		code                       string
		header                     []string
	}{
		{"no password", "GET", "/local/v1/status", "127.0.0.1:9", false, "", 401, "unauthorized", nil},
		{"a page of another site through the browser", "GET", "/local/v1/status", "evil.example:80", true, "", 403, "bad_host", nil},
		{"its user", "GET", "/local/v1/status", "localhost:9", true, "", 200, "", nil},
		// A browser adds the Basic credentials it holds for the peer to a
		// request a page of another site makes: the password is not enough.
		{"a page of another site, with the user's password", "GET", "/local/v1/status", "127.0.0.1:9", true, "", 403, "cross_site",
			[]string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}},
		{"a page of another port of this machine", "GET", "/local/v1/status", "127.0.0.1:9", true, "", 403, "cross_site",
			[]string{"Sec-Fetch-Site", "same-site"}},
		{"a page of the peer's own origin", "GET", "/local/v1/status", "127.0.0.1:9", true, "", 403, "cross_site",
			[]string{"Sec-Fetch-Site", "same-origin"}},
		{"an old browser's form from another site", "POST", "/local/v1/view", "127.0.0.1:9", true, `{"image":"0123456789abcdef0123456789abcdef"}`, 403, "cross_site",
			[]string{"Origin", "null"}},
		{"a request without the control API's header", "GET", "/local/v1/status", "127.0.0.1:9", true, "", 403, "no_local_header",
			[]string{LocalHeader, ""}},
		{"the browser asking leave to send the header (a preflight)", "OPTIONS", "/local/v1/view", "127.0.0.1:9", false, "", 403, "cross_site",
			[]string{LocalHeader, "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "veil-local"}},
		{"an address typed in the browser", "GET", "/local/v1/status", "127.0.0.1:9", true, "", 403, "no_local_header",
			[]string{LocalHeader, "", "Sec-Fetch-Site", "none"}},
		{"a body that is not JSON", "POST", "/local/v1/fetch", "127.0.0.1", true, "{", 400, "bad_request", nil},
		{"an unknown field", "POST", "/local/v1/fetch", "127.0.0.1", true, `{"image":"x","evil":1}`, 400, "bad_request", nil},
		{"not an image id", "POST", "/local/v1/fetch", "127.0.0.1", true, `{"image":"../../x"}`, 400, "bad_request", nil},
		{"a view of an image not held", "POST", "/local/v1/view", "127.0.0.1", true, `{"image":"0123456789abcdef0123456789abcdef"}`, 404, "not_held", nil},
		{"a share that changes nothing", "PATCH", "/local/v1/images/0123456789abcdef0123456789abcdef", "127.0.0.1", true, `{}`, 400, "bad_request", nil},
		{"a put with no image", "POST", "/local/v1/images?viewers=bob", "127.0.0.1", true, "", 400, "bad_request", nil},
		{"a put with bad viewers", "POST", "/local/v1/images?viewers=bob=x", "127.0.0.1", true, "png", 400, "bad_request", nil},
		{"an approval of no request", "POST", "/local/v1/requests/approve", "127.0.0.1", true, `{"user":"bob","image":"0123456789abcdef0123456789abcdef","views":1}`, 404, "no_request", nil},
		{"an unknown route", "GET", "/local/v1/nothing", "127.0.0.1", true, "", 404, "not_found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := localCall(h, tt.method, tt.target, tt.host, tt.auth, tt.body, tt.header...)
			if w.Code != tt.status {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tt.status)
			}
			if w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Access-Control-Allow-Headers") != "" {
				t.Fatalf("the control API gave a page leave to call it: %v", w.Header())
			}
			if tt.code != "" {
				if e := decodeError(w.Code, w.Body.Bytes()); e.Code != tt.code {
					t.Fatalf("code %q (%s), want %q", e.Code, e.Message, tt.code)
				}
			}
		})
	}
	if len(p.store.Holds()) != 0 || len(p.Requests()) != 0 {
		t.Fatal("bad input changed the peer's state")
	}
}

// With the cloud away, the directory and the online list are what the
// cloud said last, marked stale.
func TestWithTheCloudAwayTheListsSayTheyAreStale(t *testing.T) {
	p := offlinePeer(t)
	w := localCall(p.localHandler(), "GET", "/local/v1/online", "127.0.0.1", true, "")
	var o OnlineList
	if err := json.Unmarshal(w.Body.Bytes(), &o); err != nil || w.Code != 200 || !o.Stale || o.Peers == nil {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w = localCall(p.localHandler(), "GET", "/local/v1/directory", "127.0.0.1", true, "")
	var d DirectoryList
	if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil || w.Code != 200 || !d.Stale || d.Images == nil {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func FuzzLocalAPI(f *testing.F) {
	f.Add(0, []byte(`{"image":"0123456789abcdef0123456789abcdef","from":"bob"}`))
	f.Add(1, []byte(`{"image":"0123456789abcdef0123456789abcdef"}`))
	f.Add(2, []byte(`{"set":{"bob":-1},"remove":[""]}`))
	f.Add(3, []byte(`{"user":"bob","image":"x","views":1}`))
	f.Add(4, []byte("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n"))
	p := offlinePeer(f)
	h := p.localHandler()
	routes := []struct{ method, target, ctype string }{
		{"POST", "/local/v1/fetch", "application/json"},
		{"POST", "/local/v1/view", "application/json"},
		{"PATCH", "/local/v1/images/0123456789abcdef0123456789abcdef", "application/json"},
		{"POST", "/local/v1/requests/deny", "application/json"},
		{"POST", "/local/v1/images", "multipart/form-data; boundary=b"},
	}
	f.Fuzz(func(t *testing.T, route int, body []byte) {
		rt := routes[uint(route)%uint(len(routes))]
		r := httptest.NewRequest(rt.method, rt.target, bytes.NewReader(body))
		r.Header.Set("Content-Type", rt.ctype)
		r.Header.Set(LocalHeader, "1")
		r.SetBasicAuth("alice", "secret")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code < 400 {
			t.Fatalf("%s %s took %q: %d", rt.method, rt.target, body, w.Code)
		}
		if e := decodeError(w.Code, w.Body.Bytes()); e.Code == "" || e.Code == http.StatusText(w.Code) {
			t.Fatalf("%d without a JSON error: %s", w.Code, w.Body)
		}
		if len(p.store.Holds()) != 0 {
			t.Fatal("bad input changed the store")
		}
	})
}

func newFormRequest(target, form string) *http.Request {
	r := httptest.NewRequest("POST", target, strings.NewReader(form))
	r.Host = "127.0.0.1"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// A page of another site that the user's browser visits can make the
// browser send a request to the peer with the Basic credentials it holds
// for it: the peer refuses it before it does anything, and no view is
// spent. The same view from the veil command goes through.
func TestARequestFromAnotherSiteSpendsNothing(t *testing.T) {
	c := newCloud(t, "alice", "bob")
	alice := startPeer(t, c, "alice", nil)
	bob := startPeer(t, c, "bob", nil)
	ctx := ctxT(t)
	secret := secretPNG(t, 7)
	_, id, err := alice.local.Put(ctx, secret, nil, map[string]int{"bob": 2})
	if err != nil {
		t.Fatal(err)
	}
	// No lease: bob's views stay with the cloud, where a view spends one.
	if _, err := bob.local.Fetch(ctx, id, "alice", 0); err != nil {
		t.Fatal(err)
	}
	viewsLeft := func() int {
		t.Helper()
		d, err := bob.local.Directory(ctx)
		if err != nil || d.Stale {
			t.Fatalf("bob's directory: %v (stale %v)", err, d.Stale)
		}
		for _, e := range d.Images {
			if e.ID == id {
				return e.ViewsLeft
			}
		}
		t.Fatalf("image %s is not in bob's directory", id)
		return 0
	}
	if n := viewsLeft(); n != 2 {
		t.Fatalf("bob has %d views before, want 2", n)
	}

	attacks := []struct {
		name   string
		header map[string]string
		ctype  string
		code   string
	}{
		{"a script's request, which a browser sends without the header", map[string]string{
			"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}, "text/plain", "cross_site"},
		{"a form posted by an old browser", map[string]string{"Origin": "https://evil.example"}, "text/plain", "cross_site"},
		{"a form posted by a browser that names no origin", nil, "text/plain", "no_local_header"},
		// A browser cannot add the header to a request of another site
		// without asking the peer first, which says no; were it to, the
		// request would still say where it comes from.
		{"a request of another site with the header", map[string]string{
			LocalHeader: "1", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, "application/json", "cross_site"},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, "POST", "http://"+bob.LocalAddr()+"/local/v1/view", strings.NewReader(`{"image":"`+id+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth("bob", password("bob"))
			req.Header.Set("Content-Type", a.ctype)
			for k, v := range a.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if e := decodeError(resp.StatusCode, body); resp.StatusCode != 403 || e.Code != a.code || e.Message == "" {
				t.Fatalf("%d %.100q, want 403 %s with a reason", resp.StatusCode, body, a.code)
			}
			if bytes.Contains(body, secret) {
				t.Fatal("the answer carries the original")
			}
		})
	}
	if n := viewsLeft(); n != 2 {
		t.Fatalf("bob has %d views after the requests of another site, want 2: they spent some", n)
	}
	v, err := bob.local.View(ctx, id)
	if err != nil || !bytes.Equal(v.Secret, secret) || v.ViewsLeft != 1 {
		t.Fatalf("bob's own view: %v, %d left; want the original and 1 left", err, v.ViewsLeft)
	}
}
