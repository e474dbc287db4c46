package load

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// ShowProgress reports a load's progress until ctx ends: on a terminal a
// bar redrawn in place a few times a second, otherwise a plain line every
// five seconds. total is zero when only time bounds the load.
func ShowProgress(ctx context.Context, w io.Writer, tty bool, label string, p *Progress, total int, d time.Duration) {
	every := 5 * time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprint(w, "\r"+progressLine(label, p, total, d, time.Since(start), true)+clearLine)
			}
			return
		case <-tick.C:
			line := progressLine(label, p, total, d, time.Since(start), tty)
			if tty {
				fmt.Fprint(w, "\r"+line+clearLine)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}
}

// clearLine erases what a longer line before left on a terminal.
const clearLine = "\x1b[K"

// progressLine is one progress report: a bar when bar is set.
func progressLine(label string, p *Progress, total int, d, el time.Duration, bar bool) string {
	done, ok := p.done.Load(), p.ok.Load()
	frac := 0.0
	switch {
	case total > 0:
		frac = float64(done) / float64(total)
	case d > 0:
		frac = el.Seconds() / d.Seconds()
	}
	frac = min(max(frac, 0), 1)
	rate := 0.0
	if el > 0 {
		rate = float64(ok) / el.Seconds()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", label)
	if bar {
		const width = 30
		full := int(frac * width)
		fmt.Fprintf(&b, "[%s%s] ", strings.Repeat("#", full), strings.Repeat(".", width-full))
	}
	if total > 0 {
		fmt.Fprintf(&b, "%d/%d ops", done, total)
	} else {
		fmt.Fprintf(&b, "%d ops", done)
	}
	fmt.Fprintf(&b, " (%3.0f%%), %.0f ops/s, %d not acknowledged, %s", 100*frac, rate, done-ok, el.Round(time.Second))
	return b.String()
}
