import Testing
@testable import RaftCore

@Suite struct ReplicationTests {
    @Test func proposalsReplicateAndApplyIdenticallyEverywhere() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        for i in 0..<20 { try c.propose(1, "v\(i)") }
        c.stabilize()
        let expected = (0..<20).map { "v\($0)" }
        for id: UInt64 in [1, 2, 3] {
            #expect(c.appliedStrings(id) == expected)
            #expect(c[id].commitIndex == c[1].lastIndex)
        }
    }

    @Test func commitNeedsAMajority() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.down = [2, 3]
        try c.propose(1, "lonely")
        c.stabilize()
        #expect(c.appliedStrings(1).isEmpty)
        c.down = [3]
        c.tickAll(times: 2)  // the heartbeat answer makes the leader resend
        #expect(c.appliedStrings(1) == ["lonely"])
        #expect(c.appliedStrings(2) == ["lonely"])
    }

    @Test func proposalOnFollowerIsRefusedWithLeaderHint() {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        #expect(throws: ProposalError.notLeader(leader: 1)) { try c.propose(2, "x") }
    }

    /// Raft paper Figure 7: whatever the follower's log (missing entries, extra uncommitted
    /// entries, both), the leader of term 8 makes it identical to its own.
    @Test(arguments: [
        [1, 1, 1, 4, 4, 5, 5, 6, 6],              // (a) missing one entry
        [1, 1, 1, 4],                             // (b) missing many
        [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],        // (c) one extra entry of term 6
        [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],     // (d) extra entries of term 7
        [1, 1, 1, 4, 4, 4, 4],                    // (e) missing and extra
        [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],        // (f) a long divergent tail
    ] as [[UInt64]])
    func figure7FollowerLogsConvergeToTheLeader(follower: [UInt64]) {
        let leaderLog: [UInt64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
        let m = Membership(voters: [1, 2, 3])
        var c = TestCluster([])
        c.add(RaftConfig(id: 1), storage: storageWithLog(terms: leaderLog, membership: m, hardTerm: 7))
        c.add(RaftConfig(id: 2), storage: storageWithLog(terms: follower, membership: m, hardTerm: 7))
        c.add(RaftConfig(id: 3), storage: storageWithLog(terms: leaderLog, membership: m, hardTerm: 7))
        c.elect(1)
        #expect(c.leader == 1)
        #expect(c[1].currentTerm == 8)
        c.tickAll(times: 3)
        let last = c[1].lastIndex
        #expect(c[2].lastIndex == last)
        for i in 1...last.rawValue {
            #expect(c[2].term(at: LogIndex(i)) == c[1].term(at: LogIndex(i)), "index \(i)")
        }
        // The follower's storage agrees too, not just its in-memory view.
        let stored = try! c.storages[2]!.entries(from: 1, to: last + 1, maxBytes: .max)
        let leaderStored = try! c.storages[1]!.entries(from: 1, to: last + 1, maxBytes: .max)
        #expect(stored == leaderStored)
        // Fast back-off: at most one rejection per conflicting term, not one per entry.
        let rejections = c.sent.filter {
            if case .appendResponse(let r) = $0.body { return r.rejected && $0.from == 2 }
            return false
        }
        #expect(rejections.count <= 3)
    }

    /// Raft paper Figure 8: a leader must not commit an entry of an older term by counting
    /// replicas, because a later leader may still overwrite it.
    @Test(arguments: [false, true])
    func figure8OldTermEntryIsNotCommittedByCounting(planted: Bool) throws {
        let m = Membership(voters: [1, 2, 3, 4, 5])
        var c = TestCluster([])
        func cfg(_ id: UInt64) -> RaftConfig {
            var k = RaftConfig(id: NodeID(id))
            if planted { k.plantedBugs = [.commitOldTermByCounting] }
            return k
        }
        // (c) in the figure: S1 leads term 4 with the term-2 entry at index 2 that only S2
        // has; S5 has a term-3 entry there.
        c.add(cfg(1), storage: storageWithLog(terms: [1, 2], membership: m, hardTerm: 3))
        c.add(cfg(2), storage: storageWithLog(terms: [1, 2], membership: m, hardTerm: 3))
        c.add(cfg(3), storage: storageWithLog(terms: [1], membership: m, hardTerm: 3))
        c.add(cfg(4), storage: storageWithLog(terms: [1], membership: m, hardTerm: 3))
        c.add(cfg(5), storage: storageWithLog(terms: [1, 3], membership: m, hardTerm: 3))
        c.down = [4, 5]
        c.warmUp()
        try c[1].campaign()
        // Let S1 replicate only up to index 2 (its term-4 entry never reaches anyone).
        var steps = 0
        while steps < 1000 {
            c.flushAll()
            if c.queue.isEmpty { break }
            if case .append(var a) = c.queue[0].body {
                a.entries.removeAll { $0.index >= 3 }
                c.queue[0].body = .append(a)
            }
            c.deliverNext()
            steps += 1
        }
        #expect(c[1].currentRole == .leader && c[1].currentTerm == 4)
        #expect(c[3].term(at: 2) == 2, "S3 now holds the term-2 entry: it is on S1, S2, S3")
        if planted {
            #expect(c[1].commitIndex >= 2, "the planted bug commits by counting")
        } else {
            #expect(c[1].commitIndex < 2, "a term-2 entry must not be committed by a term-4 leader by counting")
        }
        // (d): S1 crashes, S5 is elected by S3, S4 (and itself) and overwrites index 2.
        c.down = [1]
        c.restart(4)
        c.restart(5)
        for id: UInt64 in [2, 3, 4] { c[id].setMayCampaign(false) }
        var ticks = 0
        while c.leader != 5 && ticks < 200 {
            c.tickAll()
            ticks += 1
        }
        #expect(c.leader == 5)
        #expect(c.sent.count < 1_000, "no append/response ping-pong, even in the corrupted state")
        try c.propose(5, "after")
        c.stabilize()
        let s1Applied = c.applied[1]!.first { $0.index == 2 }
        let s3Applied = c.applied[3]!.first { $0.index == 2 }
        let s5Applied = c.applied[5]!.first { $0.index == 2 }
        if planted {
            // State machine safety is broken: S1 and S5 applied different entries at index 2.
            #expect(s1Applied != nil && s5Applied != nil && s1Applied != s5Applied)
        } else {
            #expect(s1Applied == nil)
            #expect(s3Applied?.term == 3)
        }
    }

    @Test func flowControlCapsInflightAppendsToASilentFollower() throws {
        var c = TestCluster([1, 2, 3]) { $0.maxInflightMessages = 2 }
        c.elect(1)
        try c.propose(1, "warm")
        c.stabilize()
        #expect(c[1].status.followers[2]?.state == "replicate")
        c.blocked.insert(Link(from: 2, to: 1))  // node 2's answers are lost
        let mark = c.sent.count
        for i in 0..<10 {
            try c.propose(1, "p\(i)")
            c.stabilize()
        }
        func carriesEntries(_ m: Message) -> Bool {
            if case .append(let a) = m.body { return !a.entries.isEmpty }
            return false
        }
        // Empty appends that only carry the commit index are not limited; entry-carrying ones are.
        let toTwo = c.sentSince(mark, kind: "append").filter { $0.to == 2 && carriesEntries($0) }
        let toThree = c.sentSince(mark, kind: "append").filter { $0.to == 3 && carriesEntries($0) }
        #expect(toTwo.count == 2, "only maxInflightMessages appends may be outstanding")
        #expect(toThree.count >= 10)
        #expect(c.appliedStrings(3).count == 11)
    }

    @Test func pipelinedAppendsDoNotWaitForAcknowledgements() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        let mark = c.sent.count
        for i in 0..<5 { try c.propose(1, "p\(i)") }
        c.flushReady(1)
        // Five appends to each follower before any answer arrived.
        #expect(c.sentSince(mark, kind: "append").filter { $0.to == 2 }.count == 5)
    }

    @Test func aBatchTravelsInOneAppendPerFollower() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        let mark = c.sent.count
        try c[1].propose(batch: (0..<64).map { [UInt8(truncatingIfNeeded: $0)] })
        c.flushReady(1)
        let appends = c.sentSince(mark, kind: "append")
        #expect(appends.count == 2)
        for a in appends {
            guard case .append(let req) = a.body else { continue }
            #expect(req.entries.count == 64)
        }
        c.stabilize()
        #expect(c.applied[2]!.filter { !$0.data.isEmpty }.count == 64)
    }

    @Test func maxBytesPerMessageSplitsLargeBatches() throws {
        var c = TestCluster([1, 2]) { $0.maxBytesPerMessage = 200 }
        c.elect(1)
        let mark = c.sent.count
        try c[1].propose(batch: (0..<10).map { _ in [UInt8](repeating: 7, count: 84) })  // 100 bytes each
        c.stabilize()
        let appends = c.sentSince(mark, kind: "append").compactMap { m -> Int? in
            if case .append(let a) = m.body, !a.entries.isEmpty { return a.entries.count }
            return nil
        }
        #expect(appends.allSatisfy { $0 <= 2 })
        #expect(appends.reduce(0, +) == 10)
        #expect(c.applied[2]!.filter { !$0.data.isEmpty }.count == 10)
    }

    @Test func leaderAppendsGoBeforePersistFollowerAcksAfter() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "x")
        let rd = c[1].ready()
        #expect(rd.messages.contains { $0.body.kind == "append" })
        #expect(!rd.entries.isEmpty)
        c.flushReadyAfter(1, rd)
        let m = c.queue.first { $0.to == 2 }!
        c[2].step(m)
        let frd = c[2].ready()
        #expect(frd.messagesAfterPersist.contains { $0.body.kind == "appendResponse" })
        #expect(!frd.messages.contains { $0.body.kind == "appendResponse" })
    }

    @Test func uncommittedLimitRefusesProposals() throws {
        var c = TestCluster([1, 2, 3]) { $0.maxUncommittedEntries = 5 }
        c.elect(1)
        c.down = [2, 3]
        // Index 1 (the leader's empty entry) is committed; five more may wait uncommitted.
        for i in 0..<5 { try c.propose(1, "p\(i)") }
        #expect(throws: ProposalError.overloaded) { try c.propose(1, "too many") }
    }
}

extension TestCluster {
    /// Finishes handling a Ready that the test took from the node itself.
    mutating func flushReadyAfter(_ id: UInt64, _ rd: Ready) {
        let nid = NodeID(id)
        queue.append(contentsOf: rd.messages)
        sent.append(contentsOf: rd.messages)
        storages[nid]!.append(rd.entries)
        if let hs = rd.hardState { storages[nid]!.setHardState(hs) }
        queue.append(contentsOf: rd.messagesAfterPersist)
        sent.append(contentsOf: rd.messagesAfterPersist)
        applied[nid, default: []].append(contentsOf: rd.committedEntries)
        nodes[nid]!.advance(rd)
    }
}

@Suite struct ReplicationRegressionTests {
    /// A follower whose acknowledgement arrives after the commit moved on (it was paused by
    /// flow control) must hear the new commit index at once, not at the next heartbeat.
    @Test func pausedFollowerLearnsTheCommitWithoutWaitingForAHeartbeat() throws {
        var c = TestCluster([1, 2, 3]) { $0.maxInflightMessages = 1 }
        c.elect(1)
        for i in 0..<64 { try c.propose(1, "p\(i)") }
        c.stabilize()  // no ticks: no heartbeats
        for id: UInt64 in [2, 3] {
            #expect(c[id].commitIndex == c[1].commitIndex, "node \(id) lags the leader's commit")
        }
        #expect(c.appliedStrings(3).count == 64)
    }

    /// Within one batch a follower acknowledges an old leader's entries, then a newer
    /// leader's append replaces them before they are persisted. The old acknowledgement must
    /// not go out: it would promise entries the node never stored.
    @Test func acknowledgementsOfAnOlderTermAreNotSent() throws {
        let m = Membership(voters: [1, 2, 3])
        var node = try RaftNode(config: RaftConfig(id: 3), storage: storageWithLog(terms: [1], membership: m))
        node.step(Message(from: 1, to: 3, term: 1, body: .append(AppendRequest(
            prevLogIndex: 1, prevLogTerm: 1,
            entries: [Entry(term: 1, index: 2, data: [1]), Entry(term: 1, index: 3, data: [1])], commit: 1))))
        node.step(Message(from: 2, to: 3, term: 2, body: .append(AppendRequest(
            prevLogIndex: 1, prevLogTerm: 1, entries: [Entry(term: 2, index: 2, data: [2])], commit: 1))))
        let rd = node.ready()
        let acks = (rd.messages + rd.messagesAfterPersist).filter { $0.body.kind == "appendResponse" }
        #expect(acks.count == 1)
        #expect(acks.first?.to == 2 && acks.first?.term == 2)
        #expect(node.counters.droppedOutdatedReplies == 1)
        #expect(rd.entries.map(\.term) == [2])
    }
}
