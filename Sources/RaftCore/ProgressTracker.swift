/// The leader's bookkeeping for every member, and a candidate's vote tally, under the
/// membership currently in force on this node.
struct ProgressTracker {
    private(set) var membership: Membership {
        didSet { sortedMembers = membership.allMembers.sorted() }
    }
    /// Every member in id order (iteration order must not depend on hashing).
    private(set) var sortedMembers: [NodeID] = []
    var progress: [NodeID: Progress] = [:]
    var votes: [NodeID: Bool] = [:]
    let maxInflight: Int
    let maxInflightBytes: Int

    init(membership: Membership, maxInflight: Int, maxInflightBytes: Int) {
        self.membership = membership
        self.sortedMembers = membership.allMembers.sorted()
        self.maxInflight = maxInflight
        self.maxInflightBytes = maxInflightBytes
    }

    /// Switches to `new`, keeping the progress of members that stay and starting new members
    /// in probe state at `next`.
    mutating func setMembership(_ new: Membership, next: LogIndex) {
        membership = new
        for id in Array(progress.keys) where !new.contains(id) {
            progress[id] = nil
        }
        for id in new.allMembers {
            if progress[id] == nil {
                progress[id] = Progress(next: next, isLearner: new.learners.contains(id),
                                        maxInflight: maxInflight, maxInflightBytes: maxInflightBytes)
            } else {
                progress[id]!.isLearner = new.learners.contains(id)
            }
        }
    }

    /// Forgets all progress and starts every member afresh at `next` (a new leader's view).
    mutating func resetProgress(next: LogIndex) {
        progress = [:]
        setMembership(membership, next: next)
    }

    /// The highest index stored on a majority of voters.
    func committedIndex() -> LogIndex {
        LogIndex(Quorum.committedValue(voters: membership.voters) { progress[$0]?.match.rawValue ?? 0 })
    }

    /// Whether a majority of voters (counting `me` as active) were heard from recently.
    func quorumActive(me: NodeID) -> Bool {
        var votes: [NodeID: Bool] = [:]
        for v in membership.voters {
            votes[v] = v == me || (progress[v]?.recentActive ?? false)
        }
        return Quorum.voteResult(voters: membership.voters, votes: votes) == .won
    }

    mutating func resetRecentActive(except me: NodeID) {
        for id in Array(progress.keys) {
            progress[id]!.recentActive = id == me
        }
    }

    func voteResult() -> Quorum.VoteResult {
        Quorum.voteResult(voters: membership.voters, votes: votes)
    }
}
