// Package throttle slows down password guessing: it counts failed logins
// and tells a server when to refuse the next attempt, and for how long
// (the Retry-After of a 429), before any password is hashed.
//
// A Limiter is a deterministic machine. It holds no clock, no goroutine and
// no I/O: every call is given the time, so that tests drive it with a
// clock of their own and a failure is replayed exactly. It is safe for
// concurrent use (one mutex guards it).
//
// # What is counted, and why
//
// A failure is counted against two keys: the pair (user, source), where
// source is the client's address (or its network, as the server chooses),
// and the source alone.
//
//   - The pair stops one address from guessing one user's password: a few
//     failures are free (typing mistakes), then each further one makes the
//     pair wait twice as long as the last, up to a cap of a few minutes.
//   - The source alone stops one address from spreading its guesses over
//     many names (password spraying), including names that do not exist.
//     It allows more failures than the pair before it waits, since several
//     people may share an address.
//
// There is deliberately no key for the user alone. Such a key would let
// anyone, from anywhere, lock a user out: a few wrong passwords a minute
// against "alice" would keep her waiting forever, from every address. With
// these keys an attacker slows down only itself and whoever shares its
// address; the user at her own address logs in as always. The price is that
// an attacker with many addresses gets a few guesses from each; the
// password's hash cost (argon2id) and the password rules bound what that
// buys. A server that sees IPv6 clients should use the /64 network as the
// source, as one host commonly has the whole of it.
//
// A failure against a name that is not registered counts against the
// source only (Key.User is ""), so that guessing names costs the server no
// memory per name. A success clears the pair, not the source: a user who
// logs into her own account does not wipe out what her address has guessed
// at other accounts.
//
// # Memory
//
// A key is forgotten Config.Forget after its wait ends (or after its last
// failure, if it has none). At most Config.MaxKeys keys are held: when a new
// key finds the table full, the key that would be forgotten first goes.
// That is the least escalated one, so filling the table to wipe a
// well-punished key costs an attacker as many failures as the table has
// keys.
package throttle
