package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Image is an image as the registry holds it once the faults are over:
// its id and each viewer's views left (tags included).
type Image struct {
	ID      string
	Viewers map[string]int
}

// Tally is what the registry check found.
type Tally struct {
	// Lost counts acknowledged puts missing from the registry, and
	// acknowledged views the registry did not count.
	Lost int
	// Duplicated counts operations applied more often than they could
	// have been: a put found twice, a put told it failed found at all, an
	// image no put asked for, views spent beyond the acknowledged and
	// unknown ones.
	Duplicated int
	// OverQuota counts views acknowledged beyond a viewer's quota.
	OverQuota int
	// Problems says what each count is made of, one line per finding.
	Problems []string
}

func (t *Tally) add(count *int, n int, format string, args ...any) {
	*count += n
	t.Problems = append(t.Problems, fmt.Sprintf(format, args...))
}

// Registry checks the history against the registry's final images: every
// acknowledged put is there once; no put, and no view, was applied more
// often than the history allows; and the views spent per viewer are
// exactly the acknowledged ones, plus at most the unknown ones.
func Registry(h History, final []Image) Tally {
	var t Tally
	byTag := map[string][]Image{}
	for _, img := range final {
		tagged := false
		for v := range img.Viewers {
			if IsTag(v) {
				byTag[v] = append(byTag[v], img)
				tagged = true
			}
		}
		if !tagged {
			t.add(&t.Duplicated, 1, "image %s is in the registry, but no put of the history asked for it", img.ID)
		}
	}
	byID := map[string]Image{}
	for _, img := range final {
		byID[img.ID] = img
	}
	puts := map[string]Op{} // acknowledged image id → its put
	seen := map[string]bool{}
	for _, o := range h.Ops {
		if o.Kind != Put {
			continue
		}
		seen[o.Tag] = true
		found := byTag[o.Tag]
		switch o.Result {
		case OK:
			puts[o.Image] = o
			if _, ok := byID[o.Image]; !ok {
				t.add(&t.Lost, 1, "acknowledged put %s (image %s) is not in the registry", o.Tag, o.Image)
			}
			if len(found) > 1 {
				t.add(&t.Duplicated, len(found)-1, "put %s is in the registry %d times", o.Tag, len(found))
			}
		case Unknown:
			if len(found) > 1 {
				t.add(&t.Duplicated, len(found)-1, "put %s (outcome unknown) is in the registry %d times", o.Tag, len(found))
			}
		default:
			if len(found) > 0 {
				t.add(&t.Duplicated, len(found), "put %s was told %s (%s) but is in the registry", o.Tag, o.Result, o.Err)
			}
		}
	}
	for tag, imgs := range byTag {
		if !seen[tag] {
			t.add(&t.Duplicated, len(imgs), "image %s lists the tag %s, which no put of the history used", imgs[0].ID, tag)
		}
	}

	type key struct{ image, viewer string }
	acked, unknown := map[key]int{}, map[key]int{}
	for _, o := range h.Ops {
		if o.Kind != View {
			continue
		}
		switch o.Result {
		case OK:
			acked[key{o.Image, o.Viewer}]++
		case Unknown:
			unknown[key{o.Image, o.Viewer}]++
		}
	}
	ids := make([]string, 0, len(puts))
	for id := range puts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		img, ok := byID[id]
		if !ok {
			continue // counted as a lost put
		}
		put := puts[id]
		viewers := make([]string, 0, len(put.Quota))
		for v := range put.Quota {
			viewers = append(viewers, v)
		}
		sort.Strings(viewers)
		for _, v := range viewers {
			quota := put.Quota[v]
			k := key{id, v}
			left, listed := img.Viewers[v]
			if !listed {
				t.add(&t.Lost, 1, "image %s no longer lists the viewer %s", short(id), v)
				continue
			}
			spent := quota - left
			a, u := acked[k], unknown[k]
			if a > quota {
				t.add(&t.OverQuota, a-quota, "image %s: %d views acknowledged to %s, quota %d", short(id), a, v, quota)
			}
			switch {
			case spent < a:
				t.add(&t.Lost, a-spent, "image %s: %d views acknowledged to %s, the registry counts %d spent", short(id), a, v, spent)
			case spent > a+u:
				t.add(&t.Duplicated, spent-a-u, "image %s: %d views of %s spent, only %d acknowledged and %d unknown", short(id), spent, v, a, u)
			}
		}
	}
	return t
}

// tagPrefix starts every tag viewer name.
const tagPrefix = "tag-"

// Tag is the tag viewer name of a put by client c, its n-th.
func Tag(client, n int) string { return fmt.Sprintf("%s%d-%d", tagPrefix, client, n) }

// IsTag reports whether a viewer name is a put's tag.
func IsTag(viewer string) bool { return strings.HasPrefix(viewer, tagPrefix) }

// Violation is an operation that broke a rule, with the one that shows it.
type Violation struct {
	Op, Because Op
}

func (v Violation) String() string {
	return fmt.Sprintf("%v, called after %v", v.Op, v.Because)
}

// Epochs finds the writes acknowledged at an epoch lower than that of a
// write already acknowledged when they were called: a coordinator
// acknowledging after a higher epoch existed. Answers without an epoch
// are left out.
func Epochs(h History) []Violation {
	var acks []Op
	for _, o := range h.Ops {
		if o.Result == OK && o.Epoch > 0 {
			acks = append(acks, o)
		}
	}
	byReturn := slices.Clone(acks)
	slices.SortFunc(byReturn, func(a, b Op) int { return int(a.Return - b.Return) })
	// best[i] is the op with the highest epoch among byReturn[:i+1].
	best := make([]Op, len(byReturn))
	for i, o := range byReturn {
		best[i] = o
		if i > 0 && best[i-1].Epoch >= o.Epoch {
			best[i] = best[i-1]
		}
	}
	var out []Violation
	for _, o := range acks {
		// The acks that returned strictly before o was called.
		n := sort.Search(len(byReturn), func(i int) bool { return byReturn[i].Return >= o.Call })
		if n > 0 && best[n-1].Epoch > o.Epoch {
			out = append(out, Violation{Op: o, Because: best[n-1]})
		}
	}
	return out
}
