/// Everything one HA decision looks at: a snapshot taken by the executor. The decision reads
/// no clock and does no I/O.
public struct HAInput: Hashable, Sendable {
    /// Monotonic time of the snapshot.
    public var now: Instant
    /// This member's name.
    public var me: String
    /// This member's tags (from its config file).
    public var tags: Tags
    public var raft: RaftView
    public var cluster: ClusterView
    public var local: LocalPostgres
    /// The newest completed status round (any term; the decision uses it only for its term).
    public var statusRound: StatusRound?
    /// Wall-clock time of the snapshot (Unix milliseconds): only for `scheduled_at` of
    /// requests, never for safety.
    public var wallClockUnixMs: UInt64

    public init(now: Instant, me: String, tags: Tags = Tags(), raft: RaftView, cluster: ClusterView,
                local: LocalPostgres, statusRound: StatusRound? = nil, wallClockUnixMs: UInt64 = 0) {
        self.wallClockUnixMs = wallClockUnixMs
        self.now = now
        self.me = me
        self.tags = tags
        self.raft = raft
        self.cluster = cluster
        self.local = local
        self.statusRound = statusRound
    }

    /// Whether this node is leader and its lease holds at `now`.
    public var holdsLease: Bool {
        guard raft.isLeader, let d = raft.leaseDeadline else { return false }
        return now < d
    }
}
