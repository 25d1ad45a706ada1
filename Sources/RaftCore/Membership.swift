/// The members of the cluster at one point in the log: voters decide elections and commit,
/// learners only receive the log.
///
/// A node is never both a voter and a learner.
public struct Membership: Hashable, Sendable, CustomStringConvertible {
    public private(set) var voters: Set<NodeID>
    public private(set) var learners: Set<NodeID>

    /// Creates a membership; a node listed in both sets is taken as a voter.
    public init(voters: Set<NodeID> = [], learners: Set<NodeID> = []) {
        self.voters = voters
        self.learners = learners.subtracting(voters)
    }

    /// Every member, voter or learner.
    public var allMembers: Set<NodeID> { voters.union(learners) }

    /// Whether `node` is in the cluster at all.
    public func contains(_ node: NodeID) -> Bool { voters.contains(node) || learners.contains(node) }

    /// The membership after `change`. Changes that change nothing (adding an existing voter,
    /// removing a stranger) return the same membership; demoting a voter to learner is
    /// supported and counts as one change.
    public func applying(_ change: ConfigChange) -> Membership {
        var m = self
        switch change {
        case .addVoter(let n):
            m.learners.remove(n)
            m.voters.insert(n)
        case .addLearner(let n):
            m.voters.remove(n)
            m.learners.insert(n)
        case .remove(let n):
            m.voters.remove(n)
            m.learners.remove(n)
        }
        return m
    }

    /// The number of voters that form a majority.
    public var quorum: Int { voters.count / 2 + 1 }

    public var description: String {
        let v = voters.sorted().map(\.description).joined(separator: ",")
        let l = learners.sorted().map(\.description).joined(separator: ",")
        return l.isEmpty ? "{\(v)}" : "{\(v) learners \(l)}"
    }
}
