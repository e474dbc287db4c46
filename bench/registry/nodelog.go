package registry

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// What the bench reads in the nodes' own logs: when a node took a
// snapshot, and how long a restarted node took to load its registry. The
// lines are hclog's:
//
//	2026-01-02T15:04:05.123Z [INFO]  veil: registry compacted: node=node-1 snapshot_index=16384 took=312ms

// logTime is hclog's timestamp.
const logTime = "2006-01-02T15:04:05.000Z0700"

// logLine is one line of a node's log.
type logLine struct {
	At     time.Time
	Logger string // e.g. veil.election.raft
	Msg    string
	Fields map[string]string
}

// parseLine reads one hclog line; ok is false for anything else (the
// veil node banner on stdout, a panic's trace).
func parseLine(s string) (logLine, bool) {
	ts, rest, ok := strings.Cut(s, " ")
	if !ok {
		return logLine{}, false
	}
	at, err := time.Parse(logTime, ts)
	if err != nil || !strings.HasPrefix(rest, "[") {
		return logLine{}, false
	}
	_, rest, ok = strings.Cut(rest, "]")
	if !ok {
		return logLine{}, false
	}
	logger, rest, ok := strings.Cut(strings.TrimLeft(rest, " "), ": ")
	if !ok {
		return logLine{}, false
	}
	msg, fields, _ := strings.Cut(rest, ": ")
	return logLine{At: at, Logger: logger, Msg: msg, Fields: parseFields(fields)}, true
}

// parseFields reads hclog's key=value pairs; a value with spaces is
// quoted.
func parseFields(s string) map[string]string {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				break
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		out[k] = v
		s = rest
	}
	return out
}

// readLog returns the whole lines of the log at path from offset on, and
// the offset just past the last of them.
func readLog(path string, offset int64) ([]logLine, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, offset, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, offset, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, offset, err
	}
	end := bytes.LastIndexByte(b, '\n')
	if end < 0 {
		return nil, offset, nil
	}
	var out []logLine
	sc := bufio.NewScanner(bytes.NewReader(b[:end+1]))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l, ok := parseLine(sc.Text()); ok {
			out = append(out, l)
		}
	}
	return out, offset + int64(end) + 1, sc.Err()
}

// logSize is the length of the file at path, 0 when there is none.
func logSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// window is a stretch in which a node took a snapshot of its registry.
type window struct {
	Node       string
	Start, End time.Time
	Index      uint64 // the log index the snapshot holds
}

func (w window) overlaps(start, end time.Time) bool {
	return start.Before(w.End) && w.Start.Before(end)
}

// snapshotWindows finds the snapshots a node's log tells of: Bully mode's
// "registry compacted" (its end and how long it took), Raft mode's
// "starting snapshot up to" and "snapshot complete up to" of one index.
// open is a snapshot begun and not yet complete (Raft mode), if any.
func snapshotWindows(node string, lines []logLine) (done []window, open *window) {
	started := map[string]time.Time{}
	for _, l := range lines {
		switch l.Msg {
		case "registry compacted":
			took, err := time.ParseDuration(l.Fields["took"])
			if err != nil {
				continue
			}
			idx, _ := strconv.ParseUint(l.Fields["snapshot_index"], 10, 64)
			done = append(done, window{Node: node, Start: l.At.Add(-took), End: l.At, Index: idx})
		case "starting snapshot up to":
			started[l.Fields["index"]] = l.At
		case "snapshot complete up to":
			at, ok := started[l.Fields["index"]]
			if !ok {
				continue
			}
			delete(started, l.Fields["index"])
			idx, _ := strconv.ParseUint(l.Fields["index"], 10, 64)
			done = append(done, window{Node: node, Start: at, End: l.At, Index: idx})
		}
	}
	for k, at := range started {
		idx, _ := strconv.ParseUint(k, 10, 64)
		open = &window{Node: node, Start: at, Index: idx}
	}
	return done, open
}

// restoreTime is how long a node that started took to load its registry,
// from its log since the start: in Raft mode hashicorp/raft's "starting
// restore from snapshot" to "restored from snapshot"; in Bully mode the
// process's "starting" to "node started", which is the store's opening
// (the snapshot restored, the log after it replayed) and the listeners.
// ok is false when the log tells of no such thing (a Raft node with no
// snapshot yet).
func restoreTime(mode string, lines []logLine) (d time.Duration, ok bool) {
	begin, end := "starting", "node started"
	if mode == "raft" {
		begin, end = "starting restore from snapshot", "restored from snapshot"
	}
	var from time.Time
	for _, l := range lines {
		switch l.Msg {
		case begin:
			from = l.At
		case end:
			if !from.IsZero() {
				d, ok = l.At.Sub(from), true
			}
			from = time.Time{}
		}
	}
	return d, ok
}
