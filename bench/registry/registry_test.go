package registry

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"veil/bench/proc"
)

// veilBin is the veil binary the tests run, built once by TestMain.
var veilBin string

func TestMain(m *testing.M) { os.Exit(proc.RunWithVeil("veil-registry-bin-", &veilBin, m.Run)) }

// TestTheBenchFillsAndMeasuresASmallRegistry runs the whole bench on a
// registry of 2,000 images in each mode: filled through the log, its lists
// read, writes timed, a follower restarted, the report written. Bully mode
// takes its snapshot once the writes pass its threshold; Raft mode's comes
// at hashicorp/raft's next check, minutes away, so the writes there stop
// waiting for it after a few seconds, and its snapshot figures stay null.
func TestTheBenchFillsAndMeasuresASmallRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six nodes and fills them")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const images = 2000
	dir := t.TempDir()
	rep := &Report{}
	for _, m := range []struct {
		mode string
		wait time.Duration
	}{{"bully", 2 * time.Minute}, {"raft", 3 * time.Second}} {
		r, err := Run(ctx, Config{
			Bin: veilBin, Modes: []string{m.mode}, Images: []int{images}, Seed: 3,
			Logins: 10, Reads: 200, IdleWrites: 100, SnapshotWait: m.wait,
			Dir: filepath.Join(dir, "clusters"), Logf: t.Logf,
		})
		if err != nil {
			t.Fatal(err)
		}
		rep.Registry = append(rep.Registry, r.Registry...)
	}
	if len(rep.Registry) != 2 {
		t.Fatalf("%d runs; want one a mode", len(rep.Registry))
	}
	for _, r := range rep.Registry {
		t.Run(r.Mode, func(t *testing.T) {
			switch {
			case r.Error != "":
				t.Fatal(r.Error)
			case r.Images != images || r.Users != images/10:
				t.Fatalf("%d images and %d users; want %d and %d", r.Images, r.Users, images, images/10)
			case r.CommitIndex < uint64(images+images/10):
				t.Fatalf("commit index %d after the fill of %d commands", r.CommitIndex, images+images/10)
			case r.HeapBytes == 0 || r.HeapBytesPerImage <= 0 || r.DiskBytes <= 0:
				t.Fatalf("heap %d (%.0f an image), disk %d: want them measured", r.HeapBytes, r.HeapBytesPerImage, r.DiskBytes)
			case r.DirectoryEntries != 40 || r.ImagesEntries != 10:
				// Ten images of one's own and thirty shared: viewers at three
				// offsets after each image's owner.
				t.Fatalf("a directory held %.1f entries and a list %.1f; want 40 and 10", r.DirectoryEntries, r.ImagesEntries)
			case r.Reads != 200 || r.ReadErrors != 0 || r.WriteErrors != 0:
				t.Fatalf("%d reads (%d failed), %d writes failed; want 200 and none", r.Reads, r.ReadErrors, r.WriteErrors)
			case r.Writes < 100:
				t.Fatalf("%d writes clear of any snapshot; want at least 100", r.Writes)
			case r.RestartS == nil:
				t.Fatal("no restart measured")
			}
			if r.Mode == "bully" {
				if r.SnapshotS == nil || r.SnapshotIndex == 0 || r.RestoreS == nil {
					t.Fatalf("bully: snapshot %v at %d, restore %v; want both measured", r.SnapshotS, r.SnapshotIndex, r.RestoreS)
				}
				if _, ok := r.DiskFiles["registry.db"]; !ok {
					t.Fatalf("bully: the data directory holds %v; want registry.db among them", r.DiskFiles)
				}
			}
		})
	}

	out := filepath.Join(dir, "out")
	if err := rep.WriteDir(out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Registry []map[string]any `json:"registry"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"images", "heap_bytes_per_image", "snapshot_s", "restore_s", "restart_s", "disk_bytes",
		"directory_p99_ms", "images_p99_ms", "write_p99_ms", "write_p99_during_snapshot_ms"} {
		if _, ok := back.Registry[0][k]; !ok {
			t.Errorf("report.json has no %q under registry", k)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil || !strings.Contains(string(md), "registry-lists.png") {
		t.Fatalf("report.md does not show the plot of the lists (%v)", err)
	}
}

func TestEveryCostIsPlottedAgainstTheSize(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	var rep Report
	for _, mode := range []string{"bully", "raft"} {
		for _, n := range []int{10_000, 100_000, 1_000_000} {
			r := Result{Mode: mode, Images: n, Users: n / 10, HeapBytesPerImage: 600, HeapGrowthPerImage: 570,
				DirectoryP99MS: 2, ImagesP99MS: 1, WriteP99MS: 3, DiskBytes: int64(n) * 200,
				SnapshotS: f(float64(n) / 1e6), RestartS: f(1), RestoreS: f(0.5)}
			if mode == "raft" && n == 10_000 {
				r.SnapshotS, r.RestoreS = nil, nil // none came within the wait
			} else {
				r.WriteP99DuringSnapshotMS = f(5)
			}
			rep.Registry = append(rep.Registry, r)
		}
	}
	figs, err := rep.Figures()
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) != len(costs) {
		t.Fatalf("%d figures; want one of each of the %d costs", len(figs), len(costs))
	}
	for _, fig := range figs {
		if !strings.HasPrefix(string(fig.PNG), "\x89PNG") {
			t.Errorf("%s is not a PNG", fig.Name)
		}
	}
	if figs, err := (&Report{Registry: []Result{{Mode: "bully", Images: 2000}}}).Figures(); err != nil || len(figs) == 0 {
		t.Fatalf("one run of one size: %d figures, %v", len(figs), err)
	}
}
