package proc

import (
	"os"
	"testing"
)

func TestParseStatReadsUserAndSystemTimeAfterAnyCommandName(t *testing.T) {
	cases := []struct {
		name, stat string
		want       float64
	}{
		{"a plain name", "42 (veil) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0", 3},
		{"a name with spaces and parentheses", "42 (a (b) c) R 1 42 42 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 0 0 0", 0.03},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseStat(c.stat)
			if err != nil || got != c.want {
				t.Fatalf("parseStat = %v, %v; want %v", got, err, c.want)
			}
		})
	}
	for _, bad := range []string{"", "42 veil S", "42 (veil) S 1 2", "42 (v) S 1 42 42 0 -1 0 0 0 0 0 x 2 0"} {
		if _, err := parseStat(bad); err == nil {
			t.Fatalf("parseStat(%q) accepted", bad)
		}
	}
}

func TestCPUSecondsOfThisProcessGrowsWithWork(t *testing.T) {
	before, err := CPUSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := 0; i < 300_000_000; i++ {
		x += i ^ (x >> 3)
	}
	after, err := CPUSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("CPU time went from %v to %v over a busy loop (%d)", before, after, x)
	}
}
