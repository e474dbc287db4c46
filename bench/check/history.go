package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Kind is what an operation asked for.
type Kind string

const (
	// Put veils an image for its owner with a quota per viewer.
	Put Kind = "put"
	// View asks to see an image as one viewer, spending one view.
	View Kind = "view"
)

// Result is what an operation was told.
type Result string

const (
	// OK: acknowledged; a put was recorded, a view was granted and spent.
	OK Result = "ok"
	// Denied: a view refused because no views were left. Nothing changed.
	Denied Result = "denied"
	// Failed: refused for good for another reason. Nothing changed.
	Failed Result = "failed"
	// Unknown: no answer (a timeout, a cut connection) or one that leaves
	// open whether the operation was applied. It may have taken effect,
	// once, at any time after its call.
	Unknown Result = "unknown"
)

// Op is one operation of a history: who asked what, when, and what they
// were told. Times are offsets from the history's start.
type Op struct {
	Client int  `json:"client"` // which client asked; a client asks one thing at a time
	Kind   Kind `json:"kind"`
	// Image is the image a view was about; for a put, the id it was
	// acknowledged with (empty unless OK).
	Image string `json:"image,omitempty"`
	// Tag is a viewer name that only this put lists, so that the put can
	// be found in the registry whatever id it was given.
	Tag string `json:"tag,omitempty"`
	// Quota is, for a put, the views each viewer was given (the tag
	// aside); for a view, the viewer's views when the image was put.
	Quota  map[string]int `json:"quota,omitempty"`
	Viewer string         `json:"viewer,omitempty"`
	Call   time.Duration  `json:"call"`
	Return time.Duration  `json:"return"`
	Result Result         `json:"result"`
	// ViewsLeft is what an acknowledged view said was left.
	ViewsLeft int `json:"views_left,omitempty"`
	// Node, Coordinator and Epoch are what the answer that decided the
	// result named (empty for Unknown).
	Node        string `json:"node,omitempty"`
	Coordinator string `json:"coordinator,omitempty"`
	Epoch       uint64 `json:"epoch,omitempty"`
	Err         string `json:"error,omitempty"`
}

// Definite reports whether the operation got an answer that says what
// happened.
func (o Op) Definite() bool { return o.Result != Unknown }

func (o Op) String() string {
	what := fmt.Sprintf("put %s", o.Tag)
	if o.Kind == View {
		what = fmt.Sprintf("view %s as %s", short(o.Image), o.Viewer)
	}
	s := fmt.Sprintf("client %d %s [%s, %s] → %s", o.Client, what, ms(o.Call), ms(o.Return), o.Result)
	if o.Result == OK && o.Kind == View {
		s += fmt.Sprintf(" (%d left)", o.ViewsLeft)
	}
	if o.Coordinator != "" {
		s += fmt.Sprintf(" by %s at epoch %d", o.Coordinator, o.Epoch)
	}
	if o.Err != "" {
		s += ": " + o.Err
	}
	return s
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// History is every operation of a run, from its start to its end.
type History struct {
	Start time.Time     `json:"start"`
	End   time.Duration `json:"end"` // when the last client stopped
	Ops   []Op          `json:"ops"`
}

// Recorder collects operations from many clients. It is safe for
// concurrent use.
type Recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
}

// NewRecorder starts a history now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the offset of this moment from the history's start.
func (r *Recorder) Now() time.Duration { return time.Since(r.start) }

// Add records a finished operation.
func (r *Recorder) Add(op Op) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// History returns the operations recorded so far, by call time, ending
// now.
func (r *Recorder) History() History {
	r.mu.Lock()
	ops := slices.Clone(r.ops)
	r.mu.Unlock()
	slices.SortStableFunc(ops, func(a, b Op) int { return int(a.Call - b.Call) })
	return History{Start: r.start, End: r.Now(), Ops: ops}
}

// Encode writes the history as JSON.
func (h History) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(h)
}

// ErrMalformed says a history read from outside does not hold together.
var ErrMalformed = errors.New("check: malformed history")

// Decode reads a history written by Encode, and refuses one that does not
// hold together: an unknown field, kind or result, a return before its
// call or after the end, a negative quota.
func Decode(r io.Reader) (History, error) {
	var h History
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return History{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if h.End < 0 {
		return History{}, fmt.Errorf("%w: end %s is negative", ErrMalformed, h.End)
	}
	for i, o := range h.Ops {
		if err := o.validate(h.End); err != nil {
			return History{}, fmt.Errorf("%w: operation %d: %v", ErrMalformed, i, err)
		}
	}
	return h, nil
}

func (o Op) validate(end time.Duration) error {
	switch o.Kind {
	case Put, View:
	default:
		return fmt.Errorf("kind %q: want put or view", o.Kind)
	}
	switch o.Result {
	case OK, Denied, Failed, Unknown:
	default:
		return fmt.Errorf("result %q: want ok, denied, failed or unknown", o.Result)
	}
	if o.Client < 0 {
		return fmt.Errorf("client %d is negative", o.Client)
	}
	if o.Call < 0 || o.Return < o.Call || o.Return > end {
		return fmt.Errorf("call %s and return %s do not fit in [0, %s]", o.Call, o.Return, end)
	}
	for v, n := range o.Quota {
		if n < 0 {
			return fmt.Errorf("viewer %q has a negative quota %d", v, n)
		}
	}
	if o.ViewsLeft < 0 {
		return fmt.Errorf("views left %d is negative", o.ViewsLeft)
	}
	return nil
}
