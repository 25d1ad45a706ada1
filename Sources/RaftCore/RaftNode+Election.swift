/// Elections: role transitions, campaigning with pre-vote, and answering vote requests
/// (Raft paper §5.2, §5.4.1; thesis §9.6 pre-vote, §6.2 leader stickiness).
extension RaftNode {
    enum CampaignKind {
        /// A pre-vote round: asks without raising the term.
        case preElection
        /// A real election.
        case election
        /// A real election started by TimeoutNow: voters skip leader stickiness.
        case transfer
    }

    /// Starts an election now instead of waiting for the timer. Refused when this node may
    /// not campaign, when it heard from a live leader within the election timeout (that
    /// leader may hold a lease), or within an election timeout of start.
    public mutating func campaign() throws(ProposalError) {
        if role == .leader { return }
        guard isPromotable else {
            throw .cannotCampaign("not a voter, may-not-campaign set, or a snapshot is pending")
        }
        if let contact = lastLeaderContact, now - contact < UInt64(config.electionTicks) {
            throw .cannotCampaign("heard from a leader \(now - contact) ticks ago")
        }
        if now < UInt64(config.electionTicks) {
            throw .cannotCampaign("started \(now) ticks ago; waiting one election timeout")
        }
        campaign(config.preVote ? .preElection : .election)
    }

    mutating func campaign(_ kind: CampaignKind) {
        guard isPromotable else {
            // May-not-campaign was set while a pre-vote was under way: give up the attempt.
            if role == .preCandidate || role == .candidate { becomeFollower(term: term, leader: nil) }
            return
        }
        let voteTerm: Term
        switch kind {
        case .preElection:
            becomePreCandidate()
            voteTerm = term.next
        case .election, .transfer:
            becomeCandidate()
            voteTerm = term
        }
        tracker.votes[id] = true
        if tracker.voteResult() == .won {
            // A single-voter cluster wins at once.
            if kind == .preElection {
                campaign(.election)
            } else {
                becomeLeader()
            }
            return
        }
        let request = VoteRequest(lastLogIndex: log.lastIndex, lastLogTerm: log.lastTerm,
                                  leadershipTransfer: kind == .transfer)
        for voter in tracker.membership.voters.sorted() where voter != id {
            if kind == .preElection {
                send(to: voter, .preVote(request), term: voteTerm, afterPersist: false)
            } else {
                // Our own vote for ourselves must be durable before anyone counts on it.
                send(to: voter, .vote(request), term: voteTerm, afterPersist: true)
            }
        }
    }

    mutating func recordVote(from: NodeID, granted: Bool) {
        if tracker.votes[from] == nil {
            tracker.votes[from] = granted
        }
        switch tracker.voteResult() {
        case .won:
            if role == .preCandidate {
                campaign(.election)
            } else {
                becomeLeader()
            }
        case .lost:
            becomeFollower(term: term, leader: nil)
        case .pending:
            break
        }
    }

    mutating func handleVoteRequest(_ m: Message, _ r: VoteRequest, isPreVote: Bool) {
        // A node that lost its durable state forgot its votes and what it acknowledged:
        // voting before it caught up with a leader could hand a removed node with a stale
        // membership its majority (the simulator found exactly that) or vote twice in a term.
        // It votes again once its log reached a leader's commit index. A new node votes with
        // its empty log, which is accurate (thesis §4.1: its vote may be needed before it has
        // the entry that makes it a voter).
        let canVote = !rejoining && (vote == m.from
            || (vote == nil && leader == nil)
            || (isPreVote && m.term > term))
        if rejoining { counters.votesRefusedWhileRejoining += 1 }
        let upToDate = config.plantedBugs.contains(.voteWithoutLogCheck)
            || log.isUpToDate(lastIndex: r.lastLogIndex, lastTerm: r.lastLogTerm)
        if canVote && upToDate {
            if isPreVote {
                send(to: m.from, .preVoteResponse(VoteResponse(granted: true)), term: m.term, afterPersist: false)
            } else {
                electionElapsed = 0
                vote = m.from
                send(to: m.from, .voteResponse(VoteResponse(granted: true)), afterPersist: true)
            }
        } else {
            if isPreVote {
                send(to: m.from, .preVoteResponse(VoteResponse(granted: false)), afterPersist: false)
            } else {
                send(to: m.from, .voteResponse(VoteResponse(granted: false)), afterPersist: true)
            }
        }
    }

    /// Whether this node refuses vote and pre-vote requests now (leader stickiness): it is the
    /// leader, it heard from a leader less than an election timeout ago, or it started less
    /// than an election timeout ago (it has forgotten whom it heard from). Terms play no part.
    var refusesVotes: Bool {
        let window = UInt64(config.electionTicks)
        if role == .leader { return true }
        if let contact = lastLeaderContact, now - contact < window { return true }
        return now < window
    }

    /// Whether this node would now grant a (pre)vote to an up-to-date candidate of a higher
    /// term outside a leadership transfer, by the rule in force (planted bugs included). The
    /// simulator checks that a lease holder's voters never have a willing quorum.
    package var grantsVotesNow: Bool {
        if config.plantedBugs.contains(.voteIgnoringLease) { return true }
        if config.plantedBugs.contains(.stickinessLostOnHigherTerm) { return !refusesVotesByOldRule }
        return !refusesVotes
    }

    /// The pre-fix stickiness rule, kept as the planted bug `stickiness-lost-on-higher-term`:
    /// judged by `leader`, which any higher-term message clears.
    var refusesVotesByOldRule: Bool {
        (leader != nil && electionElapsed < config.electionTicks) || now < UInt64(config.electionTicks)
    }

    /// Whether to ignore the (pre)vote request `r` for `requestTerm` (at or above ours),
    /// counting the refusal. Leader stickiness: refused while `refusesVotes`, unless the
    /// request comes from a leadership transfer. With `oldRule` (the planted bug
    /// `stickiness-lost-on-higher-term`) it is the pre-fix rule instead: only higher-term
    /// requests are judged, and by `leader`, which any higher-term message clears.
    mutating func refusesVote(_ r: VoteRequest, term requestTerm: Term, oldRule: Bool) -> Bool {
        if r.leadershipTransfer || config.plantedBugs.contains(.voteIgnoringLease) { return false }
        let refuse = oldRule ? requestTerm > term && refusesVotesByOldRule : refusesVotes
        if refuse { counters.votesRefusedInLease += 1 }
        return refuse
    }

    /// Clears the per-term state. Keeps the vote if the term does not change.
    mutating func reset(term newTerm: Term) {
        if newTerm != term {
            term = newTerm
            vote = nil
        }
        leader = nil
        electionElapsed = 0
        heartbeatElapsed = 0
        randomizedElectionTimeout = config.electionTicks + Int(random.next() % UInt64(config.electionTicks))
        transfer = nil
        tracker.votes = [:]
        tracker.resetProgress(next: log.lastIndex + 1)
        if tracker.progress[id] != nil {
            tracker.progress[id]!.match = log.lastStableIndex
            tracker.progress[id]!.recentActive = true
        }
        counters.readsDropped += pendingReadCount
        readsAwaitingCommit = []
        readsForNextRound = []
        pendingRounds = []
        round = 0
        leaseExpiry = 0
        leaseRound = 0
        leaseRevoked = false
    }

    mutating func becomeFollower(term newTerm: Term, leader newLeader: NodeID?) {
        reset(term: newTerm)
        role = .follower
        leader = newLeader
    }

    mutating func becomePreCandidate() {
        // The term does not change and the vote is kept; only the tally starts afresh.
        tracker.votes = [:]
        leader = nil
        role = .preCandidate
    }

    mutating func becomeCandidate() {
        reset(term: term.next)
        vote = id
        role = .candidate
    }

    mutating func becomeLeader() {
        reset(term: term)
        role = .leader
        leader = id
        if tracker.progress[id] != nil {
            tracker.progress[id]!.becomeReplicate()
            tracker.progress[id]!.match = log.lastStableIndex
        }
        // An empty entry of the new term: committing it commits everything before it
        // (§5.4.2) and tells the leader its commit index is current (§8).
        appendAsLeader([.normal([])])
        lastLeaderContact = now
        bcastAppend()
    }
}
