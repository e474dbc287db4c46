// Package load is the bench's workload and what measures it: operations
// sent to the API of any Veil cluster, spawned by the bench or running
// already, known only by its nodes' API addresses.
//
//   - Workload (workload.go) is a mix of puts and views by real users with
//     quotas; Prepare registers and logs them in, and each worker of a
//     Prepared workload makes one operation at a time. Its secrets are
//     put in turn at its stealth level, and every view's bytes are held
//     against the secret put.
//   - ReadSecrets (secret.go) reads the user's photographs as secrets,
//     refusing by name what the cloud would not take; GeneratedPhoto and
//     ReencodePhoto (photo.go) make a photograph of a few MB for the demo
//     and the studies.
//   - Drive (drive.go) runs operations at a Pace: in a closed loop, or in
//     an open one that counts latency from when an operation was due, so
//     that a stall shows as a stall (no coordinated omission).
//     ShowProgress (progress.go) reports it as it goes.
//   - Run (load.go) is the simpler closed-loop load of hides that the
//     steady run and the demo use.
//   - CheckBooks (books.go) holds what the clients were told against what
//     the registry holds.
//   - Histogram (hist.go) and Summarize (stats.go) turn latencies into
//     figures; MeasurePipeline (pipeline.go) measures the stego pipeline
//     alone, the reference the report gives throughput against.
//   - User and EnsureUser (user.go) are the bench's own user.
//
// It imports, of the bench, only bench/proc: it knows nothing of node
// processes, so that whoever starts a cluster (bench/local, bench/p2p)
// can use it.
package load
