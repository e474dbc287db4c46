package local

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"veil/bench/proc"
	"veil/cluster"
)

// Agreement is a coordinator that a set of nodes name alike, at one epoch.
type Agreement struct {
	Coordinator string
	API         string // the coordinator's API address
	Epoch       uint64 // the epoch's term
	EpochNode   string // the node that opened the epoch
}

func (a Agreement) String() string {
	return fmt.Sprintf("coordinator %s at epoch %d/%s", a.Coordinator, a.Epoch, a.EpochNode)
}

// After reports whether epoch (term, node) of a is later than b's, in the
// order of package bully: by term, then by node name.
func (a Agreement) After(b Agreement) bool {
	if a.Epoch != b.Epoch {
		return a.Epoch > b.Epoch
	}
	return a.EpochNode > b.EpochNode
}

// View is what one node answered when asked who coordinates. A node that
// knows of no coordinator answers with an empty Reply and no error.
type View struct {
	Node  string
	Reply cluster.CoordinatorReply
	Err   error
	Sent  time.Time // when the question went out
	At    time.Time // when the answer came
}

func (v View) String() string {
	if v.Err != nil {
		return fmt.Sprintf("%s: %v", v.Node, v.Err)
	}
	if v.Reply.Coordinator == "" {
		return v.Node + ": no coordinator"
	}
	return fmt.Sprintf("%s: %s at epoch %d/%s", v.Node, v.Reply.Coordinator, v.Reply.Epoch, v.Reply.EpochNode)
}

// get fetches path from a node's API and decodes the JSON reply into v
// (when v is not nil). Any status but 200 is a *proc.StatusError.
func (c *Cluster) get(ctx context.Context, api, path string, v any) error {
	return proc.GetJSON(ctx, c.http, api, path, v)
}

// Views asks each of the given nodes at once who coordinates.
func (c *Cluster) Views(ctx context.Context, idx ...int) []View {
	views := make([]View, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		n := c.Node(i)
		views[k].Node = n.Name
		wg.Go(func() {
			views[k].Sent = time.Now()
			err := c.get(ctx, n.API, "/v1/coordinator", &views[k].Reply)
			views[k].At = time.Now()
			var se *proc.StatusError
			if errors.As(err, &se) && se.Code == "no_coordinator" {
				err = nil // an answer: it knows of none (Reply stays zero)
			}
			views[k].Err = err
		})
	}
	wg.Wait()
	return views
}

// agreed returns the coordinator every view names, if they all answered
// and name the same one at the same epoch, and it is one of them.
func agreed(views []View) (Agreement, bool) {
	if len(views) == 0 {
		return Agreement{}, false
	}
	first := views[0].Reply
	among := false
	for _, v := range views {
		if v.Err != nil || v.Reply.Coordinator == "" || v.Reply.Coordinator != first.Coordinator ||
			v.Reply.Epoch != first.Epoch || v.Reply.EpochNode != first.EpochNode {
			return Agreement{}, false
		}
		among = among || v.Node == first.Coordinator
	}
	return Agreement{Coordinator: first.Coordinator, API: first.API, Epoch: first.Epoch, EpochNode: first.EpochNode}, among
}

// agreementPoll is how often WaitAgreement asks.
const agreementPoll = 10 * time.Millisecond

// WaitAgreement polls GET /v1/coordinator on the given nodes (all live
// nodes when none are given) until they name the same coordinator, one of
// them, at the same epoch. It gives up when ctx ends, saying what each
// node last answered.
func (c *Cluster) WaitAgreement(ctx context.Context, idx ...int) (Agreement, error) {
	if len(idx) == 0 {
		idx = c.Live()
	}
	var last []View
	err := proc.Poll(ctx, agreementPoll, func() bool {
		views := c.Views(ctx, idx...)
		if ctx.Err() == nil || last == nil {
			last = views // answers cut short by the deadline say nothing
		}
		_, ok := agreed(views)
		return ok
	})
	if err != nil {
		return Agreement{}, fmt.Errorf("bench: %d nodes did not agree on a coordinator: %w; last answers: %s",
			len(idx), err, joinViews(last))
	}
	a, _ := agreed(last)
	return a, nil
}

// WaitSettled waits until the live nodes agree on a coordinator and each
// of them lists every live node as alive and active (serving, not
// recovering): the state a trial starts from.
func (c *Cluster) WaitSettled(ctx context.Context) (Agreement, error) {
	live := c.Live()
	var a Agreement
	var why string
	err := proc.Poll(ctx, agreementPoll, func() bool {
		views := c.Views(ctx, live...)
		var ok bool
		if a, ok = agreed(views); !ok {
			why = "no agreement: " + joinViews(views)
			return false
		}
		for _, i := range live {
			members, err := c.Members(ctx, i)
			if err != nil {
				why = fmt.Sprintf("%s: members: %v", c.Node(i).Name, err)
				return false
			}
			for _, j := range live {
				m := memberNamed(members, c.Node(j).Name)
				if m.Status != "alive" || m.State != "active" {
					why = fmt.Sprintf("%s sees %s as %q and %q", c.Node(i).Name, c.Node(j).Name, m.Status, m.State)
					return false
				}
			}
		}
		return true
	})
	if err != nil {
		return Agreement{}, fmt.Errorf("bench: the cluster did not settle: %w; last: %s", err, why)
	}
	return a, nil
}

// Members returns node i's status table (GET /v1/members).
func (c *Cluster) Members(ctx context.Context, i int) ([]cluster.MemberReply, error) {
	var out []cluster.MemberReply
	return out, c.get(ctx, c.Node(i).API, "/v1/members", &out)
}

// WaitMemberStatus waits until each observer lists the member named name
// with the given status (alive, suspect, failed or left).
func (c *Cluster) WaitMemberStatus(ctx context.Context, name, status string, observers ...int) error {
	var why string
	err := proc.Poll(ctx, agreementPoll, func() bool {
		for _, i := range observers {
			members, err := c.Members(ctx, i)
			if err != nil {
				why = fmt.Sprintf("%s: %v", c.Node(i).Name, err)
				return false
			}
			if s := statusOf(members, name); s != status {
				why = fmt.Sprintf("%s sees %s as %q", c.Node(i).Name, name, s)
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("bench: waiting for %s to show as %s: %w; last: %s", name, status, err, why)
	}
	return nil
}

func statusOf(members []cluster.MemberReply, name string) string {
	return memberNamed(members, name).Status
}

// memberNamed returns the row of the member named name, or one with the
// status "absent".
func memberNamed(members []cluster.MemberReply, name string) cluster.MemberReply {
	for _, m := range members {
		if m.Name == name {
			return m
		}
	}
	return cluster.MemberReply{Name: name, Status: "absent"}
}

func joinViews(views []View) string {
	s := make([]string, len(views))
	for i, v := range views {
		s[i] = v.String()
	}
	return strings.Join(s, "; ")
}
