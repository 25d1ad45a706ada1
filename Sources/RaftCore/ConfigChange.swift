/// A single-server membership change (Raft thesis §4.1, one change at a time).
///
/// Adding a node that is already a learner as a voter promotes it.
public enum ConfigChange: Hashable, Sendable, CustomStringConvertible {
    /// Make `node` a voter (adds it, or promotes it if it is a learner).
    case addVoter(NodeID)
    /// Add `node` as a learner: it receives the log but neither votes nor counts for commit.
    case addLearner(NodeID)
    /// Remove `node`, voter or learner, from the cluster.
    case remove(NodeID)

    /// The node the change is about.
    public var node: NodeID {
        switch self {
        case .addVoter(let n), .addLearner(let n), .remove(let n): return n
        }
    }

    public var description: String {
        switch self {
        case .addVoter(let n): return "+voter \(n)"
        case .addLearner(let n): return "+learner \(n)"
        case .remove(let n): return "-\(n)"
        }
    }
}
