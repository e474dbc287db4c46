package version

import (
	"runtime/debug"
	"testing"
)

func TestTheBuildIsDescribedFromWhatTheToolchainRecorded(t *testing.T) {
	for _, tc := range []struct {
		name     string
		bi       debug.BuildInfo
		short    string
		oneLine  string
		modified bool
	}{
		{
			name: "a clean checkout",
			bi: debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "1a7dcc7aa1b2c3d4e5f60718293a4b5c6d7e8f90"}, {Key: "vcs.time", Value: "2026-12-04T07:12:00Z"},
				{Key: "vcs.modified", Value: "false"}}},
			short:   "1a7dcc7aa1b2",
			oneLine: "veil (devel), revision 1a7dcc7aa1b2 (2026-12-04T07:12:00Z), go1.26.0",
		},
		{
			name: "a checkout with changes",
			bi: debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "1a7dcc7aa1b2c3d4e5f60718293a4b5c6d7e8f90"}, {Key: "vcs.modified", Value: "true"}}},
			short: "1a7dcc7aa1b2+changes", oneLine: "veil (devel), revision 1a7dcc7aa1b2+changes, go1.26.0", modified: true,
		},
		{
			name:  "no version control, a tagged module",
			bi:    debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}},
			short: "unknown", oneLine: "veil v1.2.3, revision unknown, go1.26.0",
		},
		{
			name:  "no main module version",
			bi:    debug.BuildInfo{GoVersion: "go1.26.0"},
			short: "unknown", oneLine: "veil (devel), revision unknown, go1.26.0",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := fromBuildInfo(&tc.bi)
			if in.Short() != tc.short || in.String() != tc.oneLine || in.Modified != tc.modified {
				t.Fatalf("got %q / %q / modified %v, want %q / %q / %v", in.Short(), in.String(), in.Modified, tc.short, tc.oneLine, tc.modified)
			}
		})
	}
}

func TestTheRunningTestBinaryHasAToolchainVersion(t *testing.T) {
	if in := Get(); in.Go == "" || in.Go == "unknown" {
		t.Fatalf("Get() = %+v: a Go binary always records its toolchain", in)
	}
}

func TestTheRevisionTheMakefilePassesStandsInWhenTheToolchainRecordedNone(t *testing.T) {
	revision, modified = "a138d25c0ffee0000000000000000000000000000", "true"
	defer func() { revision, modified = "", "" }()
	in := fromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}})
	if in.Short() != "a138d25c0ffe+changes" {
		t.Fatalf("Short() = %q, want the revision given at link time", in.Short())
	}
	in = fromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.0", Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "1a7dcc7aa1b2c3d4e5f60718293a4b5c6d7e8f90"}, {Key: "vcs.modified", Value: "false"}}})
	if in.Short() != "1a7dcc7aa1b2" {
		t.Fatalf("Short() = %q, want what the toolchain recorded", in.Short())
	}
}
