package check

import (
	"fmt"
	"time"
)

// Report is every check and measure of one history.
type Report struct {
	Ops          int `json:"operations"`
	Acknowledged int `json:"acknowledged"` // puts recorded and views granted
	Denied       int `json:"denied"`
	Failed       int `json:"failed"`
	Unknown      int `json:"unknown"`
	Lost         int `json:"lost"`
	Duplicated   int `json:"duplicated"`
	OverQuota    int `json:"over_quota"`
	// StaleAcks counts writes acknowledged after a higher epoch had
	// acknowledged one.
	StaleAcks      int           `json:"stale_acks"`
	Linearizable   Verdict       `json:"linearizable"`
	Images         int           `json:"images_checked"`
	Unavailable    time.Duration `json:"longest_unavailability_ns"`
	UnavailableAt  time.Duration `json:"longest_unavailability_from_ns"`
	DualCoordinate time.Duration `json:"two_coordinators_ns"`
	Problems       []string      `json:"problems,omitempty"`
	Visualizations []string      `json:"visualizations,omitempty"`
}

// OK reports whether every check passed (a linearizability check that
// timed out is not a failure).
func (r Report) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.OverQuota == 0 && r.StaleAcks == 0 &&
		r.Linearizable != NotLinearizable
}

// Judge runs every check on a history and the registry's final images.
// The linearizability check gives each image at most timeout and writes
// the visualisation of a failure into dir.
func Judge(h History, final []Image, timeout time.Duration, dir string) (Report, error) {
	r := Report{Ops: len(h.Ops)}
	for _, o := range h.Ops {
		switch o.Result {
		case OK:
			r.Acknowledged++
		case Denied:
			r.Denied++
		case Failed:
			r.Failed++
		case Unknown:
			r.Unknown++
		}
	}
	t := Registry(h, final)
	r.Lost, r.Duplicated, r.OverQuota = t.Lost, t.Duplicated, t.OverQuota
	r.Problems = append(r.Problems, t.Problems...)
	for _, v := range Epochs(h) {
		r.StaleAcks++
		r.Problems = append(r.Problems, "acknowledged after a higher epoch: "+v.String())
	}
	lin, err := Linear(h, timeout, dir)
	r.Linearizable, r.Images, r.Visualizations = lin.Verdict, lin.Images, lin.Visualizations
	for _, id := range lin.Failed {
		r.Problems = append(r.Problems, fmt.Sprintf("the views of image %s are not linearizable", id))
	}
	g := LongestUnavailability(h)
	r.Unavailable, r.UnavailableAt = g.Len(), g.From
	r.DualCoordinate = DualCoordinators(h)
	return r, err
}
