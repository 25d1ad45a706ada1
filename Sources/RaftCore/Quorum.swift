/// Majority arithmetic over a set of voters, kept apart from the state machine so it can be
/// tested on its own (as etcd's `quorum/majority.go`).
enum Quorum {
    /// The outcome of counting votes.
    enum VoteResult: Equatable {
        case won, lost, pending
    }

    /// The largest value that a majority of `voters` have reached: for match indices this is
    /// the highest index stored on a majority. Returns 0 for an empty voter set.
    static func committedValue(voters: Set<NodeID>, _ value: (NodeID) -> UInt64) -> UInt64 {
        if voters.isEmpty { return 0 }
        var values = voters.map(value)
        values.sort(by: >)
        return values[voters.count / 2]
    }

    /// Whether `votes` (true = granted) win, lose or are not decided yet among `voters`.
    /// Votes from non-voters are ignored.
    static func voteResult(voters: Set<NodeID>, votes: [NodeID: Bool]) -> VoteResult {
        if voters.isEmpty { return .won }
        var granted = 0, rejected = 0
        for v in voters {
            switch votes[v] {
            case true?: granted += 1
            case false?: rejected += 1
            case nil: break
            }
        }
        let q = voters.count / 2 + 1
        if granted >= q { return .won }
        if voters.count - rejected < q { return .lost }
        return .pending
    }
}
