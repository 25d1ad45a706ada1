import RaftCore

/// What the two commit-throughput benchmarks share: a three-node `InMemoryCluster` with node 1
/// elected (built in the benchmark's `setup`, outside the measured region) and the payloads.
///
/// One measured iteration proposes `benchmark.scaledIterations.count` (1,000) proposals of
/// `payloadSize` bytes on the leader, in windows of `window` (64) proposals: a window is
/// proposed without waiting, then the cluster is run until it is quiet (every entry
/// persisted on all three nodes, committed, applied everywhere, every follower told the
/// commit index, no message in flight), then the next window follows. So up to 64 proposals
/// are in flight at once and every one of them has committed and been applied on the leader
/// (and the followers) by the end of the iteration.
///
/// - batch size 1: each proposal is its own `propose(_:)` call (64 calls per window);
/// - batch size 64: each window is one `propose(batch:)` call of 64 proposals.
/// 1,000 = 15 x 64 + 40, so the last window of every iteration holds 40.
///
/// After each iteration the nodes snapshot and compact their `MemoryStorage` once they have
/// applied 4,096 entries since the last snapshot (inside the measured region, about once
/// every four iterations; it is cheap: the log is empty past the applied index).
final class CommitWorkload {
    static let payloadSize = 128
    static let window = 64

    let cluster: InMemoryCluster
    let batchSize: Int
    /// The same 128-byte payload for every proposal: Swift arrays are copy-on-write, so
    /// proposing it allocates no payload bytes and the benchmark measures Raft, not the
    /// client building payloads.
    let payload: [UInt8]
    /// `window` copies of `payload`, for `propose(batch:)`.
    let fullBatch: [[UInt8]]

    init(batchSize: Int) throws {
        precondition(batchSize == 1 || batchSize == Self.window)
        self.batchSize = batchSize
        cluster = try InMemoryCluster(size: 3, compactEvery: 4096)
        payload = (0..<Self.payloadSize).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        fullBatch = Array(repeating: payload, count: Self.window)
    }

    /// Proposes `count` proposals as described above and runs the cluster until all are
    /// committed and applied.
    func proposeAndCommit(_ count: Int) {
        let before = cluster.appliedCount[cluster.leader]
        var remaining = count
        do {
            while remaining > 0 {
                let n = min(Self.window, remaining)
                if batchSize == 1 {
                    for _ in 0..<n { try cluster.propose(payload) }
                } else {
                    try cluster.propose(batch: n == Self.window ? fullBatch : Array(fullBatch[..<n]))
                }
                cluster.run()
                remaining -= n
            }
        } catch {
            preconditionFailure("proposal refused: \(error)")
        }
        for i in cluster.nodes.indices {
            precondition(cluster.appliedCount[i] == before + count,
                         "node \(i + 1) applied \(cluster.appliedCount[i] - before) of \(count)")
        }
        cluster.compactIfDue()
        precondition(cluster.storedEntries(cluster.leader) <= Int(cluster.compactEvery) + count,
                     "storage is not being compacted")
    }
}
