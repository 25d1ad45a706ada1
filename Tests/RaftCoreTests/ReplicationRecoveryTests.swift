import Testing
@testable import RaftCore

/// Followers that lost what the leader sent them, or what they had stored, are always
/// brought back (issue 7, points 2 and 5).
@Suite struct ReplicationRecoveryTests {
    /// Every append of a full in-flight window to follower 3 is lost; 3 keeps answering
    /// heartbeats. It must catch up, and after node 2 fails, nodes 1 and 3 must still commit.
    @Test(arguments: [false, true])
    func lostInflightWindowDrains(planted: Bool) throws {
        var c = TestCluster([1, 2, 3]) { $0.plantedBugs = planted ? [.inflightWindowNeverDrains] : [] }
        c.elect(1)
        c.tickAll(times: 1)
        let window = c[1].config.maxInflightMessages
        for i in 0..<window {
            try c.propose(1, "lost-\(i)")
            // A connection reset: every append to 3 is lost; everything else arrives.
            c.flushAll()
            while !c.queue.isEmpty {
                if c.queue[0].to == 3 && c.queue[0].body.kind == "append" {
                    c.queue.removeFirst()
                } else {
                    c.deliverNext()
                }
                c.flushAll()
            }
        }
        #expect(c[1].tracker.progress[3]!.inflights.isFull)
        #expect(c[1].tracker.progress[3]!.match < c[1].lastIndex)
        c.tickAll(times: 5)
        c.down.insert(2)
        try c.propose(1, "after node 2 fails")
        c.tickAll(times: 5)
        if planted {
            #expect(!c.appliedStrings(1).contains("after node 2 fails"), "the planted bug leaves 3 behind forever")
        } else {
            #expect(c.appliedStrings(3).count == window + 1)
            #expect(c.appliedStrings(1).last == "after node 2 fails")
        }
    }

    /// `reportUnreachable` (the transport lost the connection) sends the follower back to
    /// probing, so the lost window is re-sent at once.
    @Test func reportUnreachableMovesAReplicatingFollowerToProbe() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "x")
        c.stabilize()
        #expect(c[1].tracker.progress[3]!.state == .replicate)
        c[1].reportUnreachable(3)
        #expect(c[1].tracker.progress[3]!.state == .probe)
    }

    /// Follower 3 comes back with an empty log (an emptied data directory, a restored
    /// backup): the leader must notice the rejection below match and repair it.
    @Test(arguments: [false, true])
    func regressedFollowerIsRepaired(planted: Bool) throws {
        var c = TestCluster([1, 2, 3]) { $0.plantedBugs = planted ? [.regressedFollowerIgnored] : [] }
        c.elect(1)
        for i in 0..<5 { try c.propose(1, "w\(i)") }
        c.stabilize()
        #expect(c[1].tracker.progress[3]!.match == c[1].lastIndex)
        // Node 3 loses its log (but keeps its id); the leader still believes match = last.
        let fresh = MemoryStorage(membership: Membership(voters: [1, 2, 3]))
        fresh.setHardState(c.storages[NodeID(3)]!.hardState)
        c.storages[NodeID(3)] = fresh
        c.restart(3)
        c.warmUp()
        try c.propose(1, "next")
        c.tickAll(times: 3)
        c.down.insert(2)
        try c.propose(1, "after node 2 fails")
        c.tickAll(times: 5)
        if planted {
            #expect(!c.appliedStrings(1).contains("after node 2 fails"))
        } else {
            #expect(c[1].counters.followerLogRegressions >= 1)
            #expect(c[3].lastIndex == c[1].lastIndex)
            #expect(c.appliedStrings(1).last == "after node 2 fails")
        }
    }
}
