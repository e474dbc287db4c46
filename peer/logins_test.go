package peer

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testClock is a clock the test moves by hand.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time          { return c.t }
func (c *testClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// throttledPeer is an offline peer whose logins run on clock, with the
// default policy: 5 wrong passwords free, then a wait of 1 s doubling.
func throttledPeer(t *testing.T) (*Peer, *testClock) {
	p := offlinePeer(t)
	clock := &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	p.clock = clock.now
	return p, clock
}

// controlCall is GET /local/v1/status from source with user and password.
func controlCall(h http.Handler, source, user, password string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/local/v1/status", nil)
	r.Host, r.RemoteAddr = "127.0.0.1:7601", source+":50000"
	r.Header.Set(LocalHeader, "1")
	r.SetBasicAuth(user, password)
	return serve(h, r)
}

// signInCall is the app's sign-in form from source.
func signInCall(h http.Handler, source, user, password string) *httptest.ResponseRecorder {
	r := newFormRequest("/app/signin", url.Values{"user": {user}, "password": {password}}.Encode())
	r.RemoteAddr = source + ":50000"
	return serve(h, r)
}

// Wrong passwords on the control API are slowed down: a few are free, then
// the source waits, longer at each one, answered 429 with a Retry-After
// even with the right password; once the wait is over the right password
// works, and clears the count.
func TestWrongPasswordsMakeTheSourceWaitLongerEachTime(t *testing.T) {
	for _, way := range []struct {
		name  string
		call  func(h http.Handler, source, user, password string) *httptest.ResponseRecorder
		right int
	}{
		{"the control API", controlCall, http.StatusOK},
		{"the app's sign-in", signInCall, http.StatusSeeOther},
	} {
		t.Run(way.name, func(t *testing.T) {
			p, clock := throttledPeer(t)
			h := p.localHandler()
			const me, other = "127.0.0.1", "::1"
			expect := func(step string, w *httptest.ResponseRecorder, status int, retryAfter string) {
				t.Helper()
				if w.Code != status || w.Header().Get("Retry-After") != retryAfter {
					t.Fatalf("%s: %d, Retry-After %q; want %d, %q (%s)", step, w.Code, w.Header().Get("Retry-After"), status, retryAfter, w.Body)
				}
				if status == http.StatusTooManyRequests && !strings.Contains(w.Body.String(), "try again in "+retryAfter+" s") {
					t.Fatalf("%s: the refusal does not say how long to wait: %s", step, w.Body)
				}
			}
			for i := 1; i <= 6; i++ {
				expect("wrong password "+string(rune('0'+i)), way.call(h, me, "alice", "guess"), http.StatusUnauthorized, "")
			}
			expect("the right password while the source waits", way.call(h, me, "alice", "secret"), http.StatusTooManyRequests, "1")
			expect("a program of the user's at another address", way.call(h, other, "alice", "secret"), way.right, "")
			clock.advance(time.Second)
			expect("wrong again once the wait is over", way.call(h, me, "alice", "guess"), http.StatusUnauthorized, "")
			expect("the wait after it", way.call(h, me, "alice", "secret"), http.StatusTooManyRequests, "2")
			clock.advance(time.Second)
			expect("before that wait is over", way.call(h, me, "alice", "secret"), http.StatusTooManyRequests, "1")
			clock.advance(time.Second)
			expect("the right password once it is over", way.call(h, me, "alice", "secret"), way.right, "")
			expect("a typo after the user got in", way.call(h, me, "alice", "guess"), http.StatusUnauthorized, "")
			expect("and the right password again", way.call(h, me, "alice", "secret"), way.right, "")
		})
	}
}

// The control API took thousands of guesses a second: now a source that
// guesses without pause has its few free guesses compared, and the rest
// are refused without a look at the password, whatever names it tries.
func TestGuessingAtSpeedIsRefused(t *testing.T) {
	p, clock := throttledPeer(t)
	h := p.localHandler()
	compared := 0
	for i := 0; i < 1000; i++ {
		user := "alice"
		if i%2 == 1 {
			user = "mallory" + string(rune('a'+i%26)) // names that are not the peer's
		}
		switch w := controlCall(h, "127.0.0.1", user, "guess"); w.Code {
		case http.StatusUnauthorized:
			compared++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("guess %d: %d %s", i, w.Code, w.Body)
		}
		clock.advance(time.Millisecond)
	}
	// 1,000 guesses in one second: 5 free for alice and a sixth that
	// starts her wait, and no more than the source's 20 free in all.
	if compared > 21 {
		t.Fatalf("%d of 1,000 guesses in a second were compared; want the free ones only", compared)
	}
	if w := controlCall(h, "127.0.0.1", "alice", "secret"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("the right password from the guessing source: %d, want 429 until its wait is over", w.Code)
	}
}
