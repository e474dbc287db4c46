package registry

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"veil/bench/load"
)

// Report is a registry bench: every run, a mode at a size.
type Report struct {
	Command  string    `json:"command,omitempty"`
	Build    string    `json:"build,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  Machine   `json:"machine"`
	Setting  Setting   `json:"setting"`
	Registry []Result  `json:"registry"`
}

// Machine is where the bench ran.
type Machine struct {
	CPUs int    `json:"cpus"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
	Go   string `json:"go"`
}

// Setting is what every run shares.
type Setting struct {
	Nodes           int    `json:"nodes"`
	Profile         string `json:"profile"`
	UsersPerImage   string `json:"users"` // how the users follow the images
	ViewersPerImage int    `json:"viewers_per_image"`
	ViewsPerViewer  int    `json:"views_per_viewer"`
	Logins          int    `json:"logins"`
	Reads           int    `json:"reads"`
	IdleWrites      int    `json:"idle_writes"`
	Seed            uint64 `json:"seed"`
}

// Result is one mode at one size. A figure the run could not measure
// (no snapshot came within the wait, say) is null.
type Result struct {
	Mode        string `json:"mode"`
	Images      int    `json:"images"`
	Users       int    `json:"users"`
	Coordinator string `json:"coordinator"`

	// The fill: registrations and puts through the log, batched.
	FillS              float64 `json:"fill_s"`
	FillCommandsPerS   float64 `json:"fill_commands_per_s"`
	FillRetries        int     `json:"fill_retries"`  // calls sent again after a 503
	FillExisting       int     `json:"fill_existing"` // commands found done by a call sent again
	CommitIndex        uint64  `json:"commit_index"`
	HeapBytes          uint64  `json:"heap_bytes"`
	HeapBytesPerImage  float64 `json:"heap_bytes_per_image"`
	HeapEmptyBytes     uint64  `json:"heap_empty_bytes"`
	HeapGrowthPerImage float64 `json:"heap_growth_bytes_per_image"`

	// Reads over HTTP, each as a user drawn at random, no retry.
	DirectoryP50MS   float64 `json:"directory_p50_ms"`
	DirectoryP99MS   float64 `json:"directory_p99_ms"`
	DirectoryEntries float64 `json:"directory_entries"`
	ImagesP50MS      float64 `json:"images_p50_ms"`
	ImagesP99MS      float64 `json:"images_p99_ms"`
	ImagesEntries    float64 `json:"images_entries"`
	Reads            int     `json:"reads"`
	ReadErrors       int     `json:"read_errors"`

	// Writes, one at a time, with no snapshot under way on any node and
	// while one is.
	WriteP50MS               float64  `json:"write_p50_ms"`
	WriteP99MS               float64  `json:"write_p99_ms"`
	Writes                   int      `json:"writes"`
	WriteP50DuringSnapshotMS *float64 `json:"write_p50_during_snapshot_ms"`
	WriteP99DuringSnapshotMS *float64 `json:"write_p99_during_snapshot_ms"`
	WritesDuringSnapshot     int      `json:"writes_during_snapshot"`
	WriteErrors              int      `json:"write_errors"`

	// The coordinator's snapshot taken during the writes, from its log.
	SnapshotS     *float64 `json:"snapshot_s"`
	SnapshotIndex uint64   `json:"snapshot_index,omitempty"`
	// The coordinator's data directory after it, in all and file by file.
	DiskBytes int64            `json:"disk_bytes"`
	DiskFiles map[string]int64 `json:"disk_files,omitempty"`

	// A follower killed and started again: its registry loaded (from its
	// log) and the whole restart to serving and caught up.
	RestoreS *float64 `json:"restore_s"`
	RestartS *float64 `json:"restart_s"`

	// Elections is how far the coordinator's epoch (Raft: term) rose from
	// the start to the follower's restart: elections the load alone
	// caused, none injected.
	Elections uint64 `json:"elections"`

	Error string `json:"error,omitempty"`
}

// WriteDir writes report.json, report.md and the plots into dir.
func (r *Report) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: report: %w", err)
	}
	figs, err := r.Figures()
	if err != nil {
		return err
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: report: %w", err)
	}
	var md strings.Builder
	r.WriteMarkdown(&md, figs)
	files := map[string][]byte{"report.json": append(j, '\n'), "report.md": []byte(md.String())}
	for _, f := range figs {
		files[f.Name] = f.PNG
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("bench: report: %w", err)
		}
	}
	return nil
}

// row is one line of the table: a name and each run's figure.
type row struct {
	name string
	cell func(Result) string
}

func ms(v float64) string { return fmt.Sprintf("%.2f ms", v) }

func optMS(v *float64) string {
	if v == nil {
		return "—"
	}
	return ms(*v)
}

func optS(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.3f s", *v)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

var rows = []row{
	{"users", func(r Result) string { return load.Commas(int64(r.Users)) }},
	{"fill (through the log)", func(r Result) string {
		s := fmt.Sprintf("%.1f s, %s commands/s", r.FillS, load.Commas(int64(r.FillCommandsPerS)))
		if r.FillRetries > 0 {
			s += fmt.Sprintf(", %d calls sent again", r.FillRetries)
		}
		return s
	}},
	{"heap after a GC / per image", func(r Result) string {
		return fmt.Sprintf("%s / %.0f B", mib(int64(r.HeapBytes)), r.HeapBytesPerImage)
	}},
	{"heap over the empty node, per image", func(r Result) string { return fmt.Sprintf("%.0f B", r.HeapGrowthPerImage) }},
	{"directory p50 / p99", func(r Result) string {
		return fmt.Sprintf("%s / %s (%.0f entries)", ms(r.DirectoryP50MS), ms(r.DirectoryP99MS), r.DirectoryEntries)
	}},
	{"images p50 / p99", func(r Result) string {
		return fmt.Sprintf("%s / %s (%.0f entries)", ms(r.ImagesP50MS), ms(r.ImagesP99MS), r.ImagesEntries)
	}},
	{"write p50 / p99, idle", func(r Result) string {
		return fmt.Sprintf("%s / %s (n=%d)", ms(r.WriteP50MS), ms(r.WriteP99MS), r.Writes)
	}},
	{"write p50 / p99, during a snapshot", func(r Result) string {
		return fmt.Sprintf("%s / %s (n=%d)", optMS(r.WriteP50DuringSnapshotMS), optMS(r.WriteP99DuringSnapshotMS), r.WritesDuringSnapshot)
	}},
	{"snapshot (coordinator)", func(r Result) string { return optS(r.SnapshotS) }},
	{"data directory after it", func(r Result) string { return mib(r.DiskBytes) }},
	{"restore (follower restarted)", func(r Result) string { return optS(r.RestoreS) }},
	{"restart to serving and caught up", func(r Result) string { return optS(r.RestartS) }},
	{"elections (none injected)", func(r Result) string { return fmt.Sprint(r.Elections) }},
	{"errors", func(r Result) string {
		s := fmt.Sprintf("%d reads, %d writes", r.ReadErrors, r.WriteErrors)
		if r.Error != "" {
			s += "; " + r.Error
		}
		return s
	}},
}

// WriteText prints the runs side by side.
func (r *Report) WriteText(w io.Writer) {
	r.table(w, func(cells []string) string { return strings.Join(cells, "  |  ") }, false)
}

// WriteMarkdown writes the report as Markdown, the plots linked by name
// (WriteDir puts them beside it).
func (r *Report) WriteMarkdown(w io.Writer, figs []Figure) {
	fmt.Fprintf(w, "# veil bench: the registry at scale\n\n")
	if r.Command != "" {
		fmt.Fprintf(w, "`%s`", r.Command)
	}
	if r.Build != "" {
		fmt.Fprintf(w, ", build %s", r.Build)
	}
	fmt.Fprintf(w, "; %d CPUs, %s/%s, %s.\n\n", r.Machine.CPUs, r.Machine.OS, r.Machine.Arch, r.Machine.Go)
	s := r.Setting
	fmt.Fprintf(w, "%d nodes (profile %s), filled through POST /v1/admin/fill: %s, %d viewers an image with %d views each. "+
		"Reads as %d users drawn at random, %d of each list, one at a time; writes (the owner sets a viewer's views) "+
		"one at a time, at least %d with no snapshot under way on any node. Seed %d.\n\n",
		s.Nodes, s.Profile, s.UsersPerImage, s.ViewersPerImage, s.ViewsPerViewer, s.Logins, s.Reads, s.IdleWrites, s.Seed)
	r.table(w, func(cells []string) string { return "| " + strings.Join(cells, " | ") + " |" }, true)
	for _, f := range figs {
		fmt.Fprintf(w, "\n## %s\n\n![%s](%s)\n\n%s\n", f.Title, f.Title, f.Name, f.Caption)
	}
}

func (r *Report) table(w io.Writer, join func([]string) string, markdown bool) {
	head := []string{"images"}
	for _, res := range r.Registry {
		head = append(head, fmt.Sprintf("%s, %s", res.Mode, load.Commas(int64(res.Images))))
	}
	fmt.Fprintln(w, join(head))
	if markdown {
		sep := []string{"---"}
		for range r.Registry {
			sep = append(sep, "---:")
		}
		fmt.Fprintln(w, join(sep))
	}
	for _, rw := range rows {
		cells := []string{rw.name}
		for _, res := range r.Registry {
			cells = append(cells, rw.cell(res))
		}
		fmt.Fprintln(w, join(cells))
	}
}
