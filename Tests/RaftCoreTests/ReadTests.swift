import Testing
@testable import RaftCore

@Suite struct ReadTests {
    @Test func readIndexIsAnsweredOnlyAfterAQuorumRound() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "w")
        c.stabilize()
        let commit = c[1].commitIndex
        try c[1].readIndex(requestID: 7)
        c.flushReady(1)
        #expect(c.reads[1, default: []].isEmpty, "no answer before a quorum confirms leadership")
        #expect(c.queue.filter { $0.body.kind == "heartbeat" }.count == 2)
        c.stabilize()
        #expect(c.reads[1] == [ReadState(index: commit, requestID: 7)])
    }

    @Test func readIndexOnFollowerIsRefused() {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        #expect(throws: ProposalError.notLeader(leader: 1)) { try c[2].readIndex(requestID: 1) }
    }

    @Test func readIndexWaitsForTheLeadersFirstCommit() throws {
        var c = TestCluster([1, 2, 3])
        c.warmUp()
        try c[1].campaign()
        // Run the election but hold back the appends that would commit the leader's entry.
        while !c.queue.isEmpty || c.nodes.values.contains(where: { $0.hasReady }) {
            c.flushAll()
            if c[1].currentRole == .leader { break }
            if !c.queue.isEmpty { c.deliverNext() }
        }
        #expect(c[1].currentRole == .leader)
        #expect(c[1].commitIndex < c[1].lastIndex)
        try c[1].readIndex(requestID: 9)
        #expect(c[1].readsAwaitingCommit.count == 1)
        c.stabilize()
        #expect(c.reads[1]?.first?.requestID == 9)
        #expect(c.reads[1]?.first?.index == c[1].commitIndex)
    }

    @Test func isolatedLeaderNeverAnswersReadIndex() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.isolate(1)
        try c[1].readIndex(requestID: 5)
        c.tickAll(times: 40)
        #expect(c.reads[1, default: []].isEmpty)
        #expect(c[1].currentRole != .leader, "check-quorum deposed it")
        #expect(c[1].counters.readsDropped >= 1)
    }

    @Test func plantedBugAnswersReadsWithoutAQuorum() throws {
        var c = TestCluster([1, 2, 3]) { $0.plantedBugs = [.readWithoutQuorumCheck] }
        c.elect(1)
        c.isolate(1)
        try c[1].readIndex(requestID: 5)
        c.flushReady(1)
        #expect(c.reads[1]?.count == 1)
    }

    @Test func leaseIsRenewedByQuorumRoundsAndLapsesWithoutThem() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        #expect(c[1].leaderLease == nil, "no round acknowledged yet")
        c.tickAll(times: 1)
        let lease = try #require(c[1].leaderLease)
        #expect(lease.remainingTicks <= UInt64(c[1].config.leaseTicks))
        #expect(c[2].leaderLease == nil)
        c.isolate(1)
        var held = 0
        while c[1].leaderLease != nil {
            c.tick(1)
            held += 1
        }
        #expect(held <= c[1].config.leaseTicks)
        #expect(c[1].currentRole == .leader, "the lease lapses before check-quorum steps down")
    }

    @Test func leaseReadIsServedLocallyAndFallsBackWithoutALease() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.tickAll(times: 1)
        #expect(c[1].leaderLease != nil)
        let mark = c.sent.count
        try c[1].leaseRead(requestID: 1)
        c.flushReady(1)
        #expect(c.reads[1]?.map(\.requestID) == [1])
        #expect(c.sentSince(mark, kind: "heartbeat").isEmpty, "a lease read needs no network round")
        // Without a lease it takes a quorum round.
        c.isolate(1)
        c.tick(1, times: c[1].config.leaseTicks + 1)
        #expect(c[1].leaderLease == nil)
        try c[1].leaseRead(requestID: 2)
        c.flushReady(1)
        #expect(c.reads[1]?.map(\.requestID) == [1])
    }

    /// The lease guarantee itself: on one global clock, the old leader's lease has lapsed
    /// before any other node becomes leader.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func noTwoLeasesOverlapAfterTheLeaderIsCutOff(seed: UInt64) throws {
        var c = TestCluster([1, 2, 3]) { $0.randomSeed = $0.id.rawValue &* 7919 &+ seed }
        c.elect(1)
        c.tickAll(times: 3)
        #expect(c[1].leaderLease != nil)
        c.isolate(1)
        var lastLeaseTick: Int?
        var newLeaderTick: Int?
        for t in 0..<200 {
            c.tickAll()
            if c[1].leaderLease != nil { lastLeaseTick = t }
            if let l = c.ids.first(where: { $0 != 1 && c.nodes[$0]!.currentRole == .leader }) {
                newLeaderTick = t
                #expect(c[1].leaderLease == nil, "\(l) elected while node 1 still holds a lease")
                break
            }
        }
        let elected = try #require(newLeaderTick)
        let lapsed = lastLeaseTick ?? -1
        #expect(elected - lapsed >= c[1].config.electionTicks - c[1].config.leaseTicks - 1,
                "margin between the lease lapse and the next election")
    }

    @Test func transferGivesUpTheLeaseAtOnce() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.tickAll(times: 1)
        #expect(c[1].leaderLease != nil)
        try c[1].transferLeadership(to: 2)
        #expect(c[1].leaderLease == nil)
    }
}
