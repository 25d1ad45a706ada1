/// Membership changes, one server at a time (thesis §4.1).
///
/// A change is an ordinary log entry. Each node uses the latest membership in its log as
/// soon as the entry is appended, committed or not, and falls back to the previous one if
/// the entry is truncated. The leader accepts a change only when (1) the previous change is
/// committed and (2) it has committed an entry of its own term. Any majority of the old
/// membership and any majority of the new one share a member, because they differ by one
/// server; (1) keeps at most two adjacent memberships in use, and (2) is the fix for the flaw
/// in the original single-server algorithm (raft-dev, 2015): without it a new leader could
/// append a change concurrent with an uncommitted change of a previous term. We chose this
/// over joint consensus because pgha changes one host at a time, and it needs no second
/// quorum rule; the simulator exercises it under faults.
extension RaftNode {
    /// Proposes adding a voter, adding a learner, promoting a learner (`addVoter` of a
    /// learner) or removing a member. Throws while another change is pending, during a
    /// transfer, on a follower, or when the change is a no-op or would leave no voters. A
    /// leader that removes itself steps down once the change commits.
    public mutating func proposeConfigChange(_ change: ConfigChange) throws(ProposalError) {
        try checkCanPropose(count: 1)
        guard (membershipChanges.last?.index ?? .zero) <= log.committed, committedInCurrentTerm else {
            throw .configChangePending
        }
        guard change.node.rawValue != 0 else { throw .invalidConfigChange("node id 0 is reserved") }
        let current = tracker.membership
        let next = current.applying(change)
        if next == current { throw .invalidConfigChange("\(change) changes nothing in \(current)") }
        if next.voters.isEmpty { throw .invalidConfigChange("\(change) would leave no voters") }
        appendAsLeader([.configChange(change, resulting: next)])
        bcastAppend()
    }

    var currentMembership: Membership { membershipChanges.last?.membership ?? membershipBase }

    /// Notes the membership changes in freshly appended `entries` and switches to the result.
    mutating func recordMembershipChanges(in entries: ArraySlice<Entry>) {
        var latest: Membership?
        for e in entries {
            if case .configChange(_, let m) = e.payload {
                membershipChanges.append((e.index, m))
                latest = m
            }
        }
        if let latest { adopt(latest) }
    }

    /// Forgets changes at or after `index` (their entries are being overwritten).
    mutating func truncateMembershipChanges(from index: LogIndex) {
        guard let last = membershipChanges.last, last.index >= index else { return }
        membershipChanges.removeAll { $0.index >= index }
        adopt(currentMembership)
    }

    mutating func adopt(_ m: Membership) {
        guard m != tracker.membership else { return }
        let added = m.allMembers.subtracting(tracker.membership.allMembers)
        tracker.setMembership(m, next: log.lastIndex + 1)
        if role == .leader {
            for n in added.sorted() where n != id {
                sendAppend(to: n)
            }
        }
    }
}
