import HACore
import NIOConcurrencyHelpers
import RaftCore

/// What the agent knew at the end of its last HA cycle, published for the REST API and the
/// metrics so that they never wait for the HA loop (which a base backup or a switchover may
/// hold for a while).
public struct AgentSnapshot: Sendable {
    /// This member's status, as reported into the store.
    public var member: MemberStatus
    /// The local Postgres as last observed.
    public var local: LocalPostgres
    public var raft: RaftView
    /// Raft commit and applied index, and how many times this node saw the leader change.
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    /// The cluster as this node's copy of the store shows it.
    public var cluster: ClusterView
    /// Monotonic time of the cycle; the API's liveness check compares it with now.
    public var at: Instant
    /// Wall-clock time of the cycle, Unix milliseconds (Patroni's `dcs_last_seen`).
    public var atUnixMs: UInt64
    /// What the decision waits for, if anything.
    public var waitingFor: String?
    public var counters: AgentCounters
}

/// The one place the agent publishes its snapshot; readers on any thread get the newest.
public final class AgentSnapshotBox: Sendable {
    private let box = NIOLockedValueBox<AgentSnapshot?>(nil)
    public init() {}
    /// The newest snapshot (nil before the first cycle).
    public var current: AgentSnapshot? { box.withLockedValue { $0 } }
    func publish(_ s: AgentSnapshot) { box.withLockedValue { $0 = s } }
}
