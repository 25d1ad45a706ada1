/// A leader's lease: a period during which no other node can become leader.
///
/// The lease starts at the (leader-clock) tick at which the leader sent the heartbeat round
/// that a quorum acknowledged, and lasts `RaftConfig.leaseTicks`, which is shorter than the
/// election timeout. Every voter that acknowledged that round refuses to vote, and does not
/// campaign, for an election timeout after receiving it (leader stickiness), and a restarted
/// node refuses for an election timeout after start; so while the lease holds, no quorum can
/// elect anyone else. This relies on clocks of all nodes advancing at about the same rate,
/// with the gap between `leaseTicks` and `electionTicks` as the margin for drift.
///
/// A leader that starts a leadership transfer gives up its lease at once.
public struct LeaderLease: Hashable, Sendable {
    public var term: Term
    /// The leader-clock tick at which the lease lapses (exclusive).
    public var expiresAtTick: UInt64
    /// Ticks left from the node's current tick.
    public var remainingTicks: UInt64
}
