import HACore
import RaftCore

/// The REST API's view of a running agent: its snapshot, its lease fence, the cluster store
/// through the store client (any member's API can write, the client finds the leader), and
/// its local operations.
struct AgentRESTBackend: RESTBackend {
    let config: AgentConfig
    let agent: Agent
    let fence: LeaseFence
    let client: StoreClient
    let metrics: AgentMetrics

    var clusterName: String { config.store.cluster }
    var memberName: String { config.name }

    func snapshot() -> AgentSnapshot? { agent.snapshots.current }

    func leaseValid() -> Bool { fence.guardsValidLease() }

    func read(_ key: ClusterKey) async throws -> VersionedValue? {
        try await client.get(key.path, linearizable: true)
    }

    func write(_ key: ClusterKey, _ value: [UInt8], expectedRevision: UInt64?) async throws {
        _ = try await client.put(key.path, value, expectedRevision: expectedRevision)
    }

    func delete(_ key: ClusterKey, expectedRevision: UInt64?) async throws {
        _ = try await client.delete(key.path, expectedRevision: expectedRevision)
    }

    func perform(_ operation: LocalOperation) async -> LocalOperationResult { await agent.perform(operation) }
    func scheduleRestart(_ restart: ScheduledRestart) async -> Bool { await agent.scheduleRestart(restart) }
    func cancelScheduledRestart() async -> Bool { await agent.cancelScheduledRestart() }

    func metricsText() -> String {
        if let s = agent.snapshots.current { metrics.record(s, leaseHeld: fence.guardsValidLease(), fences: fence.fenced) }
        return metrics.text()
    }

    func memberHosts() -> [String] {
        config.store.peers.map(\.raft.host) + (agent.snapshots.current?.cluster.members.values.map(\.host) ?? [])
    }
}
