package faults

import (
	"encoding/json"
	"errors"
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
	TLS     bool     `json:"tls,omitempty"` // the nodes and clients ran TLS
	Results []Result `json:"results"`
}

// WriteJSON writes the table as JSON, for the bench report.
func (t Table) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(t)
}

// Describe says in one line what the table is a run of.
func (t Table) Describe() string {
	tls := ""
	if t.TLS {
		tls = ", with TLS"
	}
	return fmt.Sprintf("%d nodes%s, %s size (each fault held %s), seed %d; replay with VEIL_FAULTS_SEED=%d; "+
		"lost, duplicated, over quota and acked after a higher epoch must all be 0, and every image's views linearizable",
		t.Nodes, tls, t.Size, t.Window, t.Seed, t.Seed)
}

// ReadTable reads a table written by WriteJSON.
func ReadTable(r io.Reader) (Table, error) {
	var t Table
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return Table{}, fmt.Errorf("faults: reading a results table: %w", err)
	}
	if len(t.Results) == 0 {
		return Table{}, errors.New("faults: the results table has no row")
	}
	return t, nil
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
