package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAReportDrawsAgainFromItsJSON(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	if err := sampleReport().WriteDir(first); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(first, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Read(f)
	f.Close()
	if err != nil {
		t.Fatalf("Read of a report.json WriteDir wrote: %v", err)
	}
	if rep.Format != Format {
		t.Fatalf("WriteDir wrote format %d, want %d", rep.Format, Format)
	}
	// A report written before the format was recorded reads as it is.
	if old, err := Read(strings.NewReader(`{"runs": [{"mode": "bully", "nodes": 3}]}`)); err != nil || old.Format != 0 {
		t.Fatalf("a report with no format: %v", err)
	}
	if err := rep.WriteDir(second); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(first, "*"))
	if len(files) < 4 {
		t.Fatalf("the first report wrote %d files", len(files))
	}
	for _, a := range files {
		name := filepath.Base(a)
		want, _ := os.ReadFile(a)
		got, err := os.ReadFile(filepath.Join(second, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s drawn again differs (%v): %d bytes, want %d", name, err, len(got), len(want))
		}
	}
}

func TestReadReportRefusesWhatIsNotAReport(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"nothing", "", "EOF"},
		{"not JSON", "report", "invalid character"},
		{"no run", `{"runs": []}`, "no run"},
		{"an unknown field", `{"runs": [{"mode": "bully", "nodes": 3}], "tables": 1}`, "unknown field"},
		{"a run of no mode", `{"runs": [{"nodes": 3}]}`, "run 1 has mode"},
		{"a run of no node", `{"runs": [{"mode": "raft"}]}`, "0 nodes"},
		{"more after it", `{"runs": [{"mode": "bully", "nodes": 3}]} {}`, "more after"},
		{"a time that cannot be drawn", `{"runs": [{"mode": "bully", "nodes": 3, "timeline": [{"t": 1e300, "acked": 1}]}]}`, "timeline t is 1e+300"},
		{"a negative count", `{"runs": [{"mode": "bully", "nodes": 3, "per_node": {"node-1": -1}}]}`, "per_node is -1"},
		{"a failover of no end", `{"runs": [{"mode": "raft", "nodes": 3, "trials": [{"n": 1, "first_write_ms": 1e20}]}]}`, "a trial's time"},
		{"a fault suite table", `{"seed": 1, "size": "ci", "nodes": 3, "window": "3s", "results": []}`, "unknown field"},
		{"a newer format", fmt.Sprintf(`{"format": %d, "runs": [{"mode": "bully", "nodes": 3}], "new_section": {}}`, Format+1),
			fmt.Sprintf("format %d, and this veil reads formats up to %d", Format+1, Format)},
		{"a negative format", `{"format": -1, "runs": [{"mode": "bully", "nodes": 3}]}`, "format -1"},
		{"too large", `{"runs": [{"mode": "bully", "nodes": 3}]}` + strings.Repeat(" ", MaxBytes), "over"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read(%q) = %v, want an error saying %q", tc.in, err, tc.want)
			}
		})
	}
}

// FuzzReadReport: any bytes either are refused or give a report that
// draws (text, markdown, HTML and plots) without a panic.
func FuzzReadReport(f *testing.F) {
	dir := f.TempDir()
	if err := sampleReport().WriteDir(dir); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"runs": [{"mode": "bully", "nodes": 3, "timeline": [{"t": 0, "acked": 1}]}]}`))
	f.Add([]byte(`{"runs": [{"mode": "raft", "nodes": 1, "failover_ms": {"trials": 1}, "trials": [{"n": 1}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		rep.WriteText(&out)
		figs, err := rep.Figures()
		if err != nil {
			return
		}
		rep.WriteMarkdown(&out, figs)
		rep.WriteHTML(&out, figs)
	})
}
