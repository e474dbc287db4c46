package load

import (
	"strings"
	"testing"
	"time"
)

func TestProgressIsABarOnATerminalAndPlainOtherwise(t *testing.T) {
	p := &Progress{}
	p.done.Store(50)
	p.ok.Store(49)
	bar := progressLine("bully, 3 nodes", p, 100, 0, 10*time.Second, true)
	plain := progressLine("bully, 3 nodes", p, 100, 0, 10*time.Second, false)
	if !strings.Contains(bar, "[###############...............]") || !strings.Contains(bar, "50/100 ops") {
		t.Errorf("bar: %q", bar)
	}
	if strings.Contains(plain, "[") || !strings.Contains(plain, "50/100 ops ( 50%), 5 ops/s, 1 not acknowledged") {
		t.Errorf("plain: %q", plain)
	}
}
