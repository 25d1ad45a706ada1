/// A snapshot of a node's state for status pages, logs and tests.
public struct RaftStatus: Hashable, Sendable, CustomStringConvertible {
    public var id: NodeID
    public var term: Term
    public var vote: NodeID?
    public var role: Role
    public var leader: NodeID?
    public var commit: LogIndex
    public var applied: LogIndex
    public var lastIndex: LogIndex
    public var membership: Membership
    public var lease: LeaderLease?
    public var transferTarget: NodeID?
    /// On a leader: each member's match index and replication state.
    public var followers: [NodeID: FollowerProgress]

    /// The leader's view of one member.
    public struct FollowerProgress: Hashable, Sendable {
        public var match: LogIndex
        public var next: LogIndex
        public var state: String
        public var recentActive: Bool
    }

    public var description: String {
        "\(id) \(role) \(term) leader=\(leader.map { "\($0)" } ?? "-") commit=\(commit.rawValue) applied=\(applied.rawValue) last=\(lastIndex.rawValue) \(membership)"
    }
}

extension RaftNode {
    /// The node's state now.
    public var status: RaftStatus {
        var followers: [NodeID: RaftStatus.FollowerProgress] = [:]
        if role == .leader {
            for (n, p) in tracker.progress {
                followers[n] = .init(match: p.match, next: p.next, state: p.state.description, recentActive: p.recentActive)
            }
        }
        return RaftStatus(id: id, term: term, vote: vote, role: role, leader: leader, commit: log.committed,
                          applied: log.applied, lastIndex: log.lastIndex, membership: tracker.membership,
                          lease: leaderLease, transferTarget: transfer?.target, followers: followers)
    }
}
