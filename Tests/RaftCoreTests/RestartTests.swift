import Testing
@testable import RaftCore

/// Restarting a node from its storage (`RaftNode.init(config:storage:)`), the start-up window
/// in which it neither votes nor campaigns, and the may-not-campaign flag.
@Suite struct RestartTests {
    private static func isCannotCampaign(_ e: ProposalError?) -> Bool {
        if case .cannotCampaign? = e { return true }
        return false
    }

    private static func voteRequest(_ preVote: Bool, from: UInt64, to: UInt64, term: Term, node: RaftNode) -> Message {
        let r = VoteRequest(lastLogIndex: node.lastIndex, lastLogTerm: node.lastTerm)
        return Message(from: NodeID(from), to: NodeID(to), term: term, body: preVote ? .preVote(r) : .vote(r))
    }

    /// The grants and refusals `from` sent since `mark`, as (kind, granted).
    private static func answers(_ c: TestCluster, since mark: Int, from: UInt64) -> [(String, Bool)] {
        c.sent[mark...].compactMap { m in
            guard m.from == NodeID(from) else { return nil }
            switch m.body {
            case .preVoteResponse(let r): return ("preVoteResponse", r.granted)
            case .voteResponse(let r): return ("voteResponse", r.granted)
            default: return nil
            }
        }
    }

    // MARK: What is restored

    @Test func restoresTermVoteCommitLogAndMembership() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "a")
        c.stabilize()
        try c[1].proposeConfigChange(.addLearner(4))
        c.stabilize()
        try c.propose(1, "b")
        c.stabilize()
        let snapIndex = c[2].appliedIndex
        let withLearner = Membership(voters: [1, 2, 3], learners: [4])
        #expect(c[2].membership(atIndex: snapIndex) == withLearner)
        try c.storages[2]!.createSnapshot(at: snapIndex, membership: c[2].membership(atIndex: snapIndex)!, data: [1])
        try c[1].proposeConfigChange(.addVoter(4))
        let promoteIndex = c[1].lastIndex
        c.stabilize()
        try c.propose(1, "c")
        c.stabilize()
        let four = Membership(voters: [1, 2, 3, 4])

        let before = c[2]
        #expect(before.membership == four)
        c.restart(2)
        let after = c[2]
        #expect(after.currentTerm == before.currentTerm)
        #expect(after.hardState == before.hardState)
        #expect(after.hardState.vote == 1)
        #expect(after.commitIndex == before.commitIndex)
        #expect(after.lastIndex == before.lastIndex)
        #expect(after.lastTerm == before.lastTerm)
        for i in snapIndex.rawValue...before.lastIndex.rawValue {
            #expect(after.term(at: LogIndex(i)) == before.term(at: LogIndex(i)), "term at \(i)")
        }
        #expect(after.term(at: snapIndex - 1) == nil)
        // Membership: the snapshot's, then the change in the log after it.
        #expect(after.membership == four)
        #expect(after.membership(atIndex: snapIndex) == withLearner)
        #expect(after.membership(atIndex: promoteIndex - 1) == withLearner)
        #expect(after.membership(atIndex: promoteIndex) == four)
        #expect(after.membership(atIndex: snapIndex - 1) == nil)
        #expect(after.tracker.membership == four)
        // Volatile state starts afresh.
        #expect(after.currentRole == .follower)
        #expect(after.currentLeader == nil)
        #expect(after.appliedIndex == snapIndex)
        #expect(after.localTick == 0)

        // The committed entries after the snapshot are handed out again for applying.
        c.flushReady(2)
        #expect(c.applied[2]!.map(\.index.rawValue) == Array((snapIndex.rawValue + 1)...before.commitIndex.rawValue))
        #expect(c.appliedStrings(2) == ["c"])

        // And it rejoins: the next entry reaches it and commits.
        try c.propose(1, "d")
        c.tickAll(times: 2)
        #expect(c.appliedStrings(2) == ["c", "d"])
        #expect(c[2].membership == four)
    }

    @Test func restoresMembershipChangesFromALogWithoutSnapshot() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c[1].proposeConfigChange(.remove(3))
        c.stabilize()
        try c[1].proposeConfigChange(.addLearner(5))
        c.stabilize()
        let expected = Membership(voters: [1, 2], learners: [5])
        #expect(c[2].membership == expected)
        c.restart(2)
        #expect(c[2].membership == expected)
        #expect(c[2].membership(atIndex: .zero) == Membership(voters: [1, 2, 3]))
        #expect(c[2].membershipChanges.count == 2)
        c.restart(1)
        #expect(c[1].membership == expected)
    }

    // MARK: The start-up window

    @Test func restartedNodeRefusesVotesForAnElectionTimeout() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "a")
        c.stabilize()
        let electionTicks = c[2].config.electionTicks
        c.restart(2)
        let term = c[2].currentTerm
        let vote = c[2].hardState.vote
        #expect(vote == 1)
        #expect(c[2].counters.votesRefusedInLease == 0)

        var mark = c.sent.count
        c[2].step(Self.voteRequest(true, from: 3, to: 2, term: term.next, node: c[2]))
        c[2].step(Self.voteRequest(false, from: 3, to: 2, term: term.next, node: c[2]))
        c.flushReady(2)
        #expect(c[2].counters.votesRefusedInLease == 2)
        #expect(Self.answers(c, since: mark, from: 2).isEmpty)
        #expect(c[2].currentTerm == term)
        #expect(c[2].hardState.vote == vote)

        // Still refusing one tick before the window ends.
        c.tick(2, times: electionTicks - 1)
        mark = c.sent.count
        c[2].step(Self.voteRequest(true, from: 3, to: 2, term: term.next, node: c[2]))
        c.flushReady(2)
        #expect(c[2].counters.votesRefusedInLease == 3)
        #expect(Self.answers(c, since: mark, from: 2).isEmpty)

        // After an election timeout it answers, and grants an up-to-date candidate.
        c.tick(2)
        mark = c.sent.count
        c[2].step(Self.voteRequest(true, from: 3, to: 2, term: term.next, node: c[2]))
        c.flushReady(2)
        #expect(Self.answers(c, since: mark, from: 2).map(\.0) == ["preVoteResponse"])
        #expect(Self.answers(c, since: mark, from: 2).map(\.1) == [true])
        mark = c.sent.count
        c[2].step(Self.voteRequest(false, from: 3, to: 2, term: term.next, node: c[2]))
        c.flushReady(2)
        #expect(Self.answers(c, since: mark, from: 2).map(\.0) == ["voteResponse"])
        #expect(Self.answers(c, since: mark, from: 2).map(\.1) == [true])
        #expect(c[2].currentTerm == term.next)
        #expect(c[2].hardState.vote == 3)
        #expect(c[2].counters.votesRefusedInLease == 3)
    }

    @Test func restartedNodeCannotCampaignForAnElectionTimeout() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.restart(2)
        c.isolate(2)
        let err = refusal { try c[2].campaign() }
        #expect(Self.isCannotCampaign(err), "got \(String(describing: err))")
        #expect(c[2].currentRole == .follower)

        c.tick(2, times: c[2].config.electionTicks - 1)
        #expect(c[2].currentRole == .follower)
        #expect(Self.isCannotCampaign(refusal { try c[2].campaign() }))

        c.tick(2)
        #expect(refusal { try c[2].campaign() } == nil)
        #expect(c[2].currentRole == .preCandidate)
    }

    @Test func restartedNodeDoesNotCampaignOnItsOwnDuringTheWindow() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.restart(2)
        c.isolate(2)
        // Even if its randomized timeout is short, the start-up window holds it back.
        c[2].randomizedElectionTimeout = 1
        let mark = c.sent.count
        c.tick(2, times: c[2].config.electionTicks - 1)
        #expect(c.sent[mark...].filter { $0.from == 2 }.isEmpty)
        c.tick(2)
        #expect(!c.sentSince(mark, kind: "preVote").filter { $0.from == 2 }.isEmpty)
    }

    @Test func commitIndexPastTheLastEntryIsClamped() throws {
        let three = Membership(voters: [1, 2, 3])
        let s = storageWithLog(terms: [1, 1, 2], membership: three)
        s.setHardState(HardState(term: 2, vote: 1, commit: 10))
        var node = try RaftNode(config: RaftConfig(id: 2), storage: s)
        #expect(node.commitIndex == 3)
        #expect(node.lastIndex == 3)
        #expect(node.hardState.commit == 3)
        #expect(node.currentTerm == 2)
        #expect(node.hardState.vote == 1)
        let rd = node.ready()
        #expect(rd.committedEntries.map(\.index) == [1, 2, 3])
        node.advance(rd)
        #expect(node.appliedIndex == 3)

        // The same after a snapshot: clamped to the last entry after it.
        let t = MemoryStorage(membership: three)
        t.applySnapshot(Snapshot(metadata: SnapshotMetadata(index: 5, term: 2, membership: three), data: []))
        t.append([Entry(term: 2, index: 6, data: [6]), Entry(term: 3, index: 7, data: [7])])
        t.setHardState(HardState(term: 3, vote: nil, commit: 20))
        let other = try RaftNode(config: RaftConfig(id: 3), storage: t)
        #expect(other.commitIndex == 7)
        #expect(other.appliedIndex == 5)
        #expect(other.lastIndex == 7)

        // And an empty log with a stray commit index starts at zero.
        let e = MemoryStorage(membership: three)
        e.setHardState(HardState(term: 4, vote: nil, commit: 3))
        let empty = try RaftNode(config: RaftConfig(id: 1), storage: e)
        #expect(empty.commitIndex == .zero)
        #expect(empty.currentTerm == 4)
    }

    @Test func restartedLeaderIsAFollowerWithoutLease() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "a")
        c.stabilize()
        c.tickAll(times: 2)
        #expect(c[1].leaderLease != nil)
        let term = c[1].currentTerm

        c.restart(1)
        #expect(c[1].currentRole == .follower)
        #expect(c[1].currentLeader == nil)
        #expect(c[1].leaderLease == nil)
        #expect(c[1].status.lease == nil)
        #expect(c[1].status.followers.isEmpty)
        #expect(c[1].currentTerm == term)
        #expect(c[1].hardState.vote == 1)
        #expect(refusal { try c.propose(1, "x") } == .notLeader(leader: nil))
        #expect(refusal { try c[1].readIndex(requestID: 1) } == .notLeader(leader: nil))
        #expect(refusal { try c[1].transferLeadership(to: 2) } == .notLeader(leader: nil))
        // It sends no heartbeats or appends as a leader would.
        let mark = c.sent.count
        c.tick(1, times: 3)
        #expect(c.sent[mark...].filter { $0.from == 1 && ["heartbeat", "append"].contains($0.body.kind) }.isEmpty)
        // The followers' leader is still there for them, and it hears from them nothing that
        // makes it leader again.
        c.stabilize()
        #expect(c[1].currentRole == .follower)
    }

    // MARK: May-not-campaign

    @Test func nodesThatMayNotCampaignNeverDoButStillVote() throws {
        var c = TestCluster([1, 2, 3])
        c[1].setMayCampaign(false)
        c[2].setMayCampaign(false)
        c.down.insert(3)
        c.tickAll(times: 100)  // ten election timeouts and more
        #expect(c.sent.filter { ["preVote", "vote"].contains($0.body.kind) }.isEmpty)
        #expect(c[1].currentRole == .follower)
        #expect(c[2].currentRole == .follower)
        #expect(c[1].currentTerm == .zero)
        #expect(!c[1].isPromotable)
        #expect(Self.isCannotCampaign(refusal { try c[1].campaign() }))

        // 3 comes up and can only win with their votes.
        c.down.remove(3)
        let mark = c.sent.count
        c.tickAll(times: 40)
        #expect(c.leader == 3)
        let requests = c.sent[mark...].filter { ["preVote", "vote"].contains($0.body.kind) }
        #expect(!requests.isEmpty)
        #expect(requests.allSatisfy { $0.from == 3 })
        let grants = c.sent[mark...].filter { m in
            if case .voteResponse(let r) = m.body { return r.granted && m.to == 3 }
            return false
        }
        #expect(!grants.isEmpty)
        #expect(c[1].currentLeader == 3)
        #expect(c[2].currentLeader == 3)
    }

    @Test func mayCampaignFalseInConfigHoldsFromStart() throws {
        var c = TestCluster([1, 2, 3]) { cfg in
            if cfg.id != 3 { cfg.mayCampaign = false }
        }
        #expect(!c[1].isPromotable)
        #expect(!c[2].isPromotable)
        #expect(c[3].isPromotable)
        c.down.insert(3)
        c.tickAll(times: 100)
        #expect(c.sent.filter { ["preVote", "vote"].contains($0.body.kind) }.isEmpty)
        #expect(c[1].currentTerm == .zero)
        #expect(c[2].currentTerm == .zero)

        c.down.remove(3)
        c.tickAll(times: 40)
        #expect(c.leader == 3)
        try c.propose(3, "x")
        c.stabilize()
        #expect(c.appliedStrings(1) == ["x"])
        #expect(c.appliedStrings(2) == ["x"])
        // Across a restart the flag comes from the config again.
        c.restart(1)
        #expect(!c[1].isPromotable)
    }

    @Test func reenablingLetsANodeCampaign() throws {
        var c = TestCluster([1, 2, 3])
        c[1].setMayCampaign(false)
        c[2].setMayCampaign(false)
        c.down.insert(3)
        c.tickAll(times: 60)
        #expect(c.leader == nil)
        #expect(c.sent.isEmpty)

        c[1].setMayCampaign(true)
        #expect(c[1].isPromotable)
        let mark = c.sent.count
        c.tickAll(times: 40)
        #expect(c.sentSince(mark, kind: "preVote").contains { $0.from == 1 })
        #expect(c.leader == 1)
        #expect(c[2].currentLeader == 1)
    }

    @Test func leaderThatMayNoLongerCampaignStaysLeader() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c[1].setMayCampaign(false)
        c.tickAll(times: 30)
        #expect(c[1].currentRole == .leader)
        try c.propose(1, "x")
        c.stabilize()
        #expect(c.appliedStrings(2) == ["x"])
    }
}
