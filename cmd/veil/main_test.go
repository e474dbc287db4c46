package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestUnknownCommandIsAUsageError(t *testing.T) {
	var out, errb bytes.Buffer
	if got := run([]string{"no-such-command"}, &out, &errb); got != exitUsage {
		t.Fatalf("exit %d, want %d", got, exitUsage)
	}
	if !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("stderr %q does not name the problem", errb.String())
	}
}

func TestNoArgumentsPrintsUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if got := run(nil, &out, &errb); got != exitUsage {
		t.Fatalf("exit %d, want %d", got, exitUsage)
	}
	if !strings.Contains(errb.String(), "usage: veil") {
		t.Fatalf("stderr %q has no usage line", errb.String())
	}
}

func TestEnvironmentFillsUnsetFlags(t *testing.T) {
	t.Setenv("VEIL_KEY_FILE", "from-env")
	t.Setenv("VEIL_NAME", "env-name")
	var errb bytes.Buffer
	fs := newFlags("x", "", &errb)
	key := fs.String("key-file", "", "")
	name := fs.String("name", "", "")
	if err := parseFlags(fs, []string{"--name", "flag-name"}); err != nil {
		t.Fatal(err)
	}
	if *key != "from-env" {
		t.Errorf("key-file = %q, want the environment's value", *key)
	}
	if *name != "flag-name" {
		t.Errorf("name = %q, want the command line to win over the environment", *name)
	}
}

func TestBadEnvironmentValueIsAUsageError(t *testing.T) {
	t.Setenv("VEIL_COUNT", "many")
	var errb bytes.Buffer
	fs := newFlags("x", "", &errb)
	fs.Int("count", 1, "")
	err := parseFlags(fs, nil)
	if err == nil || !strings.Contains(err.Error(), "VEIL_COUNT") {
		t.Fatalf("err = %v, want one naming VEIL_COUNT", err)
	}
	if got := fail(&errb, "x", err); got != exitUsage {
		t.Fatalf("exit %d, want %d", got, exitUsage)
	}
}

func TestVersionPrintsTheBuildAsTextOrJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if got := run([]string{"version"}, &out, &errb); got != exitOK {
		t.Fatalf("exit %d: %s", got, errb.String())
	}
	if line := out.String(); !strings.HasPrefix(line, "veil ") || !strings.Contains(line, ", revision ") || !strings.Contains(line, ", go") {
		t.Fatalf("veil version printed %q, want the module, the revision and the toolchain", line)
	}
	out.Reset()
	if got := run([]string{"version", "-format", "json"}, &out, &errb); got != exitOK {
		t.Fatalf("exit %d: %s", got, errb.String())
	}
	var in struct{ Module, Go string }
	if err := json.Unmarshal(out.Bytes(), &in); err != nil || in.Module == "" || in.Go == "" {
		t.Fatalf("veil version -format json printed %q (%v)", out.String(), err)
	}
	if got := run([]string{"version", "-format", "yaml"}, &out, &errb); got != exitUsage {
		t.Fatalf("an unknown format: exit %d, want %d", got, exitUsage)
	}
}
