package peer

import (
	"bytes"
	"encoding/json"
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

func localCall(h http.Handler, method, target, host string, auth bool, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = host
	if method == "POST" && strings.HasPrefix(target, "/app/") {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth {
		r.SetBasicAuth("alice", "secret")
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
	}{
		{"no password", "GET", "/local/v1/status", "127.0.0.1:9", false, "", 401, "unauthorized"},
		{"a page of another site through the browser", "GET", "/local/v1/status", "evil.example:80", true, "", 403, "bad_host"},
		{"its user", "GET", "/local/v1/status", "localhost:9", true, "", 200, ""},
		{"a body that is not JSON", "POST", "/local/v1/fetch", "127.0.0.1", true, "{", 400, "bad_request"},
		{"an unknown field", "POST", "/local/v1/fetch", "127.0.0.1", true, `{"image":"x","evil":1}`, 400, "bad_request"},
		{"not an image id", "POST", "/local/v1/fetch", "127.0.0.1", true, `{"image":"../../x"}`, 400, "bad_request"},
		{"a view of an image not held", "POST", "/local/v1/view", "127.0.0.1", true, `{"image":"0123456789abcdef0123456789abcdef"}`, 404, "not_held"},
		{"a share that changes nothing", "PATCH", "/local/v1/images/0123456789abcdef0123456789abcdef", "127.0.0.1", true, `{}`, 400, "bad_request"},
		{"a put with no image", "POST", "/local/v1/images?viewers=bob", "127.0.0.1", true, "", 400, "bad_request"},
		{"a put with bad viewers", "POST", "/local/v1/images?viewers=bob=x", "127.0.0.1", true, "png", 400, "bad_request"},
		{"an approval of no request", "POST", "/local/v1/requests/approve", "127.0.0.1", true, `{"user":"bob","image":"0123456789abcdef0123456789abcdef","views":1}`, 404, "no_request"},
		{"an unknown route", "GET", "/local/v1/nothing", "127.0.0.1", true, "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := localCall(h, tt.method, tt.target, tt.host, tt.auth, tt.body)
			if w.Code != tt.status {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tt.status)
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
