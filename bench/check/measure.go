package check

import (
	"slices"
	"time"
)

// Gap is a stretch of a history.
type Gap struct {
	From, To time.Duration
}

// Len is how long the gap lasts.
func (g Gap) Len() time.Duration { return g.To - g.From }

// LongestUnavailability is the longest stretch, from the start of the
// history to its end, in which no client got a definite answer (an
// acknowledgement or a refusal).
func LongestUnavailability(h History) Gap {
	var returns []time.Duration
	for _, o := range h.Ops {
		if o.Definite() {
			returns = append(returns, o.Return)
		}
	}
	slices.Sort(returns)
	longest, prev := Gap{}, time.Duration(0)
	for _, r := range append(returns, h.End) {
		if r-prev > longest.Len() {
			longest = Gap{prev, r}
		}
		prev = max(prev, r)
	}
	return longest
}

// DualCoordinators is how long two different coordinators were both
// acknowledging writes: the time covered by the spans (first to last
// acknowledgement) of at least two coordinators at once. A coordinator's
// span is taken per epoch, so that one that lost the role and won it back
// is not counted against the one in between.
func DualCoordinators(h History) time.Duration {
	type span struct {
		coord    string
		from, to time.Duration
	}
	type key struct {
		coord string
		epoch uint64
	}
	spans := map[key]*span{}
	for _, o := range h.Ops {
		if o.Result != OK || o.Coordinator == "" {
			continue
		}
		k := key{o.Coordinator, o.Epoch}
		if s, ok := spans[k]; ok {
			s.from, s.to = min(s.from, o.Return), max(s.to, o.Return)
		} else {
			spans[k] = &span{o.Coordinator, o.Return, o.Return}
		}
	}
	var cuts []time.Duration
	for _, s := range spans {
		cuts = append(cuts, s.from, s.to)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var total time.Duration
	for i := 0; i+1 < len(cuts); i++ {
		a, b := cuts[i], cuts[i+1]
		coords := map[string]bool{}
		for _, s := range spans {
			if s.from <= a && b <= s.to {
				coords[s.coord] = true
			}
		}
		if len(coords) >= 2 {
			total += b - a
		}
	}
	return total
}
