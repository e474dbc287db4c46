// Package local spawns Veil clusters on loopback ports and watches them:
// it starts `veil node` processes, kills, stops, pauses and restarts them
// with signals, and asks them who coordinates.
//
// A Cluster (spawn.go) owns its node processes, held in a proc.Set: Close,
// a failed test or a killed bench leaves no process behind (package
// bench/proc starts each in a process group of its own with a
// parent-death signal). Each node writes its log to a file in the
// cluster's directory; Logs returns them all for a failure report.
// FreePort (ports.go) hands out ports that no two nodes share.
//
// On top of it:
//
//   - WaitAgreement, WaitSettled and WaitMemberStatus (agree.go) poll the
//     nodes until they agree on a coordinator, or list each other as
//     alive, active, failed or left.
//   - Counters (metrics.go) reads a node's election counters from
//     /metrics.
//   - Failover (failover.go) runs trials of "SIGKILL the coordinator" and
//     measures, from the kill, the time until every survivor names the same
//     new coordinator and the time until the first write that the new
//     coordinator acknowledges.
//   - Steady (steady.go) runs load with no fault and reads how many
//     elections and coordinator changes happened meanwhile.
//
// It imports, of the bench, bench/proc, bench/cgroup (a node's CPU
// budget) and bench/load (the clients its trials and its steady run
// write with); never the study or the report above it.
package local
