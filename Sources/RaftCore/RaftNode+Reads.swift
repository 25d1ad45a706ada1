/// Heartbeat rounds, ReadIndex reads and the leader lease (thesis §6.4).
///
/// Every heartbeat the leader sends belongs to a numbered round. When a quorum of voters
/// has echoed round `r` (or a later one), the leader knows it was still leader when `r` was
/// sent. That fact serves two purposes: reads queued on `r` are answered at the commit index
/// they recorded, and the lease is extended to `sentAt(r) + leaseTicks`.
extension RaftNode {
    /// Requests a linearizable read confirmed by a quorum round. When the quorum answers,
    /// `Ready.readStates` carries `requestID` with the index the application must have
    /// applied before reading. Throws on a follower. If leadership is lost first, the request
    /// is dropped (counted in `counters.readsDropped`): the caller should time out and retry.
    public mutating func readIndex(requestID: UInt64) throws(ProposalError) {
        try requestRead(requestID: requestID, allowLease: false)
    }

    /// Requests a linearizable read served from the leader lease when it is valid (no
    /// network round), and through a quorum round otherwise. Relies on bounded clock drift
    /// (see `LeaderLease`).
    public mutating func leaseRead(requestID: UInt64) throws(ProposalError) {
        try requestRead(requestID: requestID, allowLease: true)
    }

    /// Whether an entry of the current term is committed: on a leader, only then does its
    /// commit index (and so its applied state, once applied up to it) include everything any
    /// earlier leader committed. A new leader's state machine may be stale until then; reads
    /// (`leaseRead`, `readIndex`) wait for it.
    public var committedInCurrentTerm: Bool { log.term(of: log.committed) == term }

    var pendingReadCount: Int {
        readsAwaitingCommit.count + readsForNextRound.count + pendingRounds.reduce(0) { $0 + $1.reads.count }
    }

    mutating func requestRead(requestID: UInt64, allowLease: Bool) throws(ProposalError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard pendingReadCount < config.maxPendingReads else { throw .overloaded }
        if config.plantedBugs.contains(.readWithoutQuorumCheck) {
            readStates.append(ReadState(index: log.committed, requestID: requestID))
            return
        }
        if !committedInCurrentTerm {
            // Until its first entry commits the leader does not know the commit index.
            readsAwaitingCommit.append((requestID, allowLease))
            return
        }
        serveRead(requestID: requestID, allowLease: allowLease)
    }

    mutating func serveRead(requestID: UInt64, allowLease: Bool) {
        let read = ReadState(index: log.committed, requestID: requestID)
        if allowLease && leaderLease != nil {
            readStates.append(read)
            return
        }
        // Confirmed by the next round sent: at the next `ready()` (one round however many
        // reads arrived since) or the next heartbeat, whichever comes first. A round sent
        // before the read arrived would not do: it proves leadership at the wrong instant.
        readsForNextRound.append(read)
    }

    /// Sends one round for every read waiting for one, if any.
    mutating func flushReadsForNextRound() {
        guard !readsForNextRound.isEmpty, role == .leader else { return }
        startRound(reads: [])
    }

    mutating func releaseReadsAwaitingCommit() {
        guard !readsAwaitingCommit.isEmpty, committedInCurrentTerm else { return }
        let waiting = readsAwaitingCommit
        readsAwaitingCommit = []
        for r in waiting {
            serveRead(requestID: r.requestID, allowLease: r.allowLease)
        }
    }

    /// Sends a new heartbeat round to every member, with `reads` and every read waiting for
    /// a round riding on it.
    mutating func startRound(reads: [ReadState]) {
        round += 1
        pendingRounds.append(PendingRound(round: round, sentAt: now, reads: readsForNextRound + reads))
        readsForNextRound = []
        for member in tracker.sortedMembers where member != id {
            guard let match = tracker.progress[member]?.match else { continue }
            let commit = min(match, log.committed)
            tracker.progress[member]!.sentCommit = max(tracker.progress[member]!.sentCommit, commit)
            send(to: member, .heartbeat(Heartbeat(commit: commit, round: round)), afterPersist: false)
        }
        processRounds()
    }

    /// Completes every round a quorum has echoed.
    mutating func processRounds() {
        let acked = Quorum.committedValue(voters: tracker.membership.voters) {
            $0 == id ? round : (tracker.progress[$0]?.ackedRound ?? 0)
        }
        var done = 0
        for r in pendingRounds {
            guard r.round <= acked else { break }
            if !leaseRevoked && r.sentAt + UInt64(config.leaseTicks) > leaseExpiry {
                leaseExpiry = r.sentAt + UInt64(config.leaseTicks)
                leaseRound = r.round
            }
            readStates.append(contentsOf: r.reads)
            done += 1
        }
        if done > 0 { pendingRounds.removeFirst(done) }
    }

    /// The voters (besides this leader) that echoed the round the current lease runs from:
    /// each of them promised to refuse votes until an election timeout after receiving it.
    /// For the simulator's check that the lease never outlives those promises.
    package var leaseGrantors: [NodeID] {
        guard leaderLease != nil else { return [] }
        return tracker.membership.voters.sorted().filter { v in
            v != id && (tracker.progress[v]?.ackedRound ?? 0) >= leaseRound
        }
    }

    /// Follower side of a heartbeat.
    mutating func handleHeartbeat(from: NodeID, _ h: Heartbeat) {
        if h.commit > log.lastIndex {
            // The leader only sends a commit index this node had acknowledged: the log went
            // backwards (an emptied data directory, a restored backup). Say where it ends, as
            // a rejection, so the leader probes it again even if no write comes.
            send(to: from, .appendResponse(AppendResponse(index: h.commit, rejected: true,
                                                          hintIndex: log.lastIndex, hintTerm: log.lastTerm)),
                 afterPersist: true)
        }
        log.commit(to: min(h.commit, log.lastIndex))
        // No log promise rides on it (a new term, if any, waits: see `ready()`), so it may go early.
        send(to: from, .heartbeatResponse(HeartbeatResponse(round: h.round)), afterPersist: false)
    }

    /// Leader side: a member echoed a heartbeat round.
    mutating func handleHeartbeatResponse(from: NodeID, _ r: HeartbeatResponse) {
        tracker.progress[from]!.recentActive = true
        tracker.progress[from]!.probeSent = false
        let pr = tracker.progress[from]!
        if pr.state == .snapshot && now >= pr.snapshotSentAt + UInt64(config.electionTicks) {
            // The snapshot was probably lost; try again.
            tracker.progress[from]!.becomeProbe()
        }
        if pr.state == .replicate && pr.inflights.isFull && !config.plantedBugs.contains(.inflightWindowNeverDrains) {
            // The follower is alive yet a whole window is unacknowledged: those appends were
            // probably lost. Free a slot so something is sent again.
            tracker.progress[from]!.inflights.freeFirstOne()
        }
        if tracker.progress[from]!.match < log.lastIndex {
            sendAppend(to: from)
        }
        if r.round > pr.ackedRound && r.round <= round {
            tracker.progress[from]!.ackedRound = r.round
            processRounds()
        }
    }
}
