// Package bench drives real Veil clusters from the outside, as an operator
// would: it starts `veil node` processes on loopback ports, kills, stops,
// pauses and restarts them with signals, and measures what a client sees.
//
// A Cluster (spawn.go) owns its node processes. Every process is started
// (by package bench/proc, which bench/netns uses too) in a process group of
// its own and, on Linux, with a parent-death signal, so that Close, a
// failed test or a killed bench leaves no process behind.
// Each node writes its log to a file in the cluster's directory; Logs
// returns them all for a failure report.
//
// On top of it:
//
//   - Failover (failover.go) runs trials of "SIGKILL the coordinator" and
//     measures, from the kill, the time until every survivor names the same
//     new coordinator and the time until the first write that the new
//     coordinator acknowledges.
//   - RunLoad (load.go) is a closed-loop load generator: C clients, each
//     sending hides one after another, for R requests or for a duration.
//   - Steady (steady.go) runs load with no fault and reads from every
//     node's /metrics how many elections and coordinator changes happened.
//   - RunStudy (study.go) is what `veil bench` runs: for each mode and
//     cluster size, a Workload (workload.go) of puts and views by real
//     users with quotas, paced by drive.go in a closed loop or an open one
//     (latency from the time an operation was due, so a stall is not
//     hidden); a fault schedule (faults.go) fired at the cluster meanwhile;
//     a monitor (monitor.go) of the coordinator and of nodes that answer
//     nothing; the books check (books.go) against the registry afterwards;
//     then failover trials on a fresh cluster (trials.go). Latencies go
//     into one HdrHistogram per worker (hist.go), merged at the end.
//   - The report (run.go) is written as JSON, Markdown and one HTML page
//     with its plots embedded (out.go, plots.go); pipeline.go measures the
//     stego pipeline alone on the same machine, the reference the report
//     gives the cluster's throughput against.
//
// Durations are measured here and reported; nothing in this package
// decides whether a duration is good enough.
package bench
