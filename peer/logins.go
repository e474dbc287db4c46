package peer

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"veil/internal/throttle"
)

// Wrong passwords on the control API and the app's sign-in are slowed down
// (Config.Logins): after a few free ones, the source waits, twice as long
// at each further one, and is answered 429 with a Retry-After, its
// password not even compared, until the wait is over. Without it the
// control API took some 3,100 guesses a second. The source is the
// connection's address, which on a loopback listener is this machine: a
// program of another account that keeps guessing makes the user's own
// commands wait as well, but it no longer guesses at speed.

// loginKey is what one sign-in counts against: the source, and the pair
// (user, source) when the name is the peer's user.
func (p *Peer) loginKey(user string, r *http.Request) throttle.Key {
	k := throttle.Key{Source: loginSource(r)}
	if subtle.ConstantTimeCompare([]byte(user), []byte(p.cfg.User)) == 1 {
		k.User = p.cfg.User
	}
	return k
}

// signIn checks user and password against the peer's own, once the
// limiter lets the attempt through. It returns the wait when the source
// must wait first (nothing was compared), or whether they are right; a
// wrong pair is counted, a right one clears the user's count.
func (p *Peer) signIn(r *http.Request, user, password string) (wait time.Duration, ok bool) {
	k, now := p.loginKey(user, r), p.clock()
	if wait, free := p.logins.Check(k, now); !free {
		return wait, false
	}
	if k.User == "" || subtle.ConstantTimeCompare([]byte(password), []byte(p.cfg.Password)) != 1 {
		p.logins.Fail(k, now)
		return 0, false
	}
	p.logins.Succeed(k, now)
	return 0, true
}

// loginSource is the address a sign-in came from: the connection's, never
// a header the client writes.
func loginSource(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().WithZone("").String()
	}
	if host == "" {
		return "unknown"
	}
	return host
}

// writeTooMany answers an attempt that must wait: 429 too_many_attempts
// with a Retry-After in whole seconds.
func writeTooMany(w http.ResponseWriter, wait time.Duration) {
	secs := retryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, "too_many_attempts",
		"too many wrong passwords from this address; try again in %d s", secs)
}

// retryAfterSeconds is d rounded up to whole seconds, at least one.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}
