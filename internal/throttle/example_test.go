package throttle_test

import (
	"fmt"
	"time"

	"veil/internal/throttle"
)

// A login handler asks before it hashes a password, and tells the limiter
// what came of it.
func Example() {
	l, err := throttle.New(throttle.DefaultConfig())
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	k := throttle.Key{User: "alice", Source: "192.0.2.7"}
	for attempt := 1; attempt <= 8; attempt++ {
		if wait, ok := l.Check(k, now); !ok {
			fmt.Printf("attempt %d: 429, Retry-After %v\n", attempt, wait)
			now = now.Add(wait)
			continue
		}
		fmt.Printf("attempt %d: wrong password\n", attempt)
		l.Fail(k, now)
	}
	l.Succeed(k, now)
	// Output:
	// attempt 1: wrong password
	// attempt 2: wrong password
	// attempt 3: wrong password
	// attempt 4: wrong password
	// attempt 5: wrong password
	// attempt 6: wrong password
	// attempt 7: 429, Retry-After 1s
	// attempt 8: wrong password
}
