import Benchmark

/// Raft commit throughput with 64 proposals per `propose(batch:)` call (see
/// `CommitWorkload`). Throughput = proposals committed (and applied on all three nodes) per
/// second, so it is directly comparable with batch=1.
func registerCommitBatch64() {
    Benchmark("Raft commit batch=64 (3 nodes, 128 B, window 64)",
              configuration: suiteConfiguration()) { benchmark, workload in
        workload.proposeAndCommit(benchmark.scaledIterations.count)
        blackHole(workload.cluster.appliedBytes[workload.cluster.leader])
    } setup: {
        try CommitWorkload(batchSize: 64)
    }
}
