package faults

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"veil/bench/check"
)

func TestTableShowsOneRowPerCaseInJSONAndMarkdown(t *testing.T) {
	tab := Table{Seed: 7, Size: "ci", Nodes: 5, Window: "4s", Results: []Result{
		{Mode: "bully", Fault: "pause", Report: check.Report{Ops: 10, Acknowledged: 8, Unknown: 1, Linearizable: check.Linearizable,
			Unavailable: 1500 * time.Millisecond}},
		{Mode: "raft", Fault: "pause", Report: check.Report{Ops: 12, Acknowledged: 9, Lost: 1, Linearizable: check.NotLinearizable}},
	}}
	md := tab.Markdown()
	for _, want := range []string{"| bully | pause | 10 | 8 | 1 | 0 | 0 | 0 | 0 | yes | 1.50 s | 0 | 0 |", "| raft | pause | 12 | 9 | 0 | 1 | 0 | 0 | 0 | no |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	var b bytes.Buffer
	if err := tab.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Table
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 2 || back.Results[1].Lost != 1 || back.Results[0].Unavailable != 1500*time.Millisecond {
		t.Errorf("JSON round trip: %+v", back)
	}
}

func TestEveryFaultHasANameADocAndAnInjection(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Faults() {
		if f.Name == "" || f.Doc == "" || f.Inject == nil {
			t.Errorf("fault %+v is incomplete", f)
		}
		if seen[f.Name] {
			t.Errorf("two faults named %s", f.Name)
		}
		seen[f.Name] = true
		if g, err := Lookup(f.Name); err != nil || g.Name != f.Name {
			t.Errorf("Lookup(%s): %v", f.Name, err)
		}
	}
	if _, err := Lookup("meteor"); err == nil {
		t.Error("Lookup of an unknown fault succeeded")
	}
}

func TestCaseSeedDependsOnTheCaseAlone(t *testing.T) {
	if CaseSeed(1, "bully/pause") != CaseSeed(1, "bully/pause") {
		t.Error("a case's seed changes between calls")
	}
	if CaseSeed(1, "bully/pause") == CaseSeed(1, "raft/pause") {
		t.Error("two cases share a seed")
	}
}

func FuzzReadTable(f *testing.F) {
	var buf bytes.Buffer
	if err := (Table{Seed: 1, Size: "ci", Nodes: 5, Window: "4s", Results: []Result{{Mode: "raft", Fault: "pause"}}}).WriteJSON(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"results": null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		table, err := ReadTable(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Whatever reads writes back and reads again the same.
		var out bytes.Buffer
		if err := table.WriteJSON(&out); err != nil {
			t.Fatalf("a table read from %q does not write: %v", b, err)
		}
		again, err := ReadTable(&out)
		if err != nil || again.Markdown() != table.Markdown() {
			t.Fatalf("a table does not survive writing and reading again: %v", err)
		}
		_ = table.Describe()
	})
}
