/// Settings of one Raft node. Times are in ticks: the application calls `RaftNode.tick()` at
/// a fixed interval (pgha uses 100 ms), so the defaults mean a heartbeat every 100 ms, an
/// election timeout randomized in 1000–2000 ms and a 600 ms leader lease.
public struct RaftConfig: Sendable {
    /// This node's id; never zero.
    public var id: NodeID
    /// Minimum election timeout. Each node picks a timeout in `[electionTicks, 2*electionTicks)`
    /// at random after every reset. Also the check-quorum period and leader-stickiness window.
    public var electionTicks: Int = 10
    /// Heartbeat interval; must be less than `electionTicks`.
    public var heartbeatTicks: Int = 1
    /// Length of the leader lease; must be less than `electionTicks` (see `LeaderLease`).
    public var leaseTicks: Int = 6
    /// Upper bound on the entry bytes in one append message (one entry is always allowed).
    public var maxBytesPerMessage: Int = 1 << 20
    /// How many append messages may be unacknowledged per follower in replicate state.
    public var maxInflightMessages: Int = 256
    /// How many entry bytes may be unacknowledged per follower.
    public var maxInflightBytes: Int = 64 << 20
    /// How many entries may be appended and not yet committed before proposals are refused.
    public var maxUncommittedEntries: Int = 100_000
    /// Upper bound on the committed entry bytes in one `Ready`.
    public var maxApplyBytesPerReady: Int = 64 << 20
    /// How many read requests may wait for a quorum round at once.
    public var maxPendingReads: Int = 10_000
    /// Run a pre-vote round before raising the term (thesis §9.6).
    public var preVote: Bool = true
    /// Leaders step down without a quorum; followers ignore votes while they have a leader.
    /// Required for the lease, so it cannot be turned off when leases are used.
    public var checkQuorum: Bool = true
    /// Whether this node may start an election. A node that may not still votes and
    /// replicates (its Postgres is unhealthy, or it is tagged `nofailover`).
    public var mayCampaign: Bool = true
    /// This node lost its durable state (vote and log: an emptied or damaged data directory)
    /// and rejoins under its old id: it refuses every vote until its log has caught up with
    /// a leader's commit index (`RaftNode.isRejoining` turns false). Without this a node that
    /// forgot what it promised could vote twice in a term or help a stale node win. The core
    /// does not persist the flag: the application must give it again to a node restarted
    /// before it caught up (`pgha store run` keeps a marker file in the data directory).
    public var rejoinAfterDataLoss: Bool = false
    /// Seed for the randomized election timeout; give every node a different one.
    public var randomSeed: UInt64
    /// Deliberate defects for the simulator; empty in production.
    package var plantedBugs: PlantedBugs = []

    public init(id: NodeID, randomSeed: UInt64? = nil) {
        self.id = id
        self.randomSeed = randomSeed ?? (id.rawValue &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Checks the settings and names the first bad one.
    public func validate() throws(RaftConfigError) {
        if id.rawValue == 0 { throw RaftConfigError(field: "id", reason: "must not be zero") }
        if heartbeatTicks < 1 { throw RaftConfigError(field: "heartbeatTicks", reason: "must be at least 1") }
        if electionTicks <= heartbeatTicks {
            throw RaftConfigError(field: "electionTicks", reason: "must be greater than heartbeatTicks (\(heartbeatTicks))")
        }
        if leaseTicks < 1 || leaseTicks >= electionTicks {
            throw RaftConfigError(field: "leaseTicks", reason: "must be in 1..<electionTicks (\(electionTicks)) for the lease to be safe")
        }
        if !checkQuorum { throw RaftConfigError(field: "checkQuorum", reason: "must be on: the leader lease depends on it") }
        if maxBytesPerMessage < 1 { throw RaftConfigError(field: "maxBytesPerMessage", reason: "must be positive") }
        if maxInflightMessages < 1 { throw RaftConfigError(field: "maxInflightMessages", reason: "must be positive") }
        if maxInflightBytes < 1 { throw RaftConfigError(field: "maxInflightBytes", reason: "must be positive") }
        if maxUncommittedEntries < 1 { throw RaftConfigError(field: "maxUncommittedEntries", reason: "must be positive") }
        if maxPendingReads < 1 { throw RaftConfigError(field: "maxPendingReads", reason: "must be positive") }
    }
}

/// A setting of `RaftConfig` that is out of range.
public struct RaftConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public var description: String { "raft config: \(field) \(reason)" }
}
