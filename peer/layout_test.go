package peer

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The peer talks to the cloud only through cluster/client and the API's
// bodies; nothing of a running node (cluster, its registry, the election)
// is compiled into it.
func TestThePeerImportsNothingOfARunningNode(t *testing.T) {
	allowed := map[string]bool{"veil/cluster/api": true, "veil/cluster/client": true, "veil/cluster/vouch": true,
		"veil/internal/throttle": true, "veil/internal/webstyle": true, "veil/stego": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "veil/") && !allowed[path] {
				t.Errorf("%s imports %s; the peer may import only %v of the project", f, path, allowed)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no imports read: the test looks at the wrong files")
	}
}
