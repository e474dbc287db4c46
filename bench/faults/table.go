package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Table is the results of a run of the suite, mode by fault.
type Table struct {
	Seed    uint64   `json:"seed"`
	Size    string   `json:"size"` // ci or full
	Nodes   int      `json:"nodes"`
	Window  string   `json:"window"`
	Results []Result `json:"results"`
}

// WriteJSON writes the table as JSON, for the bench report.
func (t Table) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(t)
}

// Markdown renders the table for the README.
func (t Table) Markdown() string {
	var b strings.Builder
	b.WriteString("| mode | fault | operations | acknowledged | unknown | lost | duplicated | over quota | acked after a higher epoch | linearizable | longest unavailability | two coordinators acknowledging | agreement after the fault |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n")
	for _, r := range t.Results {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %s | %s | %s | %s |\n",
			r.Mode, r.Fault, r.Ops, r.Acknowledged, r.Unknown, r.Lost, r.Duplicated, r.OverQuota, r.StaleAcks,
			r.Linearizable, seconds(r.Unavailable), seconds(r.DualCoordinate), seconds(r.Recovery))
	}
	return b.String()
}

func seconds(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
