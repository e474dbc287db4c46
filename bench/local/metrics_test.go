package local

import (
	"strings"
	"testing"
)

func TestCountersAreReadFromPrometheusText(t *testing.T) {
	text := `# HELP veil_elections_total Elections this node started.
# TYPE veil_elections_total counter
veil_elections_total{node="node-2"} 3
# HELP veil_coordinator_changes_total Coordinator changes this node saw.
# TYPE veil_coordinator_changes_total counter
veil_coordinator_changes_total{node="node-2"} 5
# HELP veil_epoch Term of the newest coordinator epoch this node knows.
# TYPE veil_epoch gauge
veil_epoch{node="node-2"} 4
# TYPE veil_election_messages_sent_total counter
veil_election_messages_sent_total{node="node-2",type="ELECTION"} 4
veil_election_messages_sent_total{node="node-2",type="COORDINATOR"} 20
veil_election_messages_sent_total{node="node-2",type="HEARTBEAT"} 600
veil_election_messages_sent_total{node="node-2",type="request_vote"} 2
veil_election_messages_sent_total{node="node-2",type="heartbeat"} 900
veil_election_messages_sent_total{node="node-2",type="append_entries"} 300
# TYPE veil_jobs_total counter
veil_jobs_total{kind="hide",node="node-2",result="ok"} 7
veil_jobs_total{kind="reveal",node="node-2",result="error"} 1
`
	got, err := parseCounters(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	// Bully's heartbeats keep watch, and Raft's heartbeats and appends
	// replicate the registry: not election messages.
	if want := (Counters{Elections: 3, CoordinatorChanges: 5, Messages: 26, Jobs: 8}); got != want {
		t.Fatalf("parseCounters = %+v, want %+v", got, want)
	}
}

func TestCountersMissingFromMetricsAreAnError(t *testing.T) {
	_, err := parseCounters(strings.NewReader("# TYPE veil_epoch gauge\nveil_epoch 1\n"))
	if err == nil || !strings.Contains(err.Error(), "veil_elections_total") {
		t.Fatalf("err = %v, want one naming the missing metric", err)
	}
}
