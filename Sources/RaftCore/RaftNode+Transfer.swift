/// Leadership transfer (thesis §3.10): bring the target up to date, then tell it to start an
/// election at once with TimeoutNow.
extension RaftNode {
    /// Hands leadership to `target`, a voter. From this call on the leader holds no lease
    /// and refuses proposals. If the target does not win within an election timeout the
    /// transfer is abandoned; if TimeoutNow had already been sent, the leader steps down
    /// instead of keeping leadership (the target may still campaign, and voters will not wait
    /// out this leader's lease for it).
    public mutating func transferLeadership(to target: NodeID) throws(ProposalError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        if target == id { return }
        guard tracker.membership.voters.contains(target) else { throw .unknownNode(target) }
        if let t = transfer {
            if t.target == target { return }
            if t.timeoutNowSent { throw .transferInProgress }
        }
        transfer = LeadershipTransfer(target: target)
        leaseRevoked = true
        if tracker.progress[target]!.match == log.lastIndex {
            sendTimeoutNow()
        } else {
            sendAppend(to: target)
        }
    }

    /// The node a transfer is under way to, if any.
    public var transferTarget: NodeID? { transfer?.target }

    mutating func sendTimeoutNow() {
        guard let t = transfer else { return }
        transfer!.timeoutNowSent = true
        send(to: t.target, .timeoutNow, afterPersist: false)
    }

    mutating func abortTransfer() {
        guard let t = transfer else { return }
        if t.timeoutNowSent {
            becomeFollower(term: term, leader: nil)
        } else {
            transfer = nil
            leaseRevoked = false
        }
    }
}
