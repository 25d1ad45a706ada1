import Testing
@testable import RaftCore

@Suite struct QuorumTests {
    @Test func committedValueIsTheMajorityMinimum() {
        let voters: Set<NodeID> = [1, 2, 3]
        let matches: [NodeID: UInt64] = [1: 5, 2: 3, 3: 9]
        #expect(Quorum.committedValue(voters: voters) { matches[$0]! } == 5)
        let five: Set<NodeID> = [1, 2, 3, 4, 5]
        let m5: [NodeID: UInt64] = [1: 1, 2: 2, 3: 3, 4: 4, 5: 5]
        #expect(Quorum.committedValue(voters: five) { m5[$0]! } == 3)
        let four: Set<NodeID> = [1, 2, 3, 4]
        let m4: [NodeID: UInt64] = [1: 10, 2: 8, 3: 4, 4: 2]
        // A majority of four is three: the third highest.
        #expect(Quorum.committedValue(voters: four) { m4[$0]! } == 4)
        #expect(Quorum.committedValue(voters: []) { _ in 7 } == 0)
    }

    @Test func voteResults() {
        let v: Set<NodeID> = [1, 2, 3]
        #expect(Quorum.voteResult(voters: v, votes: [1: true]) == .pending)
        #expect(Quorum.voteResult(voters: v, votes: [1: true, 2: true]) == .won)
        #expect(Quorum.voteResult(voters: v, votes: [1: true, 2: false]) == .pending)
        #expect(Quorum.voteResult(voters: v, votes: [1: true, 2: false, 3: false]) == .lost)
        // Votes from non-voters do not count.
        #expect(Quorum.voteResult(voters: v, votes: [1: true, 9: true, 8: true]) == .pending)
        let four: Set<NodeID> = [1, 2, 3, 4]
        #expect(Quorum.voteResult(voters: four, votes: [1: true, 2: true]) == .pending)
        #expect(Quorum.voteResult(voters: four, votes: [1: true, 2: false, 3: false]) == .lost)
    }

    @Test func inflightsBoundCountAndBytes() {
        var f = Inflights(maxCount: 3, maxBytes: 100)
        f.add(5, size: 10)
        f.add(7, size: 10)
        #expect(!f.isFull)
        f.add(9, size: 10)
        #expect(f.isFull)
        f.freeUpTo(6)
        #expect(f.count == 2 && !f.isFull)
        f.add(12, size: 90)
        #expect(f.isFull)  // bytes
        f.freeUpTo(100)
        #expect(f.count == 0 && f.bytes == 0)
    }

    @Test func progressProbeBacksOffToTheHint() {
        var p = Progress(next: 11, isLearner: false, maxInflight: 4, maxInflightBytes: 1 << 20)
        p.sentEntries(last: nil, bytes: 0)
        #expect(p.isPaused)
        // A stale rejection (not of the last probe) is ignored.
        let stale = p.maybeDecrease(rejected: 5, hint: 2)
        #expect(!stale)
        let moved = p.maybeDecrease(rejected: 10, hint: 3)
        #expect(moved)
        #expect(p.next == 4 && !p.isPaused)
        let updated = p.maybeUpdate(4)
        #expect(updated)
        p.becomeReplicate()
        p.sentEntries(last: 8, bytes: 10)
        #expect(p.next == 9)
        // In replicate state, a rejection at or below match is stale.
        let staleReplicate = p.maybeDecrease(rejected: 3, hint: 0)
        #expect(!staleReplicate)
    }
}
