package throttle

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// t0 is the clock's start in these tests; the clock is whatever each test
// passes.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newLimiter(t *testing.T, c Config) *Limiter {
	t.Helper()
	l, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestEachFailurePastTheFreeOnesDoublesTheWaitUpToTheCap(t *testing.T) {
	p := Policy{Free: 3, Base: time.Second, Max: 10 * time.Second}
	want := []time.Duration{0, 0, 0, 1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := p.wait(i + 1); got != w {
			t.Errorf("failure %d: wait %v, want %v", i+1, got, w)
		}
	}
	if got := p.wait(maxCount); got != p.Max {
		t.Errorf("failure %d: wait %v, want the cap %v", maxCount, got, p.Max)
	}
}

func TestHundredWrongPasswordsFromOneAddressAreRefusedAfterTheFreeOnes(t *testing.T) {
	c := DefaultConfig()
	l := newLimiter(t, c)
	k := Key{User: "alice", Source: "192.0.2.7"}
	tried := 0
	for range 100 {
		if _, ok := l.Check(k, t0); !ok {
			continue // 429: no password hashed, nothing counted
		}
		tried++
		l.Fail(k, t0)
	}
	if want := c.PerUser.Free + 1; tried != want {
		t.Errorf("%d of 100 attempts reached the password check, want %d", tried, want)
	}
	if tried > 10 {
		t.Errorf("%d attempts reached the password check, want at most 10", tried)
	}
}

func TestTheRightPasswordWorksOnceTheWaitHasPassed(t *testing.T) {
	l := newLimiter(t, DefaultConfig())
	k := Key{User: "alice", Source: "192.0.2.7"}
	now := t0
	var wait time.Duration
	for range 8 {
		wait = l.Fail(k, now)
	}
	after, ok := l.Check(k, now)
	if ok || after != wait {
		t.Fatalf("right after the failures: Check = %v, %v; want a refusal for %v", after, ok, wait)
	}
	if _, ok := l.Check(k, now.Add(wait-time.Nanosecond)); ok {
		t.Fatal("allowed before the wait ended")
	}
	now = now.Add(wait)
	if _, ok := l.Check(k, now); !ok {
		t.Fatal("still refused once the wait had passed")
	}
	l.Succeed(k, now)
	for i := range DefaultConfig().PerUser.Free {
		if _, ok := l.Check(k, now); !ok {
			t.Fatalf("after a success, mistake %d was refused: the pair should start again from zero", i+1)
		}
		l.Fail(k, now)
	}
}

func TestAnAttackerElsewhereCannotLockAUserOut(t *testing.T) {
	l := newLimiter(t, DefaultConfig())
	attacker := Key{User: "alice", Source: "198.51.100.9"}
	for i := range 1000 {
		l.Fail(attacker, t0.Add(time.Duration(i)*time.Minute))
	}
	now := t0.Add(1000 * time.Minute)
	if _, ok := l.Check(attacker, now); ok {
		t.Error("the attacker's own address is not slowed down")
	}
	if after, ok := l.Check(Key{User: "alice", Source: "192.0.2.7"}, now); !ok {
		t.Errorf("alice at her own address must wait %v for another address's failures", after)
	}
}

func TestNamesThatAreNotRegisteredCountAgainstTheSourceOnly(t *testing.T) {
	c := DefaultConfig()
	l := newLimiter(t, c)
	k := Key{Source: "192.0.2.7"}
	tried := 0
	for range 1000 {
		if _, ok := l.Check(k, t0); ok {
			tried++
			l.Fail(k, t0)
		}
	}
	if l.Len() != 1 {
		t.Errorf("%d keys held after 1000 failures on unknown names from one address, want 1 (the address)", l.Len())
	}
	if want := c.PerSource.Free + 1; tried != want {
		t.Errorf("%d attempts on unknown names went ahead, want %d", tried, want)
	}
	if _, ok := l.Check(Key{User: "alice", Source: "192.0.2.7"}, t0); ok {
		t.Error("a registered name from a throttled address went ahead")
	}
}

func TestSprayingManyUsersFromOneAddressIsSlowedDownBySource(t *testing.T) {
	c := DefaultConfig()
	l := newLimiter(t, c)
	tried := 0
	for i := range 500 {
		k := Key{User: fmt.Sprintf("user%d", i), Source: "2001:db8:1::/64"}
		if _, ok := l.Check(k, t0); ok {
			tried++
			l.Fail(k, t0)
		}
	}
	if want := c.PerSource.Free + 1; tried != want {
		t.Errorf("%d guesses over 500 users went ahead, want %d", tried, want)
	}
}

func TestASuccessDoesNotClearTheSource(t *testing.T) {
	c := DefaultConfig()
	c.PerSource.Free = 3
	l := newLimiter(t, c)
	src := "192.0.2.7"
	for i := range 4 {
		l.Fail(Key{User: fmt.Sprintf("victim%d", i), Source: src}, t0)
	}
	l.Succeed(Key{User: "mallory", Source: src}, t0)
	if _, ok := l.Check(Key{User: "victim9", Source: src}, t0); ok {
		t.Error("logging into one's own account wiped out the address's failures")
	}
}

func TestKeysAreForgottenAfterTheirWaitAndStartAgain(t *testing.T) {
	c := DefaultConfig()
	l := newLimiter(t, c)
	k := Key{User: "alice", Source: "192.0.2.7"}
	var wait time.Duration
	for range c.PerUser.Free + 3 {
		wait = l.Fail(k, t0)
	}
	if l.Len() != 2 {
		t.Fatalf("%d keys held, want 2 (the pair and the source)", l.Len())
	}
	// The source had no wait (its free failures are more): it goes Forget
	// after its last failure; the pair, Forget after its wait ends.
	l.Check(k, t0.Add(c.Forget-time.Nanosecond))
	if l.Len() != 2 {
		t.Fatalf("%d keys held just before the source expires, want 2", l.Len())
	}
	l.Check(k, t0.Add(c.Forget))
	if l.Len() != 1 {
		t.Fatalf("%d keys held once the source expired, want 1 (the pair, whose wait ended later)", l.Len())
	}
	l.Check(k, t0.Add(wait+c.Forget-time.Nanosecond))
	if l.Len() != 1 {
		t.Fatalf("%d keys held just before the pair expires, want 1", l.Len())
	}
	later := t0.Add(wait + c.Forget)
	if _, ok := l.Check(k, later); !ok || l.Len() != 0 {
		t.Fatalf("at expiry: ok %v, %d keys held; want allowed and none", ok, l.Len())
	}
	if w := l.Fail(k, later); w != 0 {
		t.Errorf("the first failure after expiry imposes %v, want none: the count starts again", w)
	}
}

func TestTheTableNeverHoldsMoreThanMaxKeysAndKeepsTheMostPunished(t *testing.T) {
	c := DefaultConfig()
	c.MaxKeys = 64
	l := newLimiter(t, c)
	bad := Key{User: "alice", Source: "198.51.100.9"}
	for range 12 {
		l.Fail(bad, t0)
	}
	for i := range 10_000 {
		l.Fail(Key{User: "alice", Source: fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)}, t0.Add(time.Second))
		if l.Len() > c.MaxKeys {
			t.Fatalf("after %d failures: %d keys held, MaxKeys is %d", i+1, l.Len(), c.MaxKeys)
		}
	}
	if _, ok := l.Check(bad, t0.Add(time.Second)); ok {
		t.Error("flooding the table with fresh keys wiped out the most punished one")
	}
}

func TestMakingRoomNeverDropsTheAttemptsOwnSource(t *testing.T) {
	c := DefaultConfig()
	c.MaxKeys = 2
	l := newLimiter(t, c)
	src := "192.0.2.7"
	l.Fail(Key{Source: src}, t0) // the source, soonest forgotten
	l.Fail(Key{Source: "198.51.100.9"}, t0.Add(time.Second))
	l.Fail(Key{User: "alice", Source: src}, t0.Add(2*time.Second))
	if l.Len() != 2 {
		t.Fatalf("%d keys held, want 2", l.Len())
	}
	l.mu.Lock()
	e, held := l.slots[slot{"", src}]
	l.mu.Unlock()
	if !held || e.count != 2 {
		t.Errorf("the attempt's own source: held %v, count %v; want held with 2 failures", held, e)
	}
}

func TestConfigValidateStatesTheInvariants(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"the default is valid", func(*Config) {}, ""},
		{"negative free failures", func(c *Config) { c.PerUser.Free = -1 }, "Free"},
		{"no base wait", func(c *Config) { c.PerSource.Base = 0 }, "Base"},
		{"a cap below the base", func(c *Config) { c.PerUser.Max = c.PerUser.Base / 2 }, "Max"},
		{"keys never forgotten", func(c *Config) { c.Forget = 0 }, "Forget"},
		{"no room for a pair and its source", func(c *Config) { c.MaxKeys = 1 }, "MaxKeys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.want)
			}
			if _, err := New(c); (err == nil) != (tc.want == "") {
				t.Errorf("New: %v", err)
			}
		})
	}
}

func TestAKeyWithoutASourcePanics(t *testing.T) {
	l := newLimiter(t, DefaultConfig())
	defer func() {
		if p := recover(); p != ErrNoSource {
			t.Errorf("recovered %v, want ErrNoSource", p)
		}
	}()
	l.Fail(Key{User: "alice"}, t0)
}

// model is the limiter's rule written out plainly, with no bound on keys:
// a key's failures in a row, and the time it waits until, reset once
// Forget has passed since then.
type model struct {
	cfg   Config
	count map[slot]int
	until map[slot]time.Time
}

func (m *model) fresh(s slot, now time.Time) {
	if u, ok := m.until[s]; ok && !now.Before(u.Add(m.cfg.Forget)) {
		delete(m.count, s)
		delete(m.until, s)
	}
}

func (m *model) check(k Key, now time.Time) time.Duration {
	var w time.Duration
	for _, s := range k.slots() {
		m.fresh(s, now)
		if u, ok := m.until[s]; ok && u.After(now) {
			w = max(w, u.Sub(now))
		}
	}
	return w
}

func (m *model) fail(k Key, now time.Time) {
	for _, s := range k.slots() {
		m.fresh(s, now)
		p := m.cfg.PerSource
		if s.user != "" {
			p = m.cfg.PerUser
		}
		m.count[s]++
		m.until[s] = now.Add(p.wait(m.count[s]))
	}
}

// TestRandomAttemptsMatchTheModel drives a limiter and the model with the
// same random attempts from a few users and sources, the clock moving on
// by random steps, and compares every answer. A failing seed is printed.
func TestRandomAttemptsMatchTheModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	for run := range 200 {
		s := seed + uint64(run)
		rng := rand.New(rand.NewPCG(s, 0))
		c := Config{
			PerUser:   Policy{Free: rng.IntN(4), Base: time.Second, Max: time.Duration(1+rng.IntN(60)) * time.Second},
			PerSource: Policy{Free: rng.IntN(8), Base: time.Second, Max: time.Duration(1+rng.IntN(60)) * time.Second},
			Forget:    time.Duration(1+rng.IntN(120)) * time.Second,
			MaxKeys:   1 << 20,
		}
		l := newLimiter(t, c)
		m := &model{cfg: c, count: map[slot]int{}, until: map[slot]time.Time{}}
		now := t0
		for step := range 2000 {
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			k := Key{Source: fmt.Sprintf("s%d", rng.IntN(3))}
			if rng.IntN(4) > 0 {
				k.User = fmt.Sprintf("u%d", rng.IntN(3))
			}
			got, ok := l.Check(k, now)
			want := m.check(k, now)
			if got != want || ok != (want == 0) {
				t.Fatalf("seed %d, step %d: Check(%v) = %v, %v; the model says %v", s, step, k, got, ok, want)
			}
			switch {
			case !ok:
			case rng.IntN(5) == 0 && k.User != "":
				l.Succeed(k, now)
				delete(m.count, slot{k.User, k.Source})
				delete(m.until, slot{k.User, k.Source})
			default:
				l.Fail(k, now)
				m.fail(k, now)
			}
		}
	}
}
