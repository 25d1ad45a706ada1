import Testing
@testable import RaftCore

@Suite struct ElectionTests {
    @Test func singleNodeElectsItselfAndCommitsOnlyAfterPersisting() throws {
        var c = TestCluster([1])
        c.elect(1)
        #expect(c[1].currentRole == .leader)
        try c.propose(1, "x")
        // The leader's own copy counts only once persisted (advance), so nothing is
        // committed between propose and the next Ready.
        let commitBefore = c[1].commitIndex
        #expect(commitBefore < c[1].lastIndex)
        c.stabilize()
        #expect(c.appliedStrings(1) == ["x"])
    }

    @Test func threeNodesElectExactlyOneLeaderInTermOne() {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        #expect(c.leader == 1)
        for id in c.ids {
            #expect(c.nodes[id]!.currentTerm == 1, "pre-vote must not raise the term before the real election")
            #expect(c.nodes[id]!.currentLeader == 1)
        }
        #expect(c.ids.filter { c.nodes[$0]!.currentRole == .leader }.count == 1)
    }

    @Test func randomizedTimeoutsElectALeaderWithoutHelp() {
        var c = TestCluster([1, 2, 3, 4, 5])
        var ticks = 0
        while c.leader == nil && ticks < 200 {
            c.tickAll()
            ticks += 1
        }
        #expect(c.leader != nil)
        let leaders = c.ids.filter { c.nodes[$0]!.currentRole == .leader }
        #expect(leaders.count == 1)
    }

    @Test func partitionedNodeDoesNotRaiseItsTermWithPreVote() {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.isolate(3)
        let term = c[3].currentTerm
        c.tick(3, times: 100)
        c.queue.removeAll()
        #expect(c[3].currentTerm == term)
        c.heal()
        c.tickAll(times: 30)
        #expect(c.leader == 1)
        #expect(c[1].currentTerm == term, "a rejoining node must not depose a healthy leader")
    }

    @Test func withoutPreVoteAPartitionedNodeInflatesItsTerm() {
        var c = TestCluster([1, 2, 3]) { $0.preVote = false }
        c.elect(1)
        c.isolate(3)
        let term = c[3].currentTerm
        c.tick(3, times: 100)
        #expect(c[3].currentTerm > term)
    }

    @Test func isolatedLeaderStepsDownAfterCheckQuorum() {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.isolate(1)
        var ticks = 0
        while c[1].currentRole == .leader && ticks < 100 {
            c.tick(1)
            ticks += 1
        }
        #expect(c[1].currentRole == .follower)
        #expect(ticks <= 2 * c[1].config.electionTicks)
    }

    @Test func followerWithLiveLeaderIgnoresHigherTermVoteRequests() {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        let term = c[2].currentTerm
        let request = Message(from: 3, to: 2, term: term.next,
                              body: .vote(VoteRequest(lastLogIndex: 100, lastLogTerm: 100)))
        c[2].step(request)
        #expect(c[2].counters.votesRefusedInLease == 1)
        #expect(c[2].currentTerm == term)
        #expect(c[2].hardState.vote == c[1].id || c[2].hardState.vote == nil)
        c.flushAll()
        #expect(!c.queue.contains { $0.body == .voteResponse(VoteResponse(granted: true)) })
        // A transfer-initiated election bypasses stickiness.
        var transfer = request
        transfer.body = .vote(VoteRequest(lastLogIndex: 100, lastLogTerm: 100, leadershipTransfer: true))
        c[2].step(transfer)
        #expect(c[2].currentTerm == term.next)
        #expect(c[2].hardState.vote == 3)
    }

    @Test func voteRequiresAnUpToDateLogAndIsGivenOncePerTerm() {
        let m = Membership(voters: [1, 2, 3])
        var node = try! RaftNode(config: RaftConfig(id: 1), storage: storageWithLog(terms: [1, 1, 2], membership: m))
        node.now = 100
        // Candidate with an older last term but a longer log: rejected.
        node.step(Message(from: 2, to: 1, term: 3, body: .vote(VoteRequest(lastLogIndex: 5, lastLogTerm: 1))))
        var rd = node.ready()
        #expect(rd.messagesAfterPersist.last?.body == .voteResponse(VoteResponse(granted: false)))
        node.advance(rd)
        // Same last term, shorter log: rejected.
        node.step(Message(from: 2, to: 1, term: 3, body: .vote(VoteRequest(lastLogIndex: 2, lastLogTerm: 2))))
        rd = node.ready()
        #expect(rd.messagesAfterPersist.last?.body == .voteResponse(VoteResponse(granted: false)))
        node.advance(rd)
        // Up to date: granted, and the vote is in the hard state to persist first.
        node.step(Message(from: 2, to: 1, term: 3, body: .vote(VoteRequest(lastLogIndex: 3, lastLogTerm: 2))))
        rd = node.ready()
        #expect(rd.hardState?.vote == 2)
        #expect(rd.messagesAfterPersist.last?.body == .voteResponse(VoteResponse(granted: true)))
        #expect(!rd.messages.contains { $0.body.kind == "voteResponse" }, "a vote may only go out after it is persisted")
        node.advance(rd)
        // Another candidate in the same term: rejected; the same one again: granted.
        node.step(Message(from: 3, to: 1, term: 3, body: .vote(VoteRequest(lastLogIndex: 9, lastLogTerm: 3))))
        rd = node.ready()
        #expect(rd.messagesAfterPersist.last?.body == .voteResponse(VoteResponse(granted: false)))
        node.advance(rd)
        node.step(Message(from: 2, to: 1, term: 3, body: .vote(VoteRequest(lastLogIndex: 3, lastLogTerm: 2))))
        rd = node.ready()
        #expect(rd.messagesAfterPersist.last?.body == .voteResponse(VoteResponse(granted: true)))
    }

    @Test func preVoteRequestsGoOutAtOnceVoteRequestsAfterPersist() throws {
        var c = TestCluster([1, 2, 3])
        c.warmUp()
        try c[1].campaign()
        var rd = c[1].ready()
        #expect(c[1].currentRole == .preCandidate)
        #expect(rd.messages.filter { $0.body.kind == "preVote" }.count == 2)
        #expect(rd.messages.allSatisfy { $0.term == 1 }, "pre-votes carry the term the node would campaign in")
        #expect(c[1].currentTerm == 0)
        c[1].advance(rd)
        for m in rd.messages { c[m.to.rawValue].step(m) }
        c.flushReady(2)
        c.flushReady(3)
        while let m = c.queue.first {
            c.queue.removeFirst()
            if m.to == 1 { c[1].step(m) }
        }
        #expect(c[1].currentRole == .candidate)
        rd = c[1].ready()
        #expect(rd.hardState?.term == 1 && rd.hardState?.vote == 1)
        #expect(rd.messagesAfterPersist.filter { $0.body.kind == "vote" }.count == 2)
        #expect(!rd.messages.contains { $0.body.kind == "vote" })
    }

    @Test func candidateStepsDownOnAppendFromLeaderOfSameTerm() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        let term = c[1].currentTerm
        // Node 3 becomes a candidate in the next term while 1 is elected in that same term.
        c[3].becomeCandidate()
        #expect(c[3].currentTerm == term.next)
        c[3].step(Message(from: 2, to: 3, term: term.next,
                          body: .append(AppendRequest(prevLogIndex: 0, prevLogTerm: 0, entries: [], commit: 0))))
        #expect(c[3].currentRole == .follower)
        #expect(c[3].currentLeader == 2)
    }

    @Test func mayNotCampaignStillVotes() throws {
        var c = TestCluster([1, 2, 3])
        c[2].setMayCampaign(false)
        c[3].setMayCampaign(false)
        c.tickAll(times: 60)
        #expect(c.leader == 1, "only node 1 may campaign, and it needs the votes of the others")
        #expect(throws: ProposalError.self) { try c[2].campaign() }
    }

    @Test func campaignIsRefusedWhileALeaderWasHeardRecently() {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        #expect(throws: ProposalError.self) { try c[2].campaign() }
    }
}
