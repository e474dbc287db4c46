package main

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"veil/bench/load"
	"veil/bench/report"
	"veil/stego"
)

func TestBenchRefusesConflictingOrImpossibleRuns(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"two kinds of run", []string{"--steady", "--failover-trials", "3"}, "choose one"},
		{"demo and failover", []string{"--demo", "--failover-trials", "3"}, "choose one"},
		{"no nodes", []string{"--spawn", "0"}, "--spawn"},
		{"a size list with a hole", []string{"--spawn", "3,,5"}, "--spawn"},
		{"an unknown mode", []string{"--mode", "paxos"}, "--mode"},
		{"a bad fault schedule", []string{"--faults", "kill@soon"}, "--faults"},
		{"an open loop without a duration", []string{"--rate", "100"}, "--duration"},
		{"a rate and a request count", []string{"--rate", "100", "--duration", "1s", "--requests", "5"}, "closed loop"},
		{"a share of views over one", []string{"--views", "1.5"}, "--views"},
		{"faults on a cluster the bench did not start", []string{"--api", "127.0.0.1:1", "--faults", "kill@1s+1s"}, "--api"},
		{"a cover too small for the secret", []string{"--secret-size", "64x64", "--cover-size", "80x80"}, "--cover-size"},
		{"a failover of one node", []string{"--spawn", "1", "--failover-trials", "1"}, "at least 2 nodes"},
		{"no clients", []string{"--clients", "0"}, "--clients 0"},
		{"two bounds on the load", []string{"--requests", "5", "--duration", "1s"}, "give one"},
		{"unknown profile", []string{"--profile", "wan"}, "--profile"},
		{"unknown route", []string{"--route", "nearest"}, "--route"},
		{"a stray argument", []string{"now"}, "unexpected argument"},
		{"a run flag with --redraw", []string{"--redraw", "report.json", "--clients", "3"}, "--redraw runs nothing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := run(append([]string{"bench"}, tc.args...), &out, &errb); got != exitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", got, exitUsage, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("stderr %q does not say %q", errb.String(), tc.want)
			}
		})
	}
}

// secretFiles writes a directory for --secret: two small JPEGs, a PNG, a
// README beside them, a file too large for the stealthy level, and a file
// that is not an image.
func secretFiles(t *testing.T) (dir, tooLarge, notImage string) {
	t.Helper()
	root := t.TempDir()
	dir = filepath.Join(root, "photos")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 16, 12))
	for name, enc := range map[string]func(io.Writer) error{
		"b.jpg":  func(w io.Writer) error { return jpeg.Encode(w, img, nil) },
		"a.jpg":  func(w io.Writer) error { return jpeg.Encode(w, img, &jpeg.Options{Quality: 50}) },
		"c.png":  func(w io.Writer) error { return png.Encode(w, img) },
		"README": func(w io.Writer) error { _, err := io.WriteString(w, "where they come from"); return err },
	} {
		var b bytes.Buffer
		if err := enc(&b); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tooLarge, notImage = filepath.Join(root, "huge.jpg"), filepath.Join(root, "notes.txt")
	if err := os.WriteFile(tooLarge, make([]byte, load.MaxSecret(stego.Stealthy)+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notImage, []byte("not a picture"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, tooLarge, notImage
}

func TestBenchRefusesASecretTheCloudWouldNotTakeOrThatConflicts(t *testing.T) {
	dir, tooLarge, notImage := secretFiles(t)
	empty := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"a file and a size", []string{"--secret", dir, "--secret-size", "8x8"}, "--secret and --secret-size both name the secret put; give one"},
		{"an unknown level", []string{"--stealth", "invisible"}, `--stealth: stego: invalid stealth level: stealth level "invisible"`},
		{"an empty directory", []string{"--secret", empty}, empty + " holds no JPEG, PNG or GIF file"},
		{"a file that is not an image", []string{"--secret", notImage}, notImage + " is not a JPEG, PNG or GIF image"},
		{"a file over what the level takes", []string{"--secret", tooLarge, "--stealth", "stealthy"}, tooLarge + " is "},
		{"no such file", []string{"--secret", filepath.Join(empty, "gone.jpg")}, "gone.jpg: no such file"},
		{"a secret for another run", []string{"--secret", dir, "--steady"}, "--secret and --stealth are for the study"},
		{"a level for another run", []string{"--stealth", "compact", "--peers", "3"}, "--secret and --stealth are for the study"},
		{"a source without a photograph to make", []string{"--photo-from", "x.jpg"}, "give --make-photo FILE too"},
		{"a run flag with --make-photo", []string{"--make-photo", "p.jpg", "--clients", "3"}, "--make-photo runs nothing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := run(append([]string{"bench", "--bin", "veil"}, tc.args...), &out, &errb); got != exitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", got, exitUsage, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("stderr %q does not say %q", errb.String(), tc.want)
			}
		})
	}
}

func TestBenchSecretPutsTheImagesOfADirectoryInTurnAtTheLevelGiven(t *testing.T) {
	dir, _, _ := secretFiles(t)
	cases := []struct {
		name      string
		args      []string
		files     []string
		stealth   string
		secretLen int
	}{
		{"a directory, its README left alone", []string{"--secret", dir, "--stealth", "Compact"}, []string{"a.jpg", "b.jpg", "c.png"}, "compact", 0},
		{"one file at the cluster's level", []string{"--secret", filepath.Join(dir, "b.jpg")}, []string{"b.jpg"}, "", 0},
		{"noise at a level", []string{"--stealth", "stealthy", "--secret-size", "8x8"}, nil, "stealthy", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseBench(append([]string{"--bin", "veil"}, tc.args...), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for k, f := range o.study.Secret.Files {
				names = append(names, f.Name)
				want, _ := os.ReadFile(filepath.Join(dir, f.Name))
				if !bytes.Equal(o.study.Load.Secrets[k], want) || f.Bytes != len(want) {
					t.Errorf("secret %d is not the bytes of %s", k, f.Name)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.files, ",") || len(o.study.Load.Secrets) != max(len(tc.files), tc.secretLen) {
				t.Fatalf("files %v (%d secrets), want %v", names, len(o.study.Load.Secrets), tc.files)
			}
			if o.study.Load.Stealth != tc.stealth {
				t.Fatalf("stealth %q, want %q: the level as the cloud spells it, or none to leave it to the cluster", o.study.Load.Stealth, tc.stealth)
			}
		})
	}
}

func TestBenchMakePhotoWritesAJPEGOfAboutTwoMB(t *testing.T) {
	out := filepath.Join(t.TempDir(), "photos", "generated-2mb.jpg")
	var stdout, errb bytes.Buffer
	if code := run([]string{"bench", "--make-photo", out}, &stdout, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(b)); err != nil || len(b) < 1_800_000 || len(b) > 2_200_000 {
		t.Fatalf("%d bytes (%v), want a JPEG of about 2 MB", len(b), err)
	}
	if !strings.Contains(stdout.String(), out+": ") || !strings.Contains(stdout.String(), "quality 92") {
		t.Fatalf("stdout %q does not say what was made", stdout.String())
	}
}

func TestBenchSteadyDefaultsToFiveMinutesOfLoad(t *testing.T) {
	o, err := parseBench([]string{"--steady", "--bin", "veil"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.mode != "steady" || o.load.Duration != 5*time.Minute || o.load.Requests != 0 {
		t.Fatalf("--steady: mode %s, duration %s, requests %d; want steady, 5m, 0", o.mode, o.load.Duration, o.load.Requests)
	}
}

func TestBenchDurationReplacesTheRequestCount(t *testing.T) {
	o, err := parseBench([]string{"--duration", "2s", "--bin", "veil"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if l := o.study.Load; o.mode != "study" || l.Duration != 2*time.Second || l.Requests != 0 {
		t.Fatalf("--duration 2s: mode %s, duration %s, requests %d; want study, 2s, 0", o.mode, l.Duration, l.Requests)
	}
}

func TestBenchBothModesRunBullyThenRaft(t *testing.T) {
	o, err := parseBench([]string{"--mode", "both", "--spawn", "3,5", "--bin", "veil"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.study.Modes, ","); got != "bully,raft" {
		t.Fatalf("--mode both runs %s, want bully,raft", got)
	}
	if len(o.study.Sizes) != 2 || o.study.Sizes[0] != 3 || o.study.Sizes[1] != 5 {
		t.Fatalf("--spawn 3,5 gives sizes %v", o.study.Sizes)
	}
}

func TestBenchFailoverTrialsAloneRunNoLoad(t *testing.T) {
	o, err := parseBench([]string{"--failover-trials", "5", "--bin", "veil"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.study.Trials != 5 || o.study.Load.Pace.Total() != 0 || o.study.Load.Duration != 0 {
		t.Fatalf("--failover-trials 5: %d trials, load of %d operations; want 5 trials and no load",
			o.study.Trials, o.study.Load.Pace.Total())
	}
}

// buildVeil builds the command: the test binary cannot be a node.
func buildVeil(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "veil")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building veil: %v\n%s", err, out)
	}
	return bin
}

// logNodes prints the logs of the nodes under dir.
func logNodes(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		t.Logf("---- %s\n%s", l, b)
	}
}

func TestBenchRunsAWorkloadOnSpawnedNodesAndWritesTheReport(t *testing.T) {
	bin := buildVeil(t)
	dir, out := t.TempDir(), t.TempDir()
	var stdout, errb bytes.Buffer
	code := run([]string{"bench", "--bin", bin, "--dir", dir, "--spawn", "2", "--clients", "2", "--requests", "3",
		"--reference", "0", "--out", out}, &stdout, &errb)
	if code != exitOK {
		logNodes(t, dir)
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), errb.String())
	}
	for _, want := range []string{"closed loop, 2 clients x 3 requests", "6 (100.00%)", "balance", "report: "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the summary does not say %q:\n%s", want, stdout.String())
		}
	}
	for _, name := range []string{"report.json", "report.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("--out: %v", err)
		}
	}

	// Drawn again from its report.json, the report is the same.
	again := t.TempDir()
	stdout.Reset()
	if code := run([]string{"bench", "--redraw", filepath.Join(out, "report.json"), "--out", again}, &stdout, &errb); code != exitOK {
		t.Fatalf("--redraw: exit %d\n%s", code, errb.String())
	}
	for _, name := range []string{"report.json", "report.md", "report.html"} {
		want, _ := os.ReadFile(filepath.Join(out, name))
		got, err := os.ReadFile(filepath.Join(again, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s drawn again differs (%v)", name, err)
		}
	}
	if !strings.Contains(stdout.String(), "6 (100.00%)") {
		t.Errorf("--redraw does not print the summary:\n%s", stdout.String())
	}
	// Anything but a report is refused, and nothing is written.
	notReport := filepath.Join(t.TempDir(), "results.json")
	if err := os.WriteFile(notReport, []byte(`{"seed": 1, "results": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := run([]string{"bench", "--redraw", notReport}, &stdout, &errb); code == exitOK || !strings.Contains(errb.String(), "unknown field") {
		t.Fatalf("--redraw of a fault table: exit %d, stderr %q", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(notReport), "report.md")); !os.IsNotExist(err) {
		t.Fatalf("--redraw of a fault table wrote report.md (%v)", err)
	}
}

// A photograph through three real nodes at the compact level: every view
// gives back its bytes, and the report names it and its rate in MB/s.
func TestBenchPutsAndViewsAPhotographOnSpawnedNodes(t *testing.T) {
	bin := buildVeil(t)
	photo, err := load.GeneratedPhoto(60_000, 1)
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "small.jpg")
	if err := os.WriteFile(secret, photo, 0o644); err != nil {
		t.Fatal(err)
	}
	dir, out := t.TempDir(), t.TempDir()
	var stdout, errb bytes.Buffer
	code := run([]string{"bench", "--bin", bin, "--dir", dir, "--spawn", "3", "--secret", secret, "--stealth", "compact",
		"--clients", "2", "--requests", "10", "--reference", "0", "--out", out}, &stdout, &errb)
	if code != exitOK {
		logNodes(t, dir)
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), errb.String())
	}
	for _, want := range []string{"secret small.jpg (" + load.Commas(int64(len(photo))) + " bytes", "put at stealth level compact",
		"20 (100.00%)", "MB/s (puts ", "balance"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the summary does not say %q:\n%s", want, stdout.String())
		}
	}
	f, err := os.Open(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := report.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	if r.Views.Succeeded == 0 || r.Views.SecretBytes != int64(r.Views.Succeeded*len(photo)) || r.Books == nil || r.Books.ViewsWrong != 0 {
		t.Fatalf("%d views acknowledged with %d bytes of secret (books %+v): want each the %d bytes put", r.Views.Succeeded, r.Views.SecretBytes, r.Books, len(photo))
	}
}
