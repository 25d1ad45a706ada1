import Testing
@testable import RaftCore

@Suite struct MalformedInputTests {
    func leaderCluster() throws -> TestCluster {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        for i in 0..<5 { try c.propose(1, "v\(i)") }
        c.stabilize()
        return c
    }

    @Test func misaddressedAndTermZeroMessagesAreDropped() throws {
        var c = try leaderCluster()
        let before = c[2].hardState
        c[2].step(Message(from: 1, to: 3, term: 1, body: .timeoutNow))
        c[2].step(Message(from: 2, to: 2, term: 1, body: .timeoutNow))
        c[2].step(Message(from: 0, to: 2, term: 1, body: .timeoutNow))
        #expect(c[2].counters.droppedMisaddressed == 3)
        c[2].step(Message(from: 1, to: 2, term: 0, body: .heartbeat(Heartbeat(commit: 99, round: 1))))
        #expect(c[2].counters.droppedMalformed == 1)
        #expect(c[2].hardState == before)
    }

    @Test func appendWithAGapOrBadTermsIsDropped() throws {
        var c = try leaderCluster()
        let term = c[2].currentTerm
        let last = c[2].lastIndex
        let gap = AppendRequest(prevLogIndex: last, prevLogTerm: term,
                                entries: [Entry(term: term, index: last + 2, data: [1])], commit: 0)
        c[2].step(Message(from: 1, to: 2, term: term, body: .append(gap)))
        let future = AppendRequest(prevLogIndex: last, prevLogTerm: term,
                                   entries: [Entry(term: term.next, index: last + 1, data: [1])], commit: 0)
        c[2].step(Message(from: 1, to: 2, term: term, body: .append(future)))
        let maxed = AppendRequest(prevLogIndex: LogIndex(UInt64.max), prevLogTerm: term,
                                  entries: [Entry(term: term, index: 0, data: [])], commit: LogIndex(UInt64.max))
        c[2].step(Message(from: 1, to: 2, term: term, body: .append(maxed)))
        #expect(c[2].counters.droppedMalformed == 3)
        #expect(c[2].lastIndex == last)
    }

    @Test func appendRewritingCommittedEntriesIsDropped() throws {
        var c = try leaderCluster()
        let term = c[2].currentTerm
        let commit = c[2].commitIndex
        #expect(commit >= 3)
        // Claims index 2 and 3 have a different (higher-term) content: must not truncate.
        let hostile = AppendRequest(prevLogIndex: 1, prevLogTerm: c[2].term(at: 1)!,
                                    entries: [Entry(term: term, index: 2, data: [9]), Entry(term: term.next, index: 3, data: [9])],
                                    commit: 0)
        c[2].step(Message(from: 1, to: 2, term: term.next, body: .append(hostile)))
        #expect(c[2].commitIndex == commit)
        #expect(c[2].term(at: 3) == c[1].term(at: 3))
    }

    @Test func responsesBeyondTheLogOrFromStrangersAreDropped() throws {
        var c = try leaderCluster()
        let term = c[1].currentTerm
        let commit = c[1].commitIndex
        c[1].step(Message(from: 2, to: 1, term: term, body: .appendResponse(AppendResponse(index: 1_000_000))))
        #expect(c[1].counters.droppedMalformed == 1)
        #expect(c[1].commitIndex == commit)
        c[1].step(Message(from: 9, to: 1, term: term, body: .appendResponse(AppendResponse(index: 2))))
        c[1].step(Message(from: 9, to: 1, term: term, body: .heartbeatResponse(HeartbeatResponse(round: 1))))
        #expect(c[1].counters.droppedStale >= 2)
        // A heartbeat answer for a round never sent is ignored.
        c[1].step(Message(from: 2, to: 1, term: term, body: .heartbeatResponse(HeartbeatResponse(round: .max))))
        #expect(c[1].currentRole == .leader)
    }

    @Test func heartbeatCommitBeyondTheLogIsClamped() throws {
        var c = try leaderCluster()
        let term = c[2].currentTerm
        c[2].step(Message(from: 1, to: 2, term: term, body: .heartbeat(Heartbeat(commit: 1_000_000, round: 1))))
        #expect(c[2].commitIndex == c[2].lastIndex)
    }

    /// Thousands of random, mostly nonsensical messages: nothing traps, and the basic
    /// invariants of every node hold afterwards.
    @Test func randomMessagesNeverTrap() throws {
        var c = try leaderCluster()
        var rng = SplitMix64(seed: 42)
        func r(_ n: UInt64) -> UInt64 { rng.next() % n }
        for _ in 0..<20_000 {
            let to = NodeID(1 + r(3))
            var from = NodeID(r(5))
            if from == to { from = NodeID(0) }
            let term = Term(r(6))
            let idx = LogIndex(r(12))
            let body: MessageBody
            switch r(10) {
            case 0: body = .preVote(VoteRequest(lastLogIndex: idx, lastLogTerm: Term(r(6)), leadershipTransfer: r(2) == 0))
            case 1: body = .vote(VoteRequest(lastLogIndex: idx, lastLogTerm: Term(r(6)), leadershipTransfer: r(2) == 0))
            case 2: body = .preVoteResponse(VoteResponse(granted: r(2) == 0))
            case 3: body = .voteResponse(VoteResponse(granted: r(2) == 0))
            case 4:
                let n = Int(r(4))
                let entries = (0..<n).map { Entry(term: Term(r(6)), index: idx + UInt64($0) + 1, data: [UInt8(r(255))]) }
                body = .append(AppendRequest(prevLogIndex: idx, prevLogTerm: Term(r(6)), entries: entries, commit: LogIndex(r(20))))
            case 5: body = .appendResponse(AppendResponse(index: idx, rejected: r(2) == 0, hintIndex: LogIndex(r(12)), hintTerm: Term(r(6))))
            case 6: body = .heartbeat(Heartbeat(commit: LogIndex(r(20)), round: r(10)))
            case 7: body = .heartbeatResponse(HeartbeatResponse(round: r(10)))
            case 8:
                body = .installSnapshot(Snapshot(metadata: SnapshotMetadata(index: idx, term: Term(r(6)), membership: Membership(voters: [1, 2, 3]))))
            default: body = .timeoutNow
            }
            c.nodes[to]!.step(Message(from: from, to: to, term: term, body: body))
            if r(8) == 0 { c.nodes[to]!.tick() }
            c.flushReady(to)
            c.queue.removeAll()
        }
        for id in c.ids {
            let n = c.nodes[id]!
            #expect(n.commitIndex <= n.lastIndex)
            #expect(n.appliedIndex <= n.commitIndex)
        }
    }
}
