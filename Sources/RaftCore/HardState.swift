/// The state a node must have on stable storage before it answers anyone: its current term,
/// whom it voted for in that term, and the highest index it knows is committed
/// (Raft paper Figure 2, "Persistent state").
public struct HardState: Hashable, Sendable, CustomStringConvertible {
    public var term: Term
    public var vote: NodeID?
    public var commit: LogIndex

    public init(term: Term = .zero, vote: NodeID? = nil, commit: LogIndex = .zero) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    public var description: String { "term=\(term.rawValue) vote=\(vote.map { "\($0)" } ?? "-") commit=\(commit.rawValue)" }
}
