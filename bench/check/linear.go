package check

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the outcome of a linearizability check.
type Verdict string

const (
	Linearizable    Verdict = "yes"
	NotLinearizable Verdict = "no"
	// TimedOut: the checker found no violation within its time limit, and
	// did not finish either.
	TimedOut Verdict = "timeout"
)

// Linearity is the result of checking every image of a history.
type Linearity struct {
	Verdict  Verdict
	Images   int      // images checked
	Failed   []string // images whose views are not linearizable
	TimedOut []string
	// Visualizations are the HTML files written for failed images.
	Visualizations []string
}

// viewInput is a view as the model sees it: who, and the quota the image
// gave them.
type viewInput struct {
	viewer string
	quota  int
}

// viewOutput is what a view was told.
type viewOutput struct {
	result Result
	left   int
}

// viewModel is an image's views as a sequential object: each listed viewer
// has a quota; a view with views left spends one and says how many remain;
// a view with none left is denied. The state is the views spent per
// viewer, as a canonical string ("a=1,b=2"), so that == compares states.
var viewModel = porcupine.Model{
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in, out := input.(viewInput), output.(viewOutput)
		spent := decodeSpent(state.(string))
		left := in.quota - spent[in.viewer]
		switch out.result {
		case OK:
			if left <= 0 || out.left != left-1 {
				return false, state
			}
		case Denied:
			return left <= 0, state
		case Unknown:
			if left <= 0 {
				return true, state
			}
		default:
			return false, state
		}
		spent[in.viewer]++
		return true, encodeSpent(spent)
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(viewInput), output.(viewOutput)
		if out.result == OK {
			return fmt.Sprintf("view(%s) → ok, %d left", in.viewer, out.left)
		}
		return fmt.Sprintf("view(%s) → %s", in.viewer, out.result)
	},
	DescribeState: func(state any) string {
		if state.(string) == "" {
			return "nothing spent"
		}
		return "spent " + state.(string)
	},
}

func decodeSpent(s string) map[string]int {
	m := map[string]int{}
	if s == "" {
		return m
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, _ := strconv.Atoi(v)
		m[k] = n
	}
	return m
}

func encodeSpent(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Itoa(m[k])
	}
	return strings.Join(parts, ",")
}

// Linear checks, image by image, that the views of the history are
// linearizable against per-viewer quotas, giving each image at most
// timeout. An operation of unknown outcome may take effect at any time
// after its call, or never: it returns, for the checker, after every other
// operation. For each image that fails, the checker's visualisation is
// written as HTML into dir (when dir is not empty).
func Linear(h History, timeout time.Duration, dir string) (Linearity, error) {
	byImage := map[string][]porcupine.Operation{}
	end := h.End
	for _, o := range h.Ops {
		end = max(end, o.Return)
	}
	for _, o := range h.Ops {
		if o.Kind != View || o.Result == Failed || o.Image == "" {
			continue
		}
		ret := o.Return
		if o.Result == Unknown {
			ret = end + 1
		}
		byImage[o.Image] = append(byImage[o.Image], porcupine.Operation{
			ClientId: o.Client,
			Input:    viewInput{o.Viewer, o.Quota[o.Viewer]},
			Call:     int64(o.Call),
			Output:   viewOutput{o.Result, o.ViewsLeft},
			Return:   int64(ret),
		})
	}
	images := make([]string, 0, len(byImage))
	for id := range byImage {
		images = append(images, id)
	}
	sort.Strings(images)
	out := Linearity{Verdict: Linearizable, Images: len(images)}
	for _, id := range images {
		ops := byImage[id]
		res, info := porcupine.CheckOperationsVerbose(viewModel, clientIDs(ops), timeout)
		switch res {
		case porcupine.Ok:
			continue
		case porcupine.Unknown:
			out.TimedOut = append(out.TimedOut, id)
			if out.Verdict == Linearizable {
				out.Verdict = TimedOut
			}
			continue
		}
		out.Verdict = NotLinearizable
		out.Failed = append(out.Failed, id)
		if dir == "" {
			continue
		}
		path := filepath.Join(dir, "linearizability-"+id+".html")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return out, fmt.Errorf("check: %w", err)
		}
		if err := porcupine.VisualizePath(viewModel, info, path); err != nil {
			return out, fmt.Errorf("check: visualising image %s: %w", id, err)
		}
		out.Visualizations = append(out.Visualizations, path)
	}
	return out, nil
}

// clientIDs renumbers the clients of one image from zero, as the
// visualisation wants them.
func clientIDs(ops []porcupine.Operation) []porcupine.Operation {
	var ids []int
	for _, o := range ops {
		ids = append(ids, o.ClientId)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := slices.Clone(ops)
	for i := range out {
		out[i].ClientId, _ = slices.BinarySearch(ids, out[i].ClientId)
	}
	return out
}
