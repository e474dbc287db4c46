package check_test

import (
	"fmt"
	"time"

	"veil/bench/check"
)

// A put acknowledged with quota 2 for bob, then two views by bob: the first
// acknowledged, the second cut off with no answer. The registry, read
// afterwards, counts both views spent: the unknown one took effect, which
// the history allows.
func ExampleJudge() {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	quota := map[string]int{"bob": 2}
	h := check.History{End: ms(100), Ops: []check.Op{
		{Client: 0, Kind: check.Put, Tag: check.Tag(0, 1), Image: "A", Quota: quota,
			Call: ms(0), Return: ms(10), Result: check.OK, Coordinator: "node-1", Epoch: 1},
		{Client: 1, Kind: check.View, Image: "A", Viewer: "bob", Quota: quota,
			Call: ms(20), Return: ms(30), Result: check.OK, ViewsLeft: 1, Coordinator: "node-1", Epoch: 1},
		{Client: 1, Kind: check.View, Image: "A", Viewer: "bob", Quota: quota,
			Call: ms(40), Return: ms(90), Result: check.Unknown},
	}}
	final := []check.Image{{ID: "A", Viewers: map[string]int{"bob": 0, check.Tag(0, 1): 1}}}
	r, err := check.Judge(h, final, time.Second, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("ok %v: %d acknowledged, %d unknown, %d lost, %d duplicated, linearizable %s\n",
		r.OK(), r.Acknowledged, r.Unknown, r.Lost, r.Duplicated, r.Linearizable)
	// Output: ok true: 2 acknowledged, 1 unknown, 0 lost, 0 duplicated, linearizable yes
}
