package cluster

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"veil/cluster/registry"
)

// testClock is a clock a test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// useClock makes every node of c count failed logins on clock's time.
func useClock(c *TestCluster, clock *testClock) {
	for _, n := range c.Nodes {
		n.logins.mu.Lock()
		n.logins.now = clock.now
		n.logins.mu.Unlock()
	}
}

// throttleKeys is the number of keys a node's login throttle holds.
func throttleKeys(n *Node) int {
	lim, _ := n.logins.limiter()
	return lim.Len()
}

// fromAddr returns a plain HTTP client (no retries) whose connections
// leave from the loopback address ip, as a client on another machine would
// from its own.
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// login posts a name and a password once, through client.
func login(t testing.TB, client *http.Client, n *Node, name, password string, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+n.APIAddr()+"/v1/login", bytes.NewReader(jsonBody(t, credentials{name, password})))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("login %s at %s: %v", name, n.Name(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// knows waits until every node's own copy of the registry holds user.
func knows(c *TestCluster, name string) {
	c.t.Helper()
	c.WaitFor(10*time.Second, "every node to hold user "+name, func() bool {
		for _, n := range c.Live() {
			var ok bool
			n.repl.readLocal(func(s *registry.State) { _, ok = s.User(name) })
			if !ok {
				return false
			}
		}
		return true
	})
}

func TestWrongLoginsAreThrottledAndTheRightPasswordWorksAfterTheWait(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, nil)
		coord := c.WaitCoordinator(20 * time.Second)
		clock := &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		useClock(c, clock)
		alice := register(t, coord, "alice")
		knows(c, alice.name)
		client := fromAddr("127.0.0.1")
		for _, entry := range []*Node{coord, c.NotCoordinator(coord)} {
			t.Run("entering at the "+map[bool]string{true: "coordinator", false: "follower"}[entry == coord], func(t *testing.T) {
				var refused, throttled int
				var last reply
				for range 100 {
					r := login(t, client, entry, "alice", "wrong password!", nil)
					switch r.status {
					case http.StatusUnauthorized:
						refused++
					case http.StatusTooManyRequests:
						throttled++
						last = r
					default:
						t.Fatalf("a wrong login: %d %s", r.status, r.body)
					}
				}
				if refused > 10 || throttled != 100-refused {
					t.Fatalf("100 wrong logins: %d checked (401), %d throttled (429); want at most 10 checked, the rest throttled", refused, throttled)
				}
				if code := errorCode(t, last); code != "too_many_attempts" {
					t.Errorf("throttled with code %q, want too_many_attempts", code)
				}
				wait, err := strconv.Atoi(last.header.Get("Retry-After"))
				if err != nil || wait < 1 {
					t.Fatalf("Retry-After %q, want whole seconds, at least 1", last.header.Get("Retry-After"))
				}
				if r := login(t, client, entry, "alice", "correct horse alice", nil); r.status != http.StatusTooManyRequests {
					t.Fatalf("the right password while the address waits: %d %s, want 429 (nothing checked)", r.status, r.body)
				}
				clock.advance(time.Duration(wait) * time.Second)
				if r := login(t, client, entry, "alice", "correct horse alice", nil); r.status != http.StatusOK {
					t.Fatalf("the right password after Retry-After: %d %s", r.status, r.body)
				}
				if r := login(t, client, entry, "alice", "wrong password!", nil); r.status != http.StatusUnauthorized {
					t.Fatalf("a mistake after logging in: %d %s, want 401: a success starts the count again", r.status, r.body)
				}
				if r := login(t, client, entry, "alice", "correct horse alice", nil); r.status != http.StatusOK {
					t.Fatalf("logging in again: %d %s", r.status, r.body)
				}
			})
		}
	})
}

func TestAnAttackerAtAnotherAddressCannotLockAUserOut(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	useClock(c, &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}) // frozen: no wait ever ends
	register(t, coord, "alice")
	knows(c, "alice")
	attacker, owner := fromAddr("127.0.0.2"), fromAddr("127.0.0.1")
	for _, n := range c.Nodes {
		throttled := false
		for range 30 {
			if r := login(t, attacker, n, "alice", "guess", nil); r.status == http.StatusTooManyRequests {
				throttled = true
				break
			}
		}
		if !throttled {
			t.Fatalf("30 wrong logins from 127.0.0.2 at %s were never throttled", n.Name())
		}
		if r := login(t, owner, n, "alice", "correct horse alice", nil); r.status != http.StatusOK {
			t.Fatalf("alice from her own address at %s: %d %s", n.Name(), r.status, r.body)
		}
	}
	// A client that claims to be a node passing a login on is still
	// counted: it does not come from a node's address.
	r := login(t, attacker, coord, "alice", "guess", map[string]string{hdrForwardedBy: c.NotCoordinator(coord).Name()})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("a login claiming to be forwarded, from a throttled address: %d %s, want 429", r.status, r.body)
	}
}

func TestNamesThatAreNotRegisteredCostNoThrottleMemory(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	useClock(c, &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)})
	entry := c.NotCoordinator(coord)
	client := fromAddr("127.0.0.3")
	checked := 0
	for i := range 100 {
		r := login(t, client, entry, "nobody"+strconv.Itoa(i), "wrong password!", nil)
		switch r.status {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("login as an unknown name: %d %s", r.status, r.body)
		}
	}
	if got := throttleKeys(entry); got != 1 {
		t.Errorf("the entry node's throttle holds %d keys after 100 unknown names from one address, want 1 (the address)", got)
	}
	if got := throttleKeys(coord); got != 0 {
		t.Errorf("the coordinator's throttle holds %d keys for logins a node forwarded, want 0", got)
	}
	if checked >= 100 {
		t.Errorf("all 100 guesses at unknown names from one address were checked; the address should be throttled")
	}
}

func TestOverlongNamesAndPasswordsAreRefusedBeforeAnyHash(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	register(t, coord, "alice")
	knows(c, "alice")
	entry := c.NotCoordinator(coord)
	client := fromAddr("127.0.0.4")
	hashed := coord.passwords.done.Load()
	for _, tc := range []struct {
		name, password string
		status         int
		code           string
	}{
		{strings.Repeat("a", registry.MaxNameInput+1), "correct horse alice", http.StatusBadRequest, "bad_request"},
		{"alice bob", "correct horse alice", http.StatusBadRequest, "bad_request"},
		{"alice", strings.Repeat("p", registry.MaxPasswordLen+1), http.StatusUnauthorized, "bad_credentials"},
		{strings.Repeat("a", registry.MaxNameInput+1), "", http.StatusBadRequest, "bad_request"},
	} {
		r := login(t, client, entry, tc.name, tc.password, nil)
		if r.status != tc.status || errorCode(t, r) != tc.code {
			t.Errorf("login as %.20q... with a password of %d bytes: %d %s, want %d %s", tc.name, len(tc.password), r.status, r.body, tc.status, tc.code)
		}
	}
	if got := coord.passwords.done.Load(); got != hashed {
		t.Errorf("the coordinator hashed %d passwords for logins that no password can match", got-hashed)
	}
}

func TestALoginIsCountedAgainstItsAddressOrItsIPv6Network(t *testing.T) {
	for _, tc := range []struct {
		remote, want string
	}{
		{"192.0.2.7:41000", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:41000", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:41000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:41000", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:41000", "fe80::/64"},
		{"", "unknown"},
	} {
		r := &http.Request{RemoteAddr: tc.remote}
		if got := loginSource(r); got != tc.want {
			t.Errorf("a login from %q counts against %q, want %q", tc.remote, got, tc.want)
		}
	}
}
