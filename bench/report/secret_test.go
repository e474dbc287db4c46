package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"veil/bench/load"
)

// A study of photographs: the report names the files and the level, and
// gives the secret put and viewed per second beside the operations.
func TestAReportOfPhotographsNamesThemAndGivesTheSecretMBPerSecond(t *testing.T) {
	photo := func(name string, n, w, h int) load.Secret {
		return load.Secret{Name: name, Bytes: make([]byte, n), Format: "jpeg", Width: w, Height: h}
	}
	run := func(r *Report, puts, views int64) {
		r.Runs[0].Puts.SecretBytes, r.Runs[0].Views.SecretBytes = puts, views
		r.Runs[0].ElapsedS = 4
		r.Runs[0].SecretMBps = load.Round3(float64(puts+views) / 1e6 / 4)
		r.Runs[0].Books = &load.Books{InRegistry: 10, ViewsAcked: 6, Problems: []string{}}
	}
	cases := []struct {
		name        string
		secrets     []load.Secret
		stealth     string
		puts, views int64
		text, md    []string
		notText     []string
	}{
		{
			name:    "one photograph at a level",
			secrets: []load.Secret{photo("raindrops-2mb.jpg", 1_976_963, 4064, 2540)},
			stealth: "compact", puts: 10 * 1_976_963, views: 6 * 1_976_963,
			text: []string{"secret raindrops-2mb.jpg (1,976,963 bytes, 4064x2540 JPEG), put at stealth level compact",
				"7.91 MB/s (puts 4.94, views 2.97)", "balance (10 in registry; 6 views, each the secret put byte for byte)"},
			md: []string{"- secret: raindrops-2mb.jpg (1,976,963 bytes, 4064x2540 JPEG); put at stealth level compact;",
				"| secret throughput | 7.91 MB/s (puts 4.94, views 2.97) |"},
		},
		{
			name:    "a directory at the cluster's default",
			secrets: []load.Secret{photo("Aqua.jpg", 200_353, 2560, 1600), photo("Dune.jpg", 1_021_283, 1680, 1050)},
			puts:    2_000_000, views: 0,
			text: []string{"2 files put in turn (1,221,636 bytes in all, 200,353 to 1,021,283 each: Aqua.jpg, Dune.jpg), put at the cluster's default stealth level",
				"0.50 MB/s (puts 0.50, views 0.00)"},
			md: []string{"| secret throughput | 0.50 MB/s (puts 0.50, views 0.00) |"},
		},
		{
			name: "nothing acknowledged shows no rate", secrets: []load.Secret{photo("a.jpg", 10, 1, 1)},
			text: []string{"secret throughput", "balance (10 in registry)"}, notText: []string{"MB/s", "byte for byte"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleReport()
			r.Runs = r.Runs[:1]
			r.Workload.Secret, r.Workload.Stealth = SecretInfo(tc.secrets), tc.stealth
			run(r, tc.puts, tc.views)
			var text bytes.Buffer
			r.WriteText(&text)
			for _, w := range tc.text {
				if !strings.Contains(text.String(), w) {
					t.Errorf("the summary does not say %q:\n%s", w, text.String())
				}
			}
			for _, w := range tc.notText {
				if strings.Contains(text.String(), w) {
					t.Errorf("the summary says %q:\n%s", w, text.String())
				}
			}
			dir := t.TempDir()
			if err := r.WriteDir(dir); err != nil {
				t.Fatal(err)
			}
			md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
			for _, w := range tc.md {
				if !strings.Contains(string(md), w) {
					t.Errorf("report.md does not say %q", w)
				}
			}
			// report.json carries the files, the level and the bytes, and
			// is read back as it was written.
			b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
			back, err := Read(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(back.Workload.Secret)
			want, _ := json.Marshal(r.Workload.Secret)
			if !bytes.Equal(got, want) || back.Workload.Stealth != tc.stealth || back.Runs[0].SecretMBps != r.Runs[0].SecretMBps ||
				back.Runs[0].Views.SecretBytes != tc.views {
				t.Fatalf("read back secret %s, stealth %q, %g MB/s; wrote %s, %q, %g", got, back.Workload.Stealth, back.Runs[0].SecretMBps,
					want, tc.stealth, r.Runs[0].SecretMBps)
			}
		})
	}
}
