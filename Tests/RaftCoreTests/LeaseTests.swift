import Testing
@testable import RaftCore

/// The leader lease and the leader stickiness it rests on (see `LeaderLease`).
@Suite struct LeaseTests {
    /// Node 1 leads with a lease that node 2 helped renew; node 3 is cut off from node 1 and
    /// its clock is past an election timeout since it last heard from it.
    func clusterWithLeaseOnNode1(plant: PlantedBugs = []) throws -> TestCluster {
        var c = TestCluster([1, 2, 3]) { $0.plantedBugs = plant }
        c.elect(1)
        c.tickAll(times: 2)
        #expect(c[1].leaderLease != nil)
        c.cut(1, 3)
        c[3].now += UInt64(c[3].config.electionTicks) * 2
        return c
    }

    /// The interleaving the review found (issue 7, point 1): a delayed *rejected* pre-vote
    /// response of a higher term reaches follower 2, which has acknowledged leader 1's round;
    /// then node 3 campaigns. Node 2 must refuse it while node 1's lease runs.
    @Test(arguments: [false, true])
    func lateRejectedPreVoteResponseDoesNotReleaseTheFollowersPromise(planted: Bool) throws {
        var c = try clusterWithLeaseOnNode1(plant: planted ? [.stickinessLostOnHigherTerm] : [])
        let term = c[1].currentTerm
        c[2].step(Message(from: 3, to: 2, term: term.next, body: .preVoteResponse(VoteResponse(granted: false))))
        c.tick(2)
        try c[3].campaign()
        c.stabilize()
        c.tick(3)
        c.stabilize()
        let lease1 = c[1].leaderLease
        if planted {
            // The bug: node 2 adopted the higher term with no leader and voted for node 3,
            // which now holds a lease while node 1's has not run out.
            #expect(c[3].currentRole == .leader)
            #expect(lease1 != nil && c[3].leaderLease != nil, "two leases at once")
        } else {
            #expect(c[2].currentTerm == term, "a rejected response to a pre-vote node 2 no longer runs changes nothing")
            #expect(c[3].currentRole != .leader)
            #expect(lease1 != nil)
            #expect(c[2].counters.votesRefusedInLease >= 1)
        }
    }

    /// Even when a higher-term message legitimately moves the follower to a new term with no
    /// leader, its promise stands: votes are refused by the time of the last contact.
    @Test func higherTermWithoutLeaderKeepsRefusingVotesUntilTheContactIsOld() throws {
        var c = try clusterWithLeaseOnNode1()
        let term = c[1].currentTerm
        c[2].step(Message(from: 3, to: 2, term: term.next, body: .voteResponse(VoteResponse(granted: false))))
        #expect(c[2].currentTerm == term.next && c[2].currentLeader == nil)
        try c[3].campaign()
        c.stabilize()
        #expect(c[3].currentRole != .leader)
        #expect(c[1].leaderLease != nil)
        // Once an election timeout has passed since node 2 last heard from node 1 (cut off
        // now too), node 3 can win.
        c.cut(1, 2)
        c[2].now += UInt64(c[2].config.electionTicks)
        try c[3].campaign()
        c.stabilize()
        #expect(c[3].currentRole == .leader)
    }

    /// The refusal window always outlasts the lease it backs: a follower refuses for
    /// `electionTicks` after the round, the lease lasts `leaseTicks` < `electionTicks` from
    /// the round's send tick.
    @Test func leaseLapsesBeforeAnyFollowerWouldVote() {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.tickAll(times: 1)
        let lease = c[1].leaderLease!
        c.isolate(1)
        var ticks = 0
        while c[1].leaderLease != nil {
            c.tickAll()
            ticks += 1
        }
        #expect(ticks <= c[1].config.leaseTicks)
        #expect(c[2].refusesVotes && c[3].refusesVotes,
                "the followers still refuse votes the moment node 1's lease lapsed")
        #expect(lease.term == c[1].currentTerm)
    }

    /// A restarted node refuses votes for an election timeout, whatever the terms.
    @Test func restartedNodeRefusesVotesOfEveryTerm() {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.restart(2)
        let t = c[1].currentTerm
        for term in [t, t.next, t.next.next] {
            c[2].step(Message(from: 3, to: 2, term: term,
                              body: .vote(VoteRequest(lastLogIndex: c[1].lastIndex, lastLogTerm: t))))
        }
        #expect(c[2].counters.votesRefusedInLease == 3)
        #expect(c[2].hardState.vote == nil || c[2].hardState.vote == 1)
    }

    /// The leader's own heartbeats are not delayed by a `Ready` under way (asynchronous
    /// persistence): `takeMessagesToSendNow` hands them over.
    @Test func heartbeatsCanGoOutWhileAReadyIsOutstanding() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "slow disk")
        let rd = c[1].ready()  // the write is "under way"
        c[1].tick()
        let now = c[1].takeMessagesToSendNow()
        #expect(now.contains { $0.body.kind == "heartbeat" })
        #expect(!now.contains { $0.body.kind == "appendResponse" })
        c.storages[1]!.append(rd.entries)
        c[1].advance(rd)
    }

    /// Nothing goes out early while a new term or vote is not yet durable.
    @Test func nothingGoesEarlyWhileATermChangeIsUnpersisted() throws {
        var c = TestCluster([1], learners: [2])
        c.warmUp()
        try c[1].campaign()
        #expect(c[1].currentRole == .leader)
        let rd = c[1].ready()
        #expect(rd.hardState?.term == c[1].currentTerm)
        #expect(rd.messages.isEmpty, "a single voter that won at once sends its appends only after HardState is durable")
        #expect(rd.messagesAfterPersist.contains { $0.body.kind == "append" && $0.to == 2 })
        c[1].tick()
        #expect(c[1].takeMessagesToSendNow().isEmpty)
        c.storages[1]!.setHardState(rd.hardState!)
        c.storages[1]!.append(rd.entries)
        c[1].advance(rd)
    }

    /// Reads that arrive together share one heartbeat round.
    @Test func readsArrivingTogetherShareOneRound() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.stabilize()
        let mark = c.sent.count
        for id in 1...10 { try c[1].readIndex(requestID: UInt64(id)) }
        c.stabilize()
        #expect(c.sentSince(mark, kind: "heartbeat").count == 2)
        #expect(Set(c.reads[1, default: []].map(\.requestID)) == Set(1...10))
    }
}
