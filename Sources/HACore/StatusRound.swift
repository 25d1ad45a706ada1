/// The answers of a new leader's direct status round (failover step 2): every member that
/// answered before the deadline, this node included. Members missing from `statuses` did not
/// answer (down or partitioned) and are not candidates.
public struct StatusRound: Hashable, Sendable {
    /// The Raft term the round was gathered in; a round from an earlier term is never used.
    public var term: UInt64
    public var statuses: [String: MemberStatus]
    /// When it completed.
    public var at: Instant

    public init(term: UInt64, statuses: [String: MemberStatus], at: Instant) {
        self.term = term
        self.statuses = statuses
        self.at = at
    }
}
