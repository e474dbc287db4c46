package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// Status is what gossip says of a member, kept in the node's own table:
// memberlist does not keep Node.State up to date for its users, and it
// reports a crash and a graceful leave through the same callback.
type Status uint8

const (
	// StatusAlive: gossip has it and our probes of it are answered.
	StatusAlive Status = iota + 1
	// StatusSuspect: gossip still has it, but our own probes of it have
	// gone unanswered for longer than a probe round should take.
	StatusSuspect
	// StatusFailed: gossip declared it dead without a leave intent.
	StatusFailed
	// StatusLeft: it announced it was leaving, then left.
	StatusLeft
)

func (s Status) String() string {
	switch s {
	case StatusAlive:
		return "alive"
	case StatusSuspect:
		return "suspect"
	case StatusFailed:
		return "failed"
	case StatusLeft:
		return "left"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Member is one row of the node's status table.
type Member struct {
	Name   string
	Gossip string // host:port of its gossip endpoint
	Status Status
	Meta   Meta // last metadata it gossiped
	Since  time.Time

	leaving bool // it told us it is about to leave

	// Failing is set while the member is failing on purpose: from its own
	// notice before it goes silent until its notice that it serves again
	// (or MaxSimulatedDown plus a margin, should that notice be lost).
	Failing      bool
	failingSince time.Time
}

// Healthy reports whether work may be sent to the member: gossip holds it
// alive and it says it is serving.
func (m Member) Healthy() bool {
	return m.Status == StatusAlive && m.Meta.State == StateActive
}

// User messages over gossip start with one byte that says whose they are.
const (
	chanElection byte = 1 // election messages, handed to the elector
	chanControl  byte = 2 // cluster commands such as "fail now"
)

// membership keeps the status table and implements memberlist's delegates.
//
// A node takes part only once it knows that its name is free (see claims):
// until then its table shows it alone, so that its election, replication
// and leave reach no one.
type membership struct {
	log          hclog.Logger
	self         string
	suspectAfter func(members int) time.Duration
	now          func() time.Time
	started      time.Time     // when this node's gossip began, for its claims' age
	refusedCh    chan struct{} // closed when refused is set

	mu      sync.Mutex
	ml      *memberlist.Memberlist
	local   Meta
	table   map[string]*Member
	lastAck map[string]time.Time
	changed chan struct{} // poked (non-blocking) when the table changes
	// admitted: an exchange of state with a member found this node's name
	// free (or no member sent claims for a while: see sweep).
	admitted bool
	// othersSince is when the table first held another member, while not
	// admitted.
	othersSince time.Time
	// refused says which live member holds this node's name; once set, the
	// node never takes part.
	refused error

	onMessage func(channel byte, from string, payload []byte)
}

func newMembership(self string, local Meta, log hclog.Logger, suspectAfter func(int) time.Duration) *membership {
	return &membership{
		log:          log,
		self:         self,
		suspectAfter: suspectAfter,
		now:          time.Now,
		started:      time.Now(),
		refusedCh:    make(chan struct{}),
		local:        local,
		table:        map[string]*Member{},
		lastAck:      map[string]time.Time{},
		changed:      make(chan struct{}, 1),
	}
}

func (m *membership) poke() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// setLocal replaces this node's metadata; the caller then asks memberlist
// to gossip it (UpdateNode).
func (m *membership) setLocal(meta Meta) {
	m.mu.Lock()
	m.local = meta
	if row, ok := m.table[m.self]; ok {
		row.Meta = meta
	}
	m.mu.Unlock()
	m.poke()
}

func (m *membership) localMeta() Meta {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.local
}

// NodeMeta implements memberlist.Delegate.
func (m *membership) NodeMeta(limit int) []byte {
	b, err := m.localMeta().MarshalBinary()
	if err != nil || len(b) > limit {
		// Cannot happen for metadata this node built itself; gossip
		// without metadata rather than let memberlist panic.
		m.log.Error("local metadata does not fit", "error", err, "bytes", len(b), "limit", limit)
		return nil
	}
	return b
}

// NotifyMsg implements memberlist.Delegate. Messages are routed by their
// first byte; the sender's name follows as a length-prefixed string.
func (m *membership) NotifyMsg(b []byte) {
	if m.isRefused() {
		// Meant for the member that holds this node's name, or for no
		// one: this node answers nothing in that name.
		return
	}
	channel, from, payload, err := decodeUserMsg(b)
	if err != nil {
		m.log.Debug("dropped malformed gossip message", "error", err)
		return
	}
	if m.onMessage != nil {
		m.onMessage(channel, from, payload)
	}
}

// GetBroadcasts implements memberlist.Delegate; Veil piggybacks nothing.
func (m *membership) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState implements memberlist.Delegate: this node's claims, sent in
// each exchange of state (a join starts with one).
func (m *membership) LocalState(join bool) []byte {
	m.mu.Lock()
	c := claims{Version: claimsVersion, Name: m.self, AgeMS: m.now().Sub(m.started).Milliseconds()}
	if row, ok := m.table[m.self]; ok {
		c.Gossip = row.Gossip
	}
	if m.admitted {
		for name, row := range m.table {
			if name != m.self && (row.Status == StatusAlive || row.Status == StatusSuspect) {
				c.Live = append(c.Live, claim{Name: name, Gossip: row.Gossip})
			}
		}
	}
	m.mu.Unlock()
	sort.Slice(c.Live, func(i, j int) bool { return c.Live[i].Name < c.Live[j].Name })
	b, err := c.encode()
	if err != nil {
		m.log.Error("cannot encode this node's claims", "error", err)
		return nil
	}
	return b
}

// MergeRemoteState implements memberlist.Delegate: it reads the claims of
// the member this node exchanged state with.
func (m *membership) MergeRemoteState(buf []byte, join bool) {
	c, err := decodeClaims(buf)
	if err != nil {
		// Not a word about this node's name: as from a member that sends
		// no claims.
		m.log.Warn("a member sent gossip state this node cannot read", "error", err)
		c = claims{}
	}
	m.judge(c)
}

// judge reads a member's claims: a newcomer that finds a live member of
// its own name at another address refuses; otherwise the exchange admits
// this node. A node already admitted never refuses, whatever it hears: the
// other one is the newcomer, and refuses on its side.
func (m *membership) judge(c claims) {
	m.mu.Lock()
	if m.refused != nil {
		m.mu.Unlock()
		return
	}
	mine := ""
	if row, ok := m.table[m.self]; ok {
		mine = row.Gossip
	}
	age := m.now().Sub(m.started)
	var holder, says string
	elder := false
	if c.Name == m.self && c.Gossip != mine && c.Gossip != "" && mine != "" {
		// The member itself has this node's name: the one that has run
		// longer keeps it.
		holder, says = c.Gossip, fmt.Sprintf("it has run %s", (time.Duration(c.AgeMS)*time.Millisecond).Round(time.Millisecond))
		elder = time.Duration(c.AgeMS)*time.Millisecond >= age
	}
	for _, l := range c.Live {
		if holder == "" && l.Name == m.self && l.Gossip != mine && l.Gossip != "" && mine != "" {
			// Gossip holds that one: it will not take this node's address
			// for the name while the other lives.
			holder, says, elder = l.Gossip, fmt.Sprintf("member %s holds it alive", c.Name), true
		}
	}
	switch {
	case holder != "" && !m.admitted && elder:
		m.refused = fmt.Errorf("%w: %s is at %s (%s), and this node is at %s; start this one with another --name, or stop that one first",
			ErrNameTaken, m.self, holder, says, mine)
		m.mu.Unlock()
		close(m.refusedCh)
		m.log.Error("refusing to take part in the cluster", "error", m.refused)
		m.poke()
		return
	case holder != "":
		m.log.Warn("another node claims this node's name; it is the newcomer and must refuse",
			"name", m.self, "address", holder, "this_address", mine)
	}
	admitted := !m.admitted
	m.admitted = true
	m.mu.Unlock()
	if admitted {
		m.poke()
	}
}

// isRefused reports whether a live member holds this node's name.
func (m *membership) isRefused() bool {
	select {
	case <-m.refusedCh:
		return true
	default:
		return false
	}
}

// refusal returns why the node refused, or nil.
func (m *membership) refusal() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refused
}

// visible reports whether a row is shown to the rest of the node: its own
// always, the others once it is admitted. Callers hold mu.
func (m *membership) visible(name string) bool {
	return name == m.self || m.admitted
}

// NotifyJoin implements memberlist.EventDelegate.
func (m *membership) NotifyJoin(n *memberlist.Node) {
	m.log.Info("member joined", "member", n.Name, "address", m.upsert(n, StatusAlive))
}

// NotifyUpdate implements memberlist.EventDelegate.
func (m *membership) NotifyUpdate(n *memberlist.Node) { m.upsert(n, 0) }

// NotifyLeave implements memberlist.EventDelegate. memberlist calls it for
// a crash and for a leave alike; the leave intent the node gossiped before
// going (State leaving) tells them apart.
func (m *membership) NotifyLeave(n *memberlist.Node) {
	m.mu.Lock()
	row, ok := m.table[n.Name]
	if !ok {
		m.mu.Unlock()
		return
	}
	status := StatusFailed
	if row.leaving || row.Meta.State == StateLeaving {
		status = StatusLeft
	}
	if row.Status != status {
		row.Status, row.Since = status, m.now()
	}
	m.mu.Unlock()
	m.log.Info("member gone", "member", n.Name, "status", status)
	m.poke()
}

// upsert records what gossip says of n (status 0 keeps the current one) and
// returns n's gossip address.
func (m *membership) upsert(n *memberlist.Node, status Status) string {
	var meta Meta
	metaErr := meta.UnmarshalBinary(n.Meta)
	m.mu.Lock()
	row, ok := m.table[n.Name]
	if !ok {
		row = &Member{Name: n.Name, Since: m.now(), Status: StatusAlive}
		m.table[n.Name] = row
		if n.Name != m.self && !m.admitted && m.othersSince.IsZero() {
			m.othersSince = m.now()
		}
	}
	addr := net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	row.Gossip = addr
	if metaErr == nil {
		row.Meta = meta
	}
	if status != 0 && row.Status != status {
		row.Status, row.Since = status, m.now()
		row.leaving = false // back again: a new life
	}
	m.lastAck[n.Name] = m.now()
	m.mu.Unlock()
	if metaErr != nil {
		m.log.Warn("member sent metadata this node cannot read; keeping the last good one",
			"member", n.Name, "error", metaErr)
	}
	m.poke()
	return addr
}

// setFailing records a member's notice that it is failing on purpose (on)
// or that it serves again (off).
func (m *membership) setFailing(name string, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if row, ok := m.table[name]; ok {
		row.Failing, row.failingSince = on, m.now()
	}
}

// expireFailing clears failing flags older than limit: the member's notice
// that it is back was lost.
func (m *membership) expireFailing(limit time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, row := range m.table {
		if row.Failing && m.now().Sub(row.failingSince) > limit {
			row.Failing = false
		}
	}
}

// intendsToLeave records that a member said it is leaving on purpose, so
// that its departure shows as left rather than failed.
func (m *membership) intendsToLeave(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if row, ok := m.table[name]; ok {
		row.leaving = true
		// The member's own metadata update may not arrive before its
		// dead message does; show what it told us.
		row.Meta.State = StateLeaving
	}
}

// AckPayload implements memberlist.PingDelegate.
func (m *membership) AckPayload() []byte { return nil }

// NotifyPingComplete implements memberlist.PingDelegate: an answered probe
// clears suspicion.
func (m *membership) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	m.mu.Lock()
	m.lastAck[other.Name] = m.now()
	row, ok := m.table[other.Name]
	changed := ok && row.Status == StatusSuspect
	if changed {
		row.Status, row.Since = StatusAlive, m.now()
	}
	m.mu.Unlock()
	if changed {
		m.poke()
	}
}

// sweep marks as suspect the members whose probes have gone unanswered for
// too long. It is called once per probe interval.
func (m *membership) sweep() {
	m.mu.Lock()
	alive := 0
	for _, row := range m.table {
		if row.Status == StatusAlive || row.Status == StatusSuspect {
			alive++
		}
	}
	limit := m.suspectAfter(alive)
	now := m.now()
	changed := false
	if !m.admitted && m.refused == nil && !m.othersSince.IsZero() && now.Sub(m.othersSince) > limit {
		// Members are in sight but none has sent claims (a release from
		// before them sends none): take part rather than stay alone.
		m.admitted, changed = true, true
		m.log.Warn("no member has said whether this node's name is free (an older release?); taking part", "name", m.self)
	}
	for name, row := range m.table {
		if name == m.self || row.Status != StatusAlive {
			continue
		}
		if now.Sub(m.lastAck[name]) > limit {
			row.Status, row.Since = StatusSuspect, now
			changed = true
		}
	}
	m.mu.Unlock()
	if changed {
		m.poke()
	}
}

// members returns the table sorted by name, this node included.
func (m *membership) members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.table))
	for _, row := range m.table {
		if m.visible(row.Name) {
			out = append(out, *row)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// member returns one row.
func (m *membership) member(name string) (Member, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	row, ok := m.table[name]
	if !ok || !m.visible(name) {
		return Member{}, false
	}
	return *row, true
}

// forget drops rows that have been failed or left for longer than ttl, so
// that the table does not grow without bound as nodes come and go.
func (m *membership) forget(ttl time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for name, row := range m.table {
		if (row.Status == StatusFailed || row.Status == StatusLeft) && now.Sub(row.Since) > ttl {
			delete(m.table, name)
			delete(m.lastAck, name)
		}
	}
}

// ErrNameTaken is why a node refuses to take part: a live member of the
// cluster already holds its name.
var ErrNameTaken = errors.New("cluster: a live member already holds this node's name")

// Refused is closed when the node has found, as it joined, a live member
// that holds its name; RefusedErr says which. Such a node took no part in
// the cluster (its table shows it alone, and it answers no gossip message),
// and the live member is left as it was. Stop it with Close, not Leave: a
// leave would tell the others that the name is leaving, and they would
// take it for the live member.
func (n *Node) Refused() <-chan struct{} { return n.mship.refusedCh }

// RefusedErr is why the node refused (wrapping ErrNameTaken), or nil.
func (n *Node) RefusedErr() error { return n.mship.refusal() }

// claims are what a node tells the member it exchanges gossip state with
// (memberlist's push-pull, with which a join begins): its name, its gossip
// address, how long it has run, and the live members it holds. Two nodes
// that started with one name learn it from each other, or from any member
// that holds the other alive; the newcomer refuses. The age is a duration,
// not a time: clocks of two machines need not agree.
type claims struct {
	Version int     `json:"v"`
	Name    string  `json:"name"`
	Gossip  string  `json:"gossip"`
	AgeMS   int64   `json:"age_ms"`
	Live    []claim `json:"live,omitempty"`
}

type claim struct {
	Name   string `json:"name"`
	Gossip string `json:"gossip"`
}

const claimsVersion = 1

// maxClaims bounds the members one node's claims may list.
const maxClaims = 4096

func (c claims) encode() ([]byte, error) { return json.Marshal(c) }

// decodeClaims reads a member's claims; a newer version is read for the
// fields this one knows.
func decodeClaims(b []byte) (claims, error) {
	var c claims
	if err := json.Unmarshal(b, &c); err != nil {
		return claims{}, fmt.Errorf("claims: %w", err)
	}
	switch {
	case c.Version < claimsVersion:
		return claims{}, fmt.Errorf("claims: version %d", c.Version)
	case c.AgeMS < 0:
		return claims{}, fmt.Errorf("claims: age %d ms", c.AgeMS)
	case len(c.Live) > maxClaims:
		return claims{}, fmt.Errorf("claims: %d members, more than %d", len(c.Live), maxClaims)
	}
	return c, nil
}

// encodeUserMsg frames a message for NotifyMsg: channel, sender, payload.
func encodeUserMsg(channel byte, from string, payload []byte) []byte {
	b := make([]byte, 0, 2+len(from)+len(payload))
	b = append(b, channel, byte(len(from)))
	b = append(b, from...)
	return append(b, payload...)
}

func decodeUserMsg(b []byte) (channel byte, from string, payload []byte, err error) {
	if len(b) < 2 {
		return 0, "", nil, fmt.Errorf("gossip message of %d bytes is too short", len(b))
	}
	n := int(b[1])
	if n == 0 || len(b) < 2+n {
		return 0, "", nil, fmt.Errorf("gossip message has a bad sender length %d", n)
	}
	switch b[0] {
	case chanElection, chanControl:
	default:
		return 0, "", nil, fmt.Errorf("gossip message on unknown channel %d", b[0])
	}
	return b[0], string(b[2 : 2+n]), b[2+n:], nil
}
