package load

import (
	"fmt"
	"maps"
	"slices"

	"veil/cluster"
)

// Books is the check, after a run, of what the clients were told against
// what the registry holds: every acknowledged put is there, no operation
// was applied twice, and every image has exactly its quota less its
// acknowledged views left, give or take the views whose outcome the
// client never learnt; and every acknowledged view gave back the very
// bytes its image was put with.
type Books struct {
	PutsAcked    int `json:"puts_acked"`
	PutsUnknown  int `json:"puts_unknown"`
	PutsFailed   int `json:"puts_failed"`
	ViewsAcked   int `json:"views_acked"`
	ViewsUnknown int `json:"views_unknown"`
	ViewsFailed  int `json:"views_failed"`
	// ViewsWrong counts the acknowledged views whose bytes were not the
	// secret put.
	ViewsWrong int `json:"views_wrong,omitempty"`
	// InRegistry is the number of the owner's images the registry holds.
	InRegistry int `json:"in_registry"`
	// UnknownPutsApplied and UnknownViewsApplied are how many operations
	// of unknown outcome the registry shows to have happened.
	UnknownPutsApplied  int `json:"unknown_puts_applied"`
	UnknownViewsApplied int `json:"unknown_views_applied"`
	// Problems lists every broken rule; none means the books balance.
	Problems []string `json:"problems"`
}

// OK reports whether the books balance.
func (b Books) OK() bool { return len(b.Problems) == 0 }

func (b *Books) problem(format string, args ...any) {
	b.Problems = append(b.Problems, fmt.Sprintf(format, args...))
}

// CheckBooks holds the operations of a run against the images the
// registry lists for the run's owner (GET /v1/images as that owner).
func CheckBooks(ops []Op, registry []cluster.ImageReply) Books {
	b := Books{Problems: []string{}}
	reg := map[string]cluster.ImageReply{}
	for _, img := range registry {
		if _, dup := reg[img.ID]; dup {
			b.problem("the registry lists image %s twice", img.ID)
		}
		reg[img.ID] = img
	}
	b.InRegistry = len(reg)

	puts := map[string]Op{} // acknowledged puts by image
	viewsAcked := map[string]int{}
	viewsUnknown := map[string]int{}
	for _, o := range ops {
		switch o.Kind {
		case OpPut:
			switch o.Outcome {
			case OutcomeOK:
				b.PutsAcked++
				if first, dup := puts[o.Image]; dup {
					b.problem("two puts were acknowledged with the same image %s (workers %d and %d): one was applied twice",
						o.Image, first.Worker, o.Worker)
					continue
				}
				puts[o.Image] = o
			case OutcomeUnknown:
				b.PutsUnknown++
			default:
				b.PutsFailed++
			}
		case OpView:
			switch o.Outcome {
			case OutcomeOK:
				b.ViewsAcked++
				viewsAcked[o.Image]++
				if o.WrongSecret {
					b.ViewsWrong++
					b.problem("a view of image %s (worker %d, at %s) was acknowledged with bytes that are not the secret put",
						o.Image, o.Worker, o.End)
				}
			case OutcomeUnknown:
				b.ViewsUnknown++
				viewsUnknown[o.Image]++
			default:
				b.ViewsFailed++
			}
		}
	}

	for _, id := range slices.Sorted(maps.Keys(puts)) {
		o := puts[id]
		img, ok := reg[id]
		if !ok {
			b.problem("acknowledged put %s (worker %d, at %s) is not in the registry: lost", id, o.Worker, o.End)
			continue
		}
		left, ok := img.Viewers[o.Viewer]
		if !ok {
			b.problem("image %s has no viewer %s, who was given %d views", id, o.Viewer, o.Quota)
			continue
		}
		acked, unknown := viewsAcked[id], viewsUnknown[id]
		switch most, least := o.Quota-acked, o.Quota-acked-unknown; {
		case left > most:
			b.problem("image %s: %d views left of %d after %d acknowledged views: %d acknowledged views were not counted",
				id, left, o.Quota, acked, left-most)
		case left < least:
			b.problem("image %s: %d views left of %d after %d acknowledged and %d unknown views: %d views were counted twice",
				id, left, o.Quota, acked, unknown, least-left)
		default:
			b.UnknownViewsApplied += most - left
		}
	}
	for id, n := range viewsAcked {
		if _, ok := puts[id]; !ok {
			b.problem("%d views of image %s were acknowledged, but no put of it was", n, id)
		}
	}
	extra := 0
	for id := range reg {
		if _, ok := puts[id]; !ok {
			extra++
		}
	}
	if extra > b.PutsUnknown {
		b.problem("the registry holds %d images no acknowledged put returned, but only %d puts have an unknown outcome: "+
			"a put was applied twice", extra, b.PutsUnknown)
	} else {
		b.UnknownPutsApplied = extra
	}
	return b
}
