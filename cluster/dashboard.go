package cluster

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"veil/internal/webstyle"
)

// The operator's dashboard: a page at /ui/ on every node, fed by one
// server-sent event stream (/v1/events) per open page, so that a page costs
// one long request, not a poll a second. The page and its script ship in
// the binary; nothing loads from elsewhere.

//go:embed web
var webFiles embed.FS

// dashboardCSP allows the page's own script and style and nothing else.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Event is one thing that happened, as the dashboard lists it.
type Event struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"` // coordinator, failure, back, order
	Text string    `json:"text"`
}

// eventLog keeps the node's last events.
type eventLog struct {
	mu  sync.Mutex
	buf []Event
}

const maxEvents = 50

func (l *eventLog) add(kind, format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, Event{At: time.Now().UTC(), Kind: kind, Text: fmt.Sprintf(format, a...)})
	if len(l.buf) > maxEvents {
		l.buf = slices.Delete(l.buf, 0, len(l.buf)-maxEvents)
	}
}

func (l *eventLog) list() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.buf)
}

// traffic counts finished API requests and their time, for the rate and
// mean latency the dashboard shows.
type traffic struct {
	count atomic.Uint64
	nanos atomic.Uint64
}

func (t *traffic) add(d time.Duration) {
	t.count.Add(1)
	t.nanos.Add(uint64(d))
}

// DashboardUpdate is one message of GET /v1/events.
type DashboardUpdate struct {
	Node        string        `json:"node"`
	Mode        string        `json:"mode"`
	State       string        `json:"state"`
	Coordinator string        `json:"coordinator"`
	Epoch       uint64        `json:"epoch"`
	Elections   uint64        `json:"elections"`
	Failures    uint64        `json:"failures"`
	Members     []MemberReply `json:"members"`
	Events      []Event       `json:"events"`
	Rate        float64       `json:"rate"`       // requests per second over the last interval
	LatencyMs   float64       `json:"latency_ms"` // their mean
}

// eventsInterval is how often an open page is sent the state.
const eventsInterval = time.Second

// handleEvents is GET /v1/events: the dashboard's state as server-sent
// events, once a second, until the page goes away.
func (n *Node) handleEvents(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// The stream outlives the server's write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", eventsInterval.Milliseconds()); err != nil {
		return nil
	}
	ctx := n.ctx
	t := time.NewTicker(eventsInterval)
	defer t.Stop()
	lastCount, lastNanos, lastAt := n.traffic.count.Load(), n.traffic.nanos.Load(), time.Now()
	for {
		now := time.Now()
		count, nanos := n.traffic.count.Load(), n.traffic.nanos.Load()
		u := n.dashboardUpdate()
		if dc := count - lastCount; dc > 0 {
			u.Rate = float64(dc) / now.Sub(lastAt).Seconds()
			u.LatencyMs = float64(nanos-lastNanos) / float64(dc) / 1e6
		}
		lastCount, lastNanos, lastAt = count, nanos, now
		b, err := json.Marshal(u)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return nil // the page went away
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (n *Node) dashboardUpdate() DashboardUpdate {
	l := n.elector.Leadership()
	return DashboardUpdate{
		Node: n.cfg.Name, Mode: n.cfg.Mode.String(), State: n.State().String(),
		Coordinator: l.Coordinator, Epoch: l.Epoch.Term,
		Elections: n.elector.Stats().Elections, Failures: n.failures.Load(),
		Members: n.memberRows(), Events: n.events.list(),
	}
}

// dashboard serves the page's files under /ui/.
func (n *Node) dashboard() http.Handler {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic("cluster: embedded web files: " + err.Error())
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	base := webstyle.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.URL.Path == "/ui/base.css" {
			base.ServeHTTP(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}
