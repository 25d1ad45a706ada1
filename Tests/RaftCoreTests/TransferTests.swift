import Testing
@testable import RaftCore

/// Leadership transfer (RaftNode+Transfer.swift): bring the target up to date, then
/// TimeoutNow; the leader gives up its lease and refuses proposals from the call on.
@Suite struct TransferTests {
    private static func voteRequests(_ c: TestCluster, since mark: Int) -> [(Message, VoteRequest)] {
        c.sentSince(mark, kind: "vote").compactMap { m in
            if case .vote(let r) = m.body { return (m, r) }
            return nil
        }
    }

    /// Leader 1 of [1,2,3] with a committed entry and a lease, all followers up to date and
    /// recently heartbeated.
    private static func steadyCluster() throws -> TestCluster {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "a")
        c.stabilize()
        c.tickAll(times: 2)
        #expect(c[1].leaderLease != nil)
        return c
    }

    @Test func transferToUpToDateFollowerSendsTimeoutNowAtOnce() throws {
        var c = try Self.steadyCluster()
        let term = c[1].currentTerm
        // The followers heard from the leader within the election timeout: a normal
        // election could not take place now.
        for n: UInt64 in [2, 3] {
            #expect(c[n].currentLeader == 1)
            #expect(c[n].electionElapsed < c[n].config.electionTicks)
        }
        #expect(c[1].tracker.progress[2]!.match == c[1].lastIndex)
        // 2's vote request cannot reach 1: it must win 3's vote despite 3's stickiness.
        c.blocked.insert(Link(from: 2, to: 1))
        let refusedBefore = c[3].counters.votesRefusedInLease

        let mark = c.sent.count
        try c[1].transferLeadership(to: 2)
        #expect(c[1].transferTarget == 2)
        #expect(c[1].leaderLease == nil)
        c.flushReady(1)
        let timeoutNow = c.sentSince(mark, kind: "timeoutNow")
        #expect(timeoutNow.count == 1)
        #expect(timeoutNow.first?.to == 2)
        #expect(c.sent[mark...].allSatisfy { $0.body.kind != "append" || $0.to != 2 })

        c.stabilize()
        #expect(c[2].currentRole == .leader)
        #expect(c[2].currentTerm == term.next)
        #expect(c.sentSince(mark, kind: "preVote").isEmpty)
        let requests = Self.voteRequests(c, since: mark)
        #expect(!requests.isEmpty)
        #expect(requests.allSatisfy { $0.0.from == 2 && $0.1.leadershipTransfer })
        let grants = c.sentSince(mark, kind: "voteResponse").filter {
            if $0.from == 3, case .voteResponse(let r) = $0.body { return r.granted }
            return false
        }
        #expect(grants.count == 1)
        #expect(c[3].counters.votesRefusedInLease == refusedBefore)
        #expect(c[3].currentLeader == 2)

        // The new leader works; the old one follows.
        c.heal()
        try c.propose(2, "b")
        c.tickAll(times: 2)  // the next heartbeats reach 1 too (it was cut off from 2)
        #expect(c[1].currentRole == .follower)
        #expect(c[1].currentLeader == 2)
        #expect(c.appliedStrings(1) == ["a", "b"])
        #expect(c.appliedStrings(3) == ["a", "b"])
    }

    @Test func transferToLaggingFollowerCatchesItUpFirst() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.cut(1, 3)
        try c.propose(1, "a")
        try c.propose(1, "b")
        c.stabilize()
        #expect(c[3].lastIndex < c[1].lastIndex)
        c.heal()
        let term = c[1].currentTerm
        let leaderLast = c[1].lastIndex

        let mark = c.sent.count
        try c[1].transferLeadership(to: 3)
        c.flushReady(1)
        #expect(c.sentSince(mark, kind: "timeoutNow").isEmpty)
        #expect(c.sentSince(mark, kind: "append").contains { $0.to == 3 })
        #expect(c[1].transferTarget == 3)

        c.stabilize()
        // TimeoutNow went out only after 3 had acknowledged the leader's last index.
        let timeoutNowAt = try #require(c.sent.indices.first { $0 >= mark && c.sent[$0].body.kind == "timeoutNow" })
        let acks = c.sent[mark..<timeoutNowAt].filter { m in
            if m.from == 3, case .appendResponse(let r) = m.body { return !r.rejected && r.index == leaderLast }
            return false
        }
        #expect(!acks.isEmpty)
        let entriesSentTo3 = c.sent[mark..<timeoutNowAt].filter { m in
            if m.to == 3, case .append(let a) = m.body { return !a.entries.isEmpty }
            return false
        }
        #expect(!entriesSentTo3.isEmpty)

        #expect(c[3].currentRole == .leader)
        #expect(c[3].currentTerm == term.next)
        #expect(c.sentSince(mark, kind: "preVote").isEmpty)
        try c.propose(3, "c")
        c.stabilize()
        #expect(c.appliedStrings(3) == ["a", "b", "c"])
        #expect(c.appliedStrings(1) == ["a", "b", "c"])
    }

    @Test func timeoutNowWaitsForTheTargetsMatch() throws {
        // Step by step: the leader sends TimeoutNow in the same step in which the target's
        // match reaches its last index, not before.
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.cut(1, 3)
        try c.propose(1, "a")
        c.stabilize()
        c.heal()
        try c[1].transferLeadership(to: 3)
        var steps = 0
        while c[1].transfer?.timeoutNowSent != true && steps < 1000 {
            #expect(c[1].tracker.progress[3]!.match < c[1].lastIndex)
            c.flushAll()
            if c.queue.isEmpty { break }
            c.deliverNext()
            steps += 1
        }
        // The step that sent TimeoutNow is the one that brought 3's match to the last index.
        #expect(c[1].transfer?.timeoutNowSent == true)
        #expect(c[1].tracker.progress[3]!.match == c[1].lastIndex)
        #expect(c[1].currentRole == .leader)
        c.stabilize()
        #expect(c[3].currentRole == .leader)
    }

    @Test func proposalsAreRefusedDuringTheTransfer() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.cut(1, 3)
        try c.propose(1, "a")
        c.stabilize()
        try c[1].transferLeadership(to: 3)  // 3 is lagging and cut off: the transfer stays pending
        c.stabilize()
        #expect(c[1].currentRole == .leader)
        let last = c[1].lastIndex
        #expect(refusal { try c.propose(1, "x") } == .transferInProgress)
        #expect(refusal { try c[1].propose(batch: [[1], [2]]) } == .transferInProgress)
        #expect(refusal { try c[1].proposeConfigChange(.addLearner(4)) } == .transferInProgress)
        #expect(c[1].lastIndex == last)
        // Repeating the transfer to the same target is a no-op; another target is accepted
        // while TimeoutNow has not been sent.
        try c[1].transferLeadership(to: 3)
        #expect(c[1].transferTarget == 3)
        try c[1].transferLeadership(to: 2)
        #expect(c[1].transferTarget == 2)
    }

    @Test func secondTransferIsRefusedOnceTimeoutNowWasSent() throws {
        var c = try Self.steadyCluster()
        c.cut(1, 2)  // TimeoutNow is lost
        try c[1].transferLeadership(to: 2)
        c.stabilize()
        #expect(c[1].transfer?.timeoutNowSent == true)
        #expect(refusal { try c[1].transferLeadership(to: 3) } == .transferInProgress)
        #expect(c[1].transferTarget == 2)
    }

    @Test func leaseIsGivenUpFromTheMomentOfTheCall() throws {
        var c = try Self.steadyCluster()
        c.cut(1, 3)
        try c.propose(1, "b")  // 3 lags, so the transfer does not complete at once
        c.stabilize()
        c.tickAll(times: 1)
        #expect(c[1].leaderLease != nil)
        #expect(c[1].status.lease != nil)

        try c[1].transferLeadership(to: 3)
        #expect(c[1].leaderLease == nil)
        #expect(c[1].status.lease == nil)
        // Quorum rounds acknowledged during the transfer do not bring it back.
        c.tickAll(times: 3)
        #expect(c[1].currentRole == .leader)
        #expect(c[1].transferTarget == 3)
        #expect(c[1].leaderLease == nil)
    }

    @Test func transferToANonVoterIsRefused() throws {
        var c = TestCluster([1, 2, 3], learners: [4])
        c.elect(1)
        #expect(refusal { try c[1].transferLeadership(to: 4) } == .unknownNode(4))
        #expect(refusal { try c[1].transferLeadership(to: 9) } == .unknownNode(9))
        #expect(c[1].transferTarget == nil)
        // A transfer to itself is a no-op.
        try c[1].transferLeadership(to: 1)
        #expect(c[1].transferTarget == nil)
        #expect(c[1].currentRole == .leader)
        try c.propose(1, "still")
        c.stabilize()
        #expect(c.appliedStrings(1) == ["still"])
    }

    @Test func transferOnAFollowerIsRefused() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        #expect(refusal { try c[2].transferLeadership(to: 3) } == .notLeader(leader: 1))
        #expect(c[2].transferTarget == nil)
    }

    @Test func unreachableLaggingTargetAbortsAndLeaderKeepsLeading() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        let electionTicks = c[1].config.electionTicks
        c.cut(1, 3)
        try c.propose(1, "a")
        c.stabilize()
        c.tickAll(times: 2)
        let term = c[1].currentTerm

        let mark = c.sent.count
        try c[1].transferLeadership(to: 3)
        c.tickAll(times: electionTicks - 1)
        #expect(c[1].transferTarget == 3)
        #expect(c[1].currentRole == .leader)
        #expect(c[1].leaderLease == nil)
        #expect(refusal { try c.propose(1, "x") } == .transferInProgress)

        c.tickAll(times: 1)
        #expect(c[1].transferTarget == nil)
        #expect(c[1].currentRole == .leader)
        #expect(c[1].currentTerm == term)
        #expect(c.sentSince(mark, kind: "timeoutNow").isEmpty)
        // Proposals are accepted again and commit (with 2).
        try c.propose(1, "b")
        c.stabilize()
        #expect(c.appliedStrings(1) == ["a", "b"])
        // The next acknowledged rounds renew the lease.
        c.tickAll(times: 2)
        let lease = try #require(c[1].leaderLease)
        #expect(lease.term == term)
    }

    @Test func lostTimeoutNowMakesTheLeaderStepDownAfterTheTimeout() throws {
        var c = try Self.steadyCluster()
        let electionTicks = c[1].config.electionTicks
        let term = c[1].currentTerm
        c.cut(1, 2)  // 2 is up to date, so TimeoutNow goes out at once and is lost
        let mark = c.sent.count
        try c[1].transferLeadership(to: 2)
        c.stabilize()
        #expect(c.sentSince(mark, kind: "timeoutNow").count == 1)
        #expect(c[2].currentTerm == term)  // it never arrived

        c.tickAll(times: electionTicks - 1)
        #expect(c[1].currentRole == .leader)
        #expect(c[1].transferTarget == 2)
        c.tickAll(times: 1)
        #expect(c[1].currentRole == .follower)
        #expect(c[1].currentTerm == term)
        #expect(c[1].currentLeader == nil)
        #expect(c[1].leaderLease == nil)
        #expect(c[1].transferTarget == nil)
    }

    @Test func nodeThatMayNotCampaignIgnoresTimeoutNow() throws {
        var c = try Self.steadyCluster()
        let term = c[1].currentTerm
        c[2].setMayCampaign(false)
        let dropped = c[2].counters.droppedUnexpected
        let mark = c.sent.count
        try c[1].transferLeadership(to: 2)
        c.stabilize()
        #expect(c.sentSince(mark, kind: "timeoutNow").contains { $0.to == 2 })
        #expect(c[2].counters.droppedUnexpected == dropped + 1)
        #expect(c[2].currentRole == .follower)
        #expect(c[2].currentTerm == term)
        #expect(c.sentSince(mark, kind: "vote").isEmpty)
        #expect(c.sentSince(mark, kind: "preVote").isEmpty)
        #expect(c[1].currentRole == .leader)
        #expect(c[1].currentTerm == term)
    }
}
