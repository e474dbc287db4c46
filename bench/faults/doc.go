// Package faults is the fault suite: it runs a Veil cluster whose nodes
// live in network namespaces of their own (package bench/netns), drives a
// workload of puts and views through the Go client while it injects one
// kind of fault, records every operation (package bench/check), and judges
// the history against the registry once the fault is over.
//
// A Case is one mode and one Fault; Run runs it and returns a Result: the
// counts, the checks and the measures of package check, and the time the
// nodes took to agree again. A Table gathers the results of a run, mode
// by fault, as JSON for the bench report and as Markdown for the README.
//
// The faults (Faults lists them): the coordinator isolated from the other
// nodes, a minority with the coordinator cut off from the majority, two
// halves joined only through a bridge node, random packet loss, a flapping
// link, SIGKILL and restart, SIGSTOP past the timeouts and SIGCONT, and
// the failure simulation of the original assignment. Each undoes itself
// before it returns.
//
// The test TestFaults runs every fault in each mode; its size, seed and
// cases come from VEIL_FAULTS* variables, described there and in the
// README.
package faults
