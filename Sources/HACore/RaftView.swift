/// This node's standing in the Raft group at the moment of the decision.
public struct RaftView: Hashable, Sendable {
    /// Raft leader (true) or not.
    public var isLeader: Bool
    public var term: UInt64
    /// The leader's member name, if one is known.
    public var leader: String?
    /// Leader only: the instant its lease lapses (nil: holds no lease). Checked against
    /// `HAInput.now`.
    public var leaseDeadline: Instant?
    /// Raft node id → member name for every voter (from the static peer list).
    public var voters: [UInt64: String]

    public init(isLeader: Bool, term: UInt64, leader: String?, leaseDeadline: Instant?, voters: [UInt64: String]) {
        self.isLeader = isLeader
        self.term = term
        self.leader = leader
        self.leaseDeadline = leaseDeadline
        self.voters = voters
    }
}
