/// The role a node plays in its current term (Raft paper §5.2, thesis §9.6 for pre-vote).
public enum Role: Hashable, Sendable, CustomStringConvertible {
    case follower
    /// Asking for pre-votes; its term has not been raised yet.
    case preCandidate
    case candidate
    case leader

    public var description: String {
        switch self {
        case .follower: return "follower"
        case .preCandidate: return "pre-candidate"
        case .candidate: return "candidate"
        case .leader: return "leader"
        }
    }
}

/// Volatile state the application usually wants to hear about when it changes: the node's
/// role and whom it believes to be leader.
public struct SoftState: Hashable, Sendable {
    public var role: Role
    public var leader: NodeID?
    public init(role: Role, leader: NodeID?) {
        self.role = role
        self.leader = leader
    }
}
