/// Snapshots: sending one to a follower whose entries were compacted away, installing one
/// from the leader, and reporting how a send went (Raft paper §7).
extension RaftNode {
    mutating func sendSnapshot(to: NodeID) -> Bool {
        guard tracker.progress[to]?.recentActive == true else { return false }
        guard let snapshot = try? log.storage.snapshot(), !snapshot.isEmpty else { return false }
        tracker.progress[to]!.becomeSnapshot(snapshot.metadata.index, at: now)
        send(to: to, .installSnapshot(snapshot), afterPersist: false)
        return true
    }

    /// Follower side of InstallSnapshot.
    mutating func handleSnapshot(from: NodeID, term msgTerm: Term, _ s: Snapshot) {
        let meta = s.metadata
        guard meta.index > .zero, meta.term > .zero, meta.term <= msgTerm, !meta.membership.voters.isEmpty else {
            counters.droppedMalformed += 1
            return
        }
        // A leader's snapshot is committed state: a rejoining node has caught up to it.
        rejoining = false
        if restore(s) {
            send(to: from, .appendResponse(AppendResponse(index: log.lastIndex)), afterPersist: true)
        } else {
            send(to: from, .appendResponse(AppendResponse(index: log.committed)), afterPersist: true)
        }
    }

    /// Installs `s` unless the log already covers it. Returns whether it was installed.
    mutating func restore(_ s: Snapshot) -> Bool {
        let meta = s.metadata
        if meta.index <= log.committed { return false }
        if log.matchTerm(meta.index, meta.term) {
            // The log already has the snapshot's last entry: just move the commit index.
            log.commit(to: meta.index)
            return false
        }
        log.restore(s)
        membershipBase = meta.membership
        membershipBaseIndex = meta.index
        membershipChanges = []
        adopt(meta.membership)
        return true
    }

    /// Tells the leader how sending a snapshot to `node` went. After a failure the leader
    /// waits for the next heartbeat answer before trying again; after a success it waits for
    /// the follower's acknowledgement.
    public mutating func reportSnapshot(to node: NodeID, succeeded: Bool) {
        guard role == .leader, tracker.progress[node]?.state == .snapshot else { return }
        if !succeeded { tracker.progress[node]!.pendingSnapshot = .zero }
        tracker.progress[node]!.becomeProbe()
        tracker.progress[node]!.probeSent = true
    }

    /// Tells the leader that `node` could not be reached: it stops streaming to it and goes
    /// back to probing.
    public mutating func reportUnreachable(_ node: NodeID) {
        guard role == .leader, tracker.progress[node]?.state == .replicate else { return }
        tracker.progress[node]!.becomeProbe()
    }
}
