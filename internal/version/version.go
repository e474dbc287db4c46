// Package version says which build of Veil is running: the module version
// and the revision of the source it was built from, as the Go toolchain
// records them in the binary (runtime/debug.ReadBuildInfo). Nodes and peers
// log it at start, /v1/status and bench reports carry it, and `veil version`
// prints it, so that a figure or a log line can be traced to its code.
package version

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Info is what the build recorded of itself.
type Info struct {
	// Module is the main module's version: "(devel)" for a build from a
	// checkout, a tag or pseudo-version for `go install veil@v…`.
	Module string `json:"module"`
	// Revision is the VCS commit, empty when the build recorded none (a
	// build outside a checkout, or with -buildvcs=false).
	Revision string `json:"revision,omitempty"`
	// Time is the commit's time in RFC 3339, empty with no revision.
	Time string `json:"time,omitempty"`
	// Modified says the checkout had changes not committed.
	Modified bool `json:"modified,omitempty"`
	// Go is the toolchain that built the binary.
	Go string `json:"go"`
}

// revision and modified are set by the Makefile (-ldflags -X) for a build
// that records no VCS information of its own (GOFLAGS=-buildvcs=false).
var revision, modified string

// Get reads the build information of the running binary.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Module: "unknown", Go: "unknown"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Module: bi.Main.Version, Go: bi.GoVersion, Revision: revision, Modified: modified == "true"}
	if in.Module == "" {
		in.Module = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// Short is the revision cut to 12 hex digits, with "+changes" when the
// checkout was modified; "unknown" when the build recorded no revision.
func (in Info) Short() string {
	if in.Revision == "" {
		return "unknown"
	}
	r := in.Revision
	if len(r) > 12 {
		r = r[:12]
	}
	if in.Modified {
		r += "+changes"
	}
	return r
}

// String is one line: "veil (devel), revision 1a7dcc7aa1b2 (2026-12-04T07:12:00Z), go1.26.0".
func (in Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "veil %s, revision %s", in.Module, in.Short())
	if in.Time != "" {
		fmt.Fprintf(&b, " (%s)", in.Time)
	}
	fmt.Fprintf(&b, ", %s", in.Go)
	return b.String()
}
