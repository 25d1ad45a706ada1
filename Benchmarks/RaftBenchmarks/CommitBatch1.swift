import Benchmark

/// Raft commit throughput with one proposal per `propose(_:)` call (see `CommitWorkload`).
/// Throughput = proposals committed (and applied on all three nodes) per second.
func registerCommitBatch1() {
    Benchmark("Raft commit batch=1 (3 nodes, 128 B, window 64)",
              configuration: suiteConfiguration()) { benchmark, workload in
        workload.proposeAndCommit(benchmark.scaledIterations.count)
        blackHole(workload.cluster.appliedBytes[workload.cluster.leader])
    } setup: {
        try CommitWorkload(batchSize: 1)
    }
}
