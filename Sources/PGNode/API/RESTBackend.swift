import HACore
import RaftCore

/// What the REST API needs from the agent it serves: its snapshot, the lease, the cluster
/// store and local operations. The agent's implementation is `AgentRESTBackend`; tests may
/// supply their own.
public protocol RESTBackend: Sendable {
    /// The cluster's name (Patroni's `scope`).
    var clusterName: String { get }
    /// This member's name.
    var memberName: String { get }
    /// The agent's newest snapshot.
    func snapshot() -> AgentSnapshot?
    /// Whether this node holds the leader lease at this instant.
    func leaseValid() -> Bool
    /// Reads a key of the cluster store (linearizable).
    func read(_ key: ClusterKey) async throws -> VersionedValue?
    /// Writes a key (compare-and-set on `expectedRevision` when given; 0 means absent).
    func write(_ key: ClusterKey, _ value: [UInt8], expectedRevision: UInt64?) async throws
    /// Deletes a key (compare-and-set when `expectedRevision` is given).
    func delete(_ key: ClusterKey, expectedRevision: UInt64?) async throws
    /// Runs a local operation through the HA loop.
    func perform(_ operation: LocalOperation) async -> LocalOperationResult
    /// The Prometheus text exposition of every metric.
    func metricsText() -> String
    /// The addresses of the members' hosts (for `allowlist_include_members`).
    func memberHosts() -> [String]
    /// Schedules a restart of this member's Postgres; false if one is already scheduled.
    func scheduleRestart(_ restart: ScheduledRestart) async -> Bool
    /// Cancels the scheduled restart; false if none was scheduled.
    func cancelScheduledRestart() async -> Bool
}

extension RESTBackend {
    /// A backend without an agent schedules nothing.
    public func scheduleRestart(_ restart: ScheduledRestart) async -> Bool { false }
    public func cancelScheduledRestart() async -> Bool { false }
}
