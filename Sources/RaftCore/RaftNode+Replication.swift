/// Log replication: proposals, AppendEntries on both sides, flow control and commit
/// (Raft paper §5.3, §5.4.2; thesis §10.2 for pipelining and batching).
extension RaftNode {
    /// Appends `data` as one entry to the leader's log and starts replicating it. The entry
    /// is committed once a majority stores it; it reaches the application through
    /// `Ready.committedEntries`. Throws on a follower, during a transfer, or when too much is
    /// uncommitted.
    public mutating func propose(_ data: [UInt8]) throws(ProposalError) {
        try propose(batch: [data])
    }

    /// Appends several entries at once: they travel in the same append messages, which is
    /// how a busy leader batches.
    public mutating func propose(batch: [[UInt8]]) throws(ProposalError) {
        try checkCanPropose(count: batch.count)
        appendAsLeader(batch.map { .normal($0) })
        bcastAppend()
    }

    func checkCanPropose(count: Int) throws(ProposalError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard transfer == nil else { throw .transferInProgress }
        let uncommitted = log.lastIndex.rawValue - log.committed.rawValue
        guard uncommitted + UInt64(count) <= UInt64(config.maxUncommittedEntries) else { throw .overloaded }
    }

    /// Appends entries of the current term to the leader's log. The leader counts itself
    /// towards commit only once they are persisted (in `advance`). Returns the last index.
    @discardableResult
    mutating func appendAsLeader(_ payloads: [Entry.Payload]) -> LogIndex {
        var index = log.lastIndex
        var entries: [Entry] = []
        entries.reserveCapacity(payloads.count)
        for p in payloads {
            index = index + 1
            entries.append(Entry(term: term, index: index, payload: p))
        }
        log.append(entries[...])
        recordMembershipChanges(in: entries[...])
        return index
    }

    /// Sends `to` the entries it is missing, as far as flow control allows. Returns whether a
    /// message was sent. Falls back to a snapshot when the entries are compacted.
    @discardableResult
    mutating func sendAppend(to: NodeID, sendIfEmpty: Bool = true) -> Bool {
        guard to != id, let pr = tracker.progress[to], !pr.isPaused else { return false }
        let prevIndex = pr.next - 1
        guard let prevTerm = log.term(of: prevIndex) else {
            return sendSnapshot(to: to)
        }
        let entries: [Entry]
        do {
            entries = try log.entries(from: pr.next, to: log.lastIndex + 1, maxBytes: config.maxBytesPerMessage)
        } catch .compacted {
            return sendSnapshot(to: to)
        } catch {
            return false
        }
        if entries.isEmpty && !sendIfEmpty { return false }
        let bytes = entries.reduce(0) { $0 + $1.byteSize }
        tracker.progress[to]!.sentEntries(last: entries.last?.index, bytes: bytes)
        tracker.progress[to]!.sentCommit = max(tracker.progress[to]!.sentCommit, log.committed)
        send(to: to, .append(AppendRequest(prevLogIndex: prevIndex, prevLogTerm: prevTerm,
                                           entries: entries, commit: log.committed)), afterPersist: false)
        return true
    }

    /// Sends appends (possibly empty, to carry the commit index) to every other member.
    mutating func bcastAppend() {
        for member in tracker.sortedMembers where member != id {
            sendAppend(to: member)
        }
    }

    /// Follower side of AppendEntries.
    mutating func handleAppend(from: NodeID, term msgTerm: Term, _ a: AppendRequest) {
        // Validate the shape before touching the log.
        var expected = a.prevLogIndex
        var lastTerm = a.prevLogTerm
        for e in a.entries {
            guard expected.rawValue < UInt64.max, e.index == expected + 1, e.term >= lastTerm, e.term <= msgTerm else {
                counters.droppedMalformed += 1
                return
            }
            expected = e.index
            lastTerm = e.term
        }
        if a.prevLogIndex < log.committed {
            send(to: from, .appendResponse(AppendResponse(index: log.committed)), afterPersist: true)
            return
        }
        guard log.matchTerm(a.prevLogIndex, a.prevLogTerm) else {
            let hintStart = min(a.prevLogIndex, log.lastIndex)
            let (hintIndex, hintTerm) = log.lastEntry(atOrBelow: hintStart, withTermAtMost: a.prevLogTerm)
            send(to: from, .appendResponse(AppendResponse(index: a.prevLogIndex, rejected: true,
                                                          hintIndex: hintIndex, hintTerm: hintTerm)),
                 afterPersist: true)
            return
        }
        let lastNew = a.prevLogIndex + UInt64(a.entries.count)
        if let conflict = log.firstConflict(in: a.entries[...]) {
            if conflict <= log.committed {
                // Rewriting a committed entry: only a broken or hostile peer asks for this.
                counters.droppedMalformed += 1
                return
            }
            let offset = Int(conflict.rawValue - a.prevLogIndex.rawValue - 1)
            var toAppend = a.entries[offset...]
            if config.plantedBugs.contains(.appendWithoutTruncate) && conflict <= log.lastIndex {
                // Planted bug: keep the conflicting suffix and only add what lies beyond it.
                let last = log.lastIndex
                toAppend = toAppend.drop(while: { $0.index <= last })
            }
            if let first = toAppend.first {
                truncateMembershipChanges(from: first.index)
                log.append(toAppend)
                recordMembershipChanges(in: toAppend)
            }
        }
        log.commit(to: min(a.commit, lastNew))
        if rejoining && a.commit > .zero && log.committed >= a.commit { rejoining = false }
        send(to: from, .appendResponse(AppendResponse(index: lastNew)), afterPersist: true)
    }

    /// Leader side: a follower's answer to AppendEntries.
    mutating func handleAppendResponse(from: NodeID, _ r: AppendResponse) {
        tracker.progress[from]!.recentActive = true
        if r.rejected {
            var hint = r.hintIndex
            if r.hintTerm > .zero {
                hint = log.lastEntry(atOrBelow: r.hintIndex, withTermAtMost: r.hintTerm).0
            }
            let pr = tracker.progress[from]!
            if r.index <= pr.match && hint < pr.match && !config.plantedBugs.contains(.regressedFollowerIgnored)
                && (pr.regressedAt.map { now >= $0 + UInt64(config.electionTicks) } ?? true) {
                // The follower says its log ends below what it acknowledged: it lost entries
                // (an emptied data directory, a restored backup, a cut record), or this is a
                // stale answer. Either way probing from the hint is safe (match only guides
                // what to send; commit never moves back) and repairs a regressed follower. At
                // most once per election timeout, so stale or contradictory answers cannot
                // make the two ping-pong.
                counters.followerLogRegressions += 1
                tracker.progress[from]!.regress(to: hint, at: now)
                sendAppend(to: from)
                return
            }
            if tracker.progress[from]!.maybeDecrease(rejected: r.index, hint: hint) {
                if tracker.progress[from]!.state == .replicate {
                    tracker.progress[from]!.becomeProbe()
                }
                sendAppend(to: from)
            } else {
                counters.droppedStale += 1
            }
            return
        }
        guard r.index <= log.lastIndex else {
            counters.droppedMalformed += 1
            return
        }
        if tracker.progress[from]!.maybeUpdate(r.index) {
            switch tracker.progress[from]!.state {
            case .probe:
                tracker.progress[from]!.becomeReplicate()
            case .snapshot:
                if tracker.progress[from]!.match + 1 >= log.firstIndex {
                    tracker.progress[from]!.becomeProbe()
                    tracker.progress[from]!.becomeReplicate()
                }
            case .replicate:
                tracker.progress[from]!.inflights.freeUpTo(r.index)
            }
            if !maybeCommit() {
                // The follower may have missed a commit that happened while it was paused:
                // tell it now rather than at the next heartbeat.
                if tracker.progress[from]!.sentCommit < log.committed {
                    sendAppend(to: from)
                }
                while sendAppend(to: from, sendIfEmpty: false) {}
            }
            if role == .leader, let t = transfer, t.target == from, !t.timeoutNowSent,
               tracker.progress[from]!.match == log.lastIndex {
                sendTimeoutNow()
            }
        }
    }

    /// Commits the highest index stored on a majority, if it is from the current term
    /// (§5.4.2: older entries are committed only indirectly). Tells followers at once.
    /// Returns whether the commit index moved.
    @discardableResult
    mutating func maybeCommit() -> Bool {
        let candidate = tracker.committedIndex()
        guard candidate > log.committed else { return false }
        guard config.plantedBugs.contains(.commitOldTermByCounting) || log.term(of: candidate) == term else {
            return false
        }
        log.commit(to: candidate)
        bcastAppend()
        releaseReadsAwaitingCommit()
        // A leader that removed itself steps down once the removal is committed (thesis §4.2.2).
        if !tracker.membership.voters.contains(id), (membershipChanges.last?.index ?? .zero) <= log.committed {
            becomeFollower(term: term, leader: nil)
        }
        return true
    }
}
