// Package bench is the study `veil bench` runs: real Veil clusters driven
// from the outside, as an operator would, for each coordinator selection
// mode and cluster size.
//
// RunStudy (study.go), for each mode and size, spawns a cluster (package
// bench/local), runs a Workload of puts and views by real users with
// quotas against it (package bench/load), fires a fault schedule at it
// meanwhile (faults.go: kill, stop, fail), watches the coordinator and the
// nodes that answer nothing (monitor.go), checks the books against the
// registry afterwards, then runs failover trials on a fresh cluster
// (trials.go). It puts the figures of each run (fill.go) into a Report
// (package bench/report), which writes itself as JSON, Markdown and one
// HTML page with its plots. parse.go reads the command line's sizes,
// modes, image sizes and fault schedules.
//
// The rooms below the study, each a package, import one way only, from the
// bottom up (layout_test.go states the order and checks it):
//
//	proc      node processes: command line, key, the Set of a cluster's
//	          processes, JSON from their API, polling
//	load      the workload, pacing, clients, books, histograms, summaries
//	local     clusters on loopback: Spawn, signals, agreement, counters,
//	          failover trials, the steady run
//	report    the report, its reading and its plots
//	bench     the study
//
// Beside them: netns and faults (clusters in network namespaces and the
// fault suite run on them, on proc), check (linearizability of a recorded
// history), cgroup (CPU budgets, used by local), p2p (users' peers against
// a local cluster) and compose.
//
// Durations are measured here and reported; nothing in the bench decides
// whether a duration is good enough.
package bench
