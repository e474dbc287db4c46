package bench

import (
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// layers is the one-way order of the bench's packages, from the bottom up:
// each row names the packages of the bench it may import, and every one of
// them stands on an earlier row. "" is the study, bench itself.
var layers = []struct {
	pkg     string
	imports []string
}{
	{"proc", nil},   // node processes, their Set, JSON from their API, polling
	{"cgroup", nil}, // CPU budgets
	{"check", nil},  // linearizability of a recorded history
	{"compose", nil},
	{"netns", []string{"proc"}}, // clusters in network namespaces
	{"load", []string{"proc"}},  // the workload, its clients and measures
	{"faults", []string{"check", "load", "netns"}},    // the fault suite on netns clusters
	{"local", []string{"cgroup", "load", "proc"}},     // clusters on loopback
	{"report", []string{"faults", "load"}},            // the report, its reading and plots
	{"p2p", []string{"load", "local", "proc"}},        // users' peers against a local cluster
	{"registry", []string{"load", "local", "proc"}},   // the registry at scale on a local cluster
	{"", []string{"load", "local", "proc", "report"}}, // the study
}

// benchImports returns, for every package under dir (the bench), the
// packages of the bench its non-test files import, both by their path
// below the bench ("" for the bench itself).
func benchImports(t *testing.T, dir, module string) map[string][]string {
	t.Helper()
	graph := map[string][]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(dir, filepath.Dir(p))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if pkg == "." {
			pkg = ""
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if _, ok := graph[pkg]; !ok {
			graph[pkg] = nil
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			var to string
			switch {
			case ip == module:
				to = ""
			case strings.HasPrefix(ip, module+"/"):
				to = strings.TrimPrefix(ip, module+"/")
			default:
				continue
			}
			if !slices.Contains(graph[pkg], to) {
				graph[pkg] = append(graph[pkg], to)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return graph
}

// cycle returns a path that leads from a package back to itself, or nil.
func cycle(graph map[string][]string) []string {
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(p string) []string
	visit = func(p string) []string {
		state[p] = open
		stack = append(stack, p)
		for _, q := range graph[p] {
			switch state[q] {
			case open:
				i := slices.Index(stack, q)
				return append(slices.Clone(stack[i:]), q)
			case unseen:
				if c := visit(q); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[p] = done
		return nil
	}
	for _, p := range slices.Sorted(maps.Keys(graph)) {
		if state[p] == unseen {
			if c := visit(p); c != nil {
				return c
			}
		}
	}
	return nil
}

func name(pkg string) string { return path.Join("bench", pkg) }

func TestTheLayersOfTheBenchStateAOneWayOrder(t *testing.T) {
	seen := map[string]bool{}
	for _, l := range layers {
		for _, imp := range l.imports {
			if !seen[imp] {
				t.Errorf("%s may import %s, which does not stand below it in the table", name(l.pkg), name(imp))
			}
		}
		if seen[l.pkg] {
			t.Errorf("%s has two rows", name(l.pkg))
		}
		seen[l.pkg] = true
	}
}

func TestTheBenchsPackagesImportOnlyDownwardsAndNeverInACycle(t *testing.T) {
	graph := benchImports(t, ".", "veil/bench")
	if len(graph) < 2 {
		t.Fatalf("found %d packages under bench/: is the test run from bench/?", len(graph))
	}
	allowed := map[string][]string{}
	for _, l := range layers {
		allowed[l.pkg] = l.imports
	}
	for pkg, imports := range graph {
		may, known := allowed[pkg]
		if !known {
			t.Errorf("%s has no row in the layers: say what it may import", name(pkg))
			continue
		}
		for _, imp := range imports {
			if !slices.Contains(may, imp) {
				t.Errorf("%s imports %s; its row allows only %v", name(pkg), name(imp), may)
			}
		}
	}
	if c := cycle(graph); c != nil {
		for i := range c {
			c[i] = name(c[i])
		}
		t.Errorf("the bench's packages import each other in a cycle: %s", strings.Join(c, " → "))
	}
}

func TestACycleIsFound(t *testing.T) {
	cases := []struct {
		name  string
		graph map[string][]string
		cycle bool
	}{
		{"a chain", map[string][]string{"": {"report"}, "report": {"load"}, "load": {"proc"}}, false},
		{"a diamond", map[string][]string{"": {"local", "report"}, "local": {"load"}, "report": {"load"}}, false},
		{"an upward import", map[string][]string{"local": {"load"}, "load": {"local"}}, true},
		{"a package that imports itself", map[string][]string{"load": {"load"}}, true},
		{"a long way round", map[string][]string{"": {"report"}, "report": {"load"}, "load": {""}}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := cycle(c.graph); (got != nil) != c.cycle {
				t.Fatalf("cycle = %v, want one: %v", got, c.cycle)
			}
		})
	}
}
