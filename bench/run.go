package bench

import (
	"maps"
	"slices"
	"time"

	"veil/bench/faults"
	"veil/bench/load"
	"veil/bench/local"
)

// ReportFormat is the format of the report.json this veil writes. It goes
// up when a change would make an older veil draw a report wrongly or
// refuse it; ReadReport names a newer one rather than fail on its fields.
// Format 2 added the CPU budget, the fairness and the CPU figures; format 3
// counts the requests shed with 429 apart from the failed ones.
const ReportFormat = 3

// Report is what `veil bench` writes to report.json: the setting, the
// reference point, and one run per mode and cluster size.
type Report struct {
	// Format is ReportFormat when written; 0 in reports written before it
	// was recorded, which are read as format 1.
	Format    int            `json:"format"`
	Started   time.Time      `json:"started"`
	Finished  time.Time      `json:"finished"`
	Command   string         `json:"command,omitempty"`
	Machine   Machine        `json:"machine"`
	Workload  WorkloadInfo   `json:"workload"`
	Reference *load.Pipeline `json:"reference,omitempty"`
	Runs      []Run          `json:"runs"`
	// FaultSuite is the fault suite's results table (bench/faults, `make
	// test-faults`), when the report was given one to include.
	FaultSuite *faults.Table `json:"fault_suite,omitempty"`
}

// Machine is where the run took place.
type Machine struct {
	CPUs int    `json:"cpus"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
	Go   string `json:"go"`
}

// WorkloadInfo states the workload every run of a report shares.
type WorkloadInfo struct {
	Target            string    `json:"target"` // spawned, or running cluster
	Loop              string    `json:"loop"`   // closed or open
	Clients           int       `json:"clients"`
	RequestsPerClient int       `json:"requests_per_client,omitempty"`
	Rate              float64   `json:"rate,omitempty"`
	DurationS         float64   `json:"duration_s,omitempty"`
	ViewShare         float64   `json:"view_share"`
	Quota             int       `json:"quota"`
	Viewers           int       `json:"viewers"`
	Secret            ImageInfo `json:"secret"`
	Cover             ImageInfo `json:"cover"`
	Route             string    `json:"route"`
	Profile           string    `json:"profile"`
	SimulateFailures  string    `json:"simulate_failures,omitempty"`
	Faults            []string  `json:"faults,omitempty"`
	Trials            int       `json:"failover_trials"`
	Sizes             []int     `json:"sizes"`
	// NodeCPUs is each spawned node's CPU budget; 0 means none (every node
	// shares the machine).
	NodeCPUs float64  `json:"node_cpus,omitempty"`
	Modes    []string `json:"modes"`
	Seed     uint64   `json:"seed"`
}

// Run is one mode at one cluster size.
type Run struct {
	Mode  string `json:"mode"`
	Nodes int    `json:"nodes"`
	// Requests counts the operations sent; Succeeded those acknowledged;
	// Shed those the cluster refused as overloaded (429 with Retry-After);
	// Failed the rest: refused (other 4xx) and Unknown (no final answer).
	Requests         int                `json:"requests"`
	Succeeded        int                `json:"succeeded"`
	Shed             int                `json:"shed"`
	Failed           int                `json:"failed"`
	Unknown          int                `json:"unknown"`
	SuccessPct       float64            `json:"success_pct"`
	Puts             OpCounts           `json:"puts"`
	Views            OpCounts           `json:"views"`
	ElapsedS         float64            `json:"elapsed_s"`
	ThroughputRPS    float64            `json:"throughput_rps"`
	ShareOfReference float64            `json:"share_of_reference,omitempty"`
	LatencyMS        load.LatencyMS     `json:"latency_ms"`
	PutLatencyMS     load.LatencyMS     `json:"put_latency_ms"`
	ViewLatencyMS    load.LatencyMS     `json:"view_latency_ms"`
	Errors           map[string]int     `json:"errors"`
	PerNode          map[string]int     `json:"per_node"`      // acknowledged operations by the node that did the image work
	JobsPerNode      map[string]float64 `json:"jobs_per_node"` // hides and reveals, from each node's /metrics
	// Fairness is Jain's index of JobsPerNode: 1 when every node did the
	// same work, 1/N when one node did all of it.
	Fairness float64 `json:"jain_fairness,omitempty"`
	// FairnessWorkers is the same over every node but the coordinator,
	// which, when clients spread their requests past it, only decides.
	FairnessWorkers float64 `json:"jain_fairness_workers,omitempty"`
	// CPUPerNode is the CPU time each spawned node used during the load.
	CPUPerNode map[string]float64 `json:"cpu_s_per_node,omitempty"`
	// IdleCPUPerNode is each node's CPU use per second just before the
	// load, with nothing to do.
	IdleCPUPerNode map[string]float64 `json:"idle_cpu_per_node,omitempty"`
	// Coordinator is the node that coordinated the whole load, and
	// CoordinatorCPUPerOpMS its CPU time per acknowledged operation, less
	// its idle use over the load's length; empty
	// when the coordinator changed during the load.
	Coordinator           string              `json:"coordinator,omitempty"`
	CoordinatorCPUPerOpMS float64             `json:"coordinator_cpu_per_op_ms,omitempty"`
	Coordinators          []CoordinatorChange `json:"coordinator_changes"`
	Elections             float64             `json:"elections"`
	ElectionMessages      float64             `json:"election_messages"`
	Unavailable           []Unavailability    `json:"unavailable"`
	UnavailableS          float64             `json:"unavailable_s"`
	Faults                []FaultWindow       `json:"faults"`
	// Down are the stretches in which a node answered nothing, as polled
	// every 100 ms: the scheduled faults and the failure simulation's.
	Down       []FaultWindow  `json:"down"`
	Books      *load.Books    `json:"books,omitempty"`
	Timeline   []Second       `json:"timeline"`
	FailoverMS *FailoverStats `json:"failover_ms,omitempty"`
	Trials     []TrialRecord  `json:"trials,omitempty"`
	// TrialsNotRun says why trials could not start (each was tried again).
	TrialsNotRun []string `json:"trials_not_run,omitempty"`
	// Reference is the raw pipeline, measured just before this run's load,
	// and ReferenceAfter just after it, once the nodes have stopped: the
	// machine's speed drifts, and the two bracket the load.
	// ShareOfReference is the run's throughput over the mean of their
	// MixRPS.
	Reference      *load.Pipeline `json:"reference,omitempty"`
	ReferenceAfter *load.Pipeline `json:"reference_after,omitempty"`
	Error          string         `json:"error,omitempty"`
}

// OpCounts counts one kind of operation.
type OpCounts struct {
	Requests  int `json:"requests"`
	Succeeded int `json:"succeeded"`
	Shed      int `json:"shed"`
	Unknown   int `json:"unknown"`
}

// Second is one second of a run's timeline, by when operations ended.
type Second struct {
	T      float64 `json:"t"` // start of the second, from the start of the load
	Acked  int     `json:"acked"`
	Failed int     `json:"failed"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// FailoverStats summarizes the trials of a run. P50, P90, P99 and Max are
// of the time from SIGKILL to the first write a new coordinator
// acknowledged; the other phases have their own.
type FailoverStats struct {
	Trials     int       `json:"trials"`
	Measured   int       `json:"measured"`
	P50        float64   `json:"p50"`
	P90        float64   `json:"p90"`
	P99        float64   `json:"p99"`
	Max        float64   `json:"max"`
	Detection  Quantiles `json:"detection"`
	Election   Quantiles `json:"election"`
	Agreement  Quantiles `json:"agreement"`
	FirstWrite Quantiles `json:"first_write"`
	// MessagesPerFailover is the mean of the election messages the
	// survivors sent from before the kill until they agreed.
	MessagesPerFailover  float64 `json:"messages_per_failover"`
	ElectionsPerFailover float64 `json:"elections_per_failover"`
}

// Quantiles of a set of durations, in milliseconds.
type Quantiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// TrialRecord is one failover trial, times in milliseconds from SIGKILL.
type TrialRecord struct {
	N            int     `json:"n"`
	Killed       string  `json:"killed"`
	New          string  `json:"new"`
	DetectedMS   float64 `json:"detected_ms"`
	ElectedMS    float64 `json:"elected_ms"`
	AgreedMS     float64 `json:"agreed_ms"`
	FirstWriteMS float64 `json:"first_write_ms"`
	FailedWrites int     `json:"failed_writes"`
	Messages     float64 `json:"messages"`
	Elections    float64 `json:"elections"`
	Err          string  `json:"error,omitempty"`
}

// fillLoad puts the figures of a load into run.
func fillLoad(run *Run, ops []load.Op, d load.Driven, nodeNames []string, before, after []*local.Counters, gap time.Duration) {
	all, puts, views := load.NewHistogram(), load.NewHistogram(), load.NewHistogram()
	all.Merge(d.Hists...)
	for _, o := range ops {
		run.Requests++
		c := &run.Puts
		if o.Kind == load.OpView {
			c = &run.Views
			views.Record(o.Latency())
		} else {
			puts.Record(o.Latency())
		}
		c.Requests++
		switch o.Outcome {
		case load.OutcomeOK:
			run.Succeeded++
			c.Succeeded++
			if o.Node != "" {
				run.PerNode[o.Node]++
			}
		case load.OutcomeShed:
			run.Shed++
			c.Shed++
		case load.OutcomeUnknown:
			run.Unknown++
			c.Unknown++
			run.Errors[o.Err]++
		default:
			run.Errors[o.Err]++
		}
	}
	run.Failed = run.Requests - run.Succeeded - run.Shed
	if run.Requests > 0 {
		run.SuccessPct = load.Round3(100 * float64(run.Succeeded) / float64(run.Requests))
	}
	run.ElapsedS = load.Secs(d.Elapse)
	if d.Elapse > 0 {
		run.ThroughputRPS = load.Round3(float64(run.Succeeded) / d.Elapse.Seconds())
	}
	run.LatencyMS, run.PutLatencyMS, run.ViewLatencyMS = all.Millis(), puts.Millis(), views.Millis()
	run.JobsPerNode = map[string]float64{}
	for k := range nodeNames {
		if before[k] != nil && after[k] != nil {
			run.JobsPerNode[nodeNames[k]] = grown(before[k].Jobs, after[k].Jobs)
			run.Elections += grown(before[k].Elections, after[k].Elections)
			run.ElectionMessages += grown(before[k].Messages, after[k].Messages)
		}
	}
	run.Fairness = load.Round3(load.Jain(slices.Collect(maps.Values(run.JobsPerNode))))
	run.Unavailable = unavailable(ops, gap)
	if run.Unavailable == nil {
		run.Unavailable = []Unavailability{}
	}
	for _, u := range run.Unavailable {
		run.UnavailableS = load.Round3(run.UnavailableS + u.EndS - u.StartS)
	}
	run.Timeline = timeline(ops)
}

// timeline buckets operations by the second they ended in.
func timeline(ops []load.Op) []Second {
	var last time.Duration
	for _, o := range ops {
		last = max(last, o.End)
	}
	n := int(last/time.Second) + 1
	if len(ops) == 0 {
		return []Second{}
	}
	hs := make([]*load.Histogram, n)
	out := make([]Second, n)
	for i := range out {
		out[i].T = float64(i)
		hs[i] = load.NewHistogram()
	}
	for _, o := range ops {
		i := int(o.End / time.Second)
		if o.Outcome == load.OutcomeOK {
			out[i].Acked++
			hs[i].Record(o.Latency())
		} else {
			out[i].Failed++
		}
	}
	for i, h := range hs {
		if h.Count() > 0 {
			out[i].P50MS, out[i].P99MS, out[i].MaxMS = load.Millis(h.Quantile(50)), load.Millis(h.Quantile(99)), load.Millis(h.Max())
		}
	}
	return out
}

// quantiles summarizes durations, nearest-rank, in milliseconds.
func quantiles(d []time.Duration) Quantiles {
	s := load.Summarize(d)
	if s.N == 0 {
		return Quantiles{}
	}
	return Quantiles{N: s.N, P50: load.Millis(s.Median), P99: load.Millis(s.P99), Max: load.Millis(s.Max)}
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// referenceRPS is the raw pipeline's rate for the run's mix: the mean of
// the measures before and after the load, or the one there is.
func (r *Run) referenceRPS() float64 {
	switch {
	case r.Reference != nil && r.ReferenceAfter != nil:
		return (r.Reference.MixRPS + r.ReferenceAfter.MixRPS) / 2
	case r.Reference != nil:
		return r.Reference.MixRPS
	}
	return 0
}
