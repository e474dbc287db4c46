// Package check records what clients of a Veil cluster asked and were told,
// and judges the record.
//
// A History is a list of operations (puts and views), each with who asked,
// when it was called and when it returned, and what the cluster answered:
// acknowledged, denied, failed for sure, or unknown (a timeout or an
// answer that leaves open whether it was applied), with the node, the
// coordinator and the epoch the answer named. A Recorder builds one from
// many clients at once.
//
// The checks, each on a History and the registry as read once the faults
// have stopped:
//
//   - Linearizable: each image's views, against a model of per-viewer
//     quotas, by the porcupine checker, with a time limit; an operation of
//     unknown outcome may have taken effect at any time after its call,
//     or never. The visualisation of any image that fails is written to a
//     directory for a person to read.
//   - Registry: no acknowledged put is lost, no operation is applied twice,
//     no viewer is granted more views than the quota, and the views spent
//     in the registry equal the acknowledged ones, give or take the views
//     of unknown outcome.
//   - Epochs: no write is acknowledged at an epoch lower than one that had
//     already acknowledged a write when it was called.
//
// And two measures: the longest time no client got an answer, and the time
// during which two coordinators both acknowledged writes.
package check
