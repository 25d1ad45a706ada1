import Testing
@testable import RaftCore

/// Log compaction and InstallSnapshot (RaftNode+Snapshot.swift), and MemoryStorage itself.
@Suite struct SnapshotTests {
    static let three = Membership(voters: [1, 2, 3])

    /// Leader 1 in [1,2,3]; 3 was isolated while c, d, e were committed; the leader then
    /// compacted its log through e and committed f, g. Links are healed, nothing is in flight.
    private static func laggingFollowerBehindCompaction() throws -> (TestCluster, LogIndex) {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "a")
        try c.propose(1, "b")
        c.stabilize()
        c.isolate(3)
        for s in ["c", "d", "e"] { try c.propose(1, s) }
        c.stabilize()
        let snapIndex = c[1].appliedIndex
        #expect(snapIndex == c[1].commitIndex && snapIndex == c[1].lastIndex)
        let m = try #require(c[1].membership(atIndex: snapIndex))
        try c.storages[1]!.createSnapshot(at: snapIndex, membership: m, data: [9, 9])
        #expect(c.storages[1]!.firstIndex() == snapIndex + 1)
        try c.propose(1, "f")
        try c.propose(1, "g")
        c.stabilize()
        #expect(c[3].lastIndex < snapIndex)
        c.heal()
        return (c, snapIndex)
    }

    private static func installSnapshot(_ s: Snapshot, from: UInt64 = 1, to: UInt64, term: Term) -> Message {
        Message(from: NodeID(from), to: NodeID(to), term: term, body: .installSnapshot(s))
    }

    private static func appendResponses(_ c: TestCluster, since mark: Int, from: UInt64) -> [AppendResponse] {
        c.sentSince(mark, kind: "appendResponse").compactMap { m in
            if m.from == NodeID(from), case .appendResponse(let r) = m.body { return r }
            return nil
        }
    }

    // MARK: InstallSnapshot end to end

    @Test func laggingFollowerInstallsSnapshotThenCatchesUp() throws {
        var (c, snapIndex) = try Self.laggingFollowerBehindCompaction()
        let mark = c.sent.count
        var states: [Progress.State] = []
        c.tick(1)  // a heartbeat round reaches 3, which answers
        c.snapRunUntilQuiet { c in states.append(c[1].tracker.progress[3]!.state) }

        let installs = c.sentSince(mark, kind: "installSnapshot")
        #expect(installs.count == 1)
        #expect(installs.first?.to == 3)
        if case .installSnapshot(let s)? = installs.first?.body {
            #expect(s.metadata.index == snapIndex)
            #expect(s.data == [9, 9])
            #expect(s.metadata.membership == Self.three)
        }
        let applied = try #require(c.snapshotsApplied[3])
        #expect(applied.map(\.metadata.index) == [snapIndex])
        #expect(c.storages[3]!.latestSnapshot.metadata.index == snapIndex)
        #expect(c.storages[3]!.firstIndex() == snapIndex + 1)

        // Then the entries after the snapshot, which it applies (and only those).
        #expect(c[3].lastIndex == c[1].lastIndex)
        #expect(c[3].commitIndex == c[1].commitIndex)
        #expect(c[3].appliedIndex == c[1].appliedIndex)
        #expect(c.appliedStrings(3) == ["a", "b", "f", "g"])
        #expect(c.applied[3]!.filter { $0.index > snapIndex }.map(\.index)
                == ((snapIndex.rawValue + 1)...c[1].lastIndex.rawValue).map { LogIndex($0) })
        #expect(c[3].membership == Self.three)

        // The leader's view went through snapshot and ends replicating.
        let firstSnapshot = try #require(states.firstIndex(of: .snapshot))
        #expect(states[firstSnapshot...].contains(.replicate))
        #expect(states.last == .replicate)
        #expect(c[1].status.followers[3]?.state == "replicate")
        #expect(c[1].status.followers[3]?.match == c[1].lastIndex)

        // And it keeps replicating normally.
        try c.propose(1, "h")
        c.stabilize()
        #expect(c.appliedStrings(3) == ["a", "b", "f", "g", "h"])
    }

    @Test func snapshotOlderThanTheCommitIndexIsNotInstalled() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        for s in ["a", "b", "c"] { try c.propose(1, s) }
        c.stabilize()
        let commit = c[2].commitIndex
        let last = c[2].lastIndex
        #expect(commit == 4)

        let mark = c.sent.count
        let old = Snapshot(metadata: SnapshotMetadata(index: 2, term: c[2].currentTerm, membership: Self.three), data: [1])
        c[2].step(Self.installSnapshot(old, to: 2, term: c[2].currentTerm))
        c.flushReady(2)

        #expect(c.snapshotsApplied[2] == nil)
        #expect(c.storages[2]!.latestSnapshot.isEmpty)
        #expect(c.storages[2]!.firstIndex() == 1)
        #expect(c[2].lastIndex == last)
        #expect(c[2].commitIndex == commit)
        let answers = Self.appendResponses(c, since: mark, from: 2)
        #expect(answers == [AppendResponse(index: commit)])
        #expect(c.sentSince(mark, kind: "appendResponse").first?.to == 1)
    }

    /// Even a snapshot whose term at its index disagrees with the follower's committed entry
    /// is not installed when it lies at or below the commit index: committed state never
    /// goes backwards.
    @Test func snapshotBelowTheCommitIndexWithAnotherTermIsNotInstalled() throws {
        var c = TestCluster([1, 2, 3])
        let t1 = [Entry(term: 1, index: 1, data: [1]), Entry(term: 1, index: 2, data: [2])]
        c[2].step(Message(from: 1, to: 2, term: 1,
                          body: .append(AppendRequest(prevLogIndex: .zero, prevLogTerm: .zero, entries: t1, commit: 2))))
        let t2 = [Entry(term: 2, index: 3, data: [3]), Entry(term: 2, index: 4, data: [4])]
        c[2].step(Message(from: 3, to: 2, term: 2,
                          body: .append(AppendRequest(prevLogIndex: 2, prevLogTerm: 1, entries: t2, commit: 4))))
        c.flushReady(2)
        #expect(c[2].commitIndex == 4)
        #expect(c[2].currentTerm == 2)

        let mark = c.sent.count
        let snap = Snapshot(metadata: SnapshotMetadata(index: 2, term: 2, membership: Self.three), data: [0])
        c[2].step(Self.installSnapshot(snap, from: 3, to: 2, term: 2))
        c.flushReady(2)
        #expect(c.snapshotsApplied[2] == nil)
        #expect(c[2].commitIndex == 4)
        #expect(c[2].lastIndex == 4)
        #expect(c[2].term(at: 2) == 1)
        #expect(Self.appendResponses(c, since: mark, from: 2) == [AppendResponse(index: 4)])
    }

    @Test func snapshotWhoseLastEntryTheFollowerHasOnlyMovesTheCommitIndex() throws {
        var c = TestCluster([1, 2, 3])
        let entries = ["x", "y", "z"].enumerated().map {
            Entry(term: 1, index: LogIndex(UInt64($0.offset + 1)), data: Array($0.element.utf8))
        }
        c[2].step(Message(from: 1, to: 2, term: 1,
                          body: .append(AppendRequest(prevLogIndex: .zero, prevLogTerm: .zero, entries: entries, commit: 1))))
        c.flushReady(2)
        #expect(c[2].lastIndex == 3)
        #expect(c[2].commitIndex == 1)

        let mark = c.sent.count
        let snap = Snapshot(metadata: SnapshotMetadata(index: 3, term: 1, membership: Self.three), data: [7])
        c[2].step(Self.installSnapshot(snap, to: 2, term: 1))
        c.flushReady(2)

        #expect(c[2].commitIndex == 3)
        #expect(c.snapshotsApplied[2] == nil)
        #expect(c.storages[2]!.latestSnapshot.isEmpty)
        #expect(c.storages[2]!.firstIndex() == 1)
        #expect(c.storages[2]!.lastIndex() == 3)
        // The entries are applied from the log, not replaced by the snapshot.
        #expect(c.appliedStrings(2) == ["x", "y", "z"])
        #expect(Self.appendResponses(c, since: mark, from: 2) == [AppendResponse(index: 3)])
    }

    @Test func malformedSnapshotsAreDroppedAndCounted() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        let term = c[2].currentTerm
        let last = c[2].lastIndex
        let bad: [SnapshotMetadata] = [
            SnapshotMetadata(index: .zero, term: term, membership: Self.three),
            SnapshotMetadata(index: 10, term: term, membership: Membership()),
            SnapshotMetadata(index: 10, term: term, membership: Membership(learners: [1, 2, 3])),
            SnapshotMetadata(index: 10, term: term.next, membership: Self.three),
            SnapshotMetadata(index: 10, term: .zero, membership: Self.three),
        ]
        for (i, meta) in bad.enumerated() {
            let before = c[2].counters.droppedMalformed
            let mark = c.sent.count
            c[2].step(Self.installSnapshot(Snapshot(metadata: meta, data: [1]), to: 2, term: term))
            c.flushReady(2)
            #expect(c[2].counters.droppedMalformed == before + 1, "case \(i): \(meta)")
            #expect(c.sentSince(mark, kind: "appendResponse").isEmpty, "case \(i) was answered")
            #expect(c.snapshotsApplied[2] == nil, "case \(i) was installed")
            #expect(c[2].lastIndex == last)
            #expect(c[2].currentTerm == term)
        }

        // The same message with valid metadata is installed: the drops were about the fields.
        let before = c[2].counters.droppedMalformed
        let good = Snapshot(metadata: SnapshotMetadata(index: 10, term: term, membership: Self.three), data: [1])
        c[2].step(Self.installSnapshot(good, to: 2, term: term))
        c.flushReady(2)
        #expect(c[2].counters.droppedMalformed == before)
        #expect(c.snapshotsApplied[2]?.map(\.metadata.index) == [10])
        #expect(c[2].lastIndex == 10)
    }

    @Test func failedSnapshotReportMovesProgressBackToProbeAndItIsResent() throws {
        var (c, snapIndex) = try Self.laggingFollowerBehindCompaction()
        c.tick(1)
        c.snapRunUntil { $0[1].tracker.progress[3]!.state == .snapshot }
        #expect(c[1].tracker.progress[3]!.state == .snapshot)
        #expect(c[1].tracker.progress[3]!.pendingSnapshot == snapIndex)
        // The send failed: the message never arrives.
        c.queue.removeAll { $0.body.kind == "installSnapshot" }
        c[1].reportSnapshot(to: 3, succeeded: false)
        #expect(c[1].tracker.progress[3]!.state == .probe)
        #expect(c[1].status.followers[3]?.state == "probe")
        #expect(c[1].tracker.progress[3]!.pendingSnapshot == .zero)
        #expect(c.snapshotsApplied[3] == nil)

        // The next heartbeat answer makes the leader try again, and 3 catches up.
        let mark = c.sent.count
        c.tickAll(times: 1)
        #expect(c.sentSince(mark, kind: "installSnapshot").count == 1)
        c.stabilize()
        #expect(c.snapshotsApplied[3]?.map(\.metadata.index) == [snapIndex])
        #expect(c[3].lastIndex == c[1].lastIndex)
        #expect(c[1].tracker.progress[3]!.state == .replicate)
        #expect(c.appliedStrings(3) == ["a", "b", "f", "g"])
    }

    @Test func successfulSnapshotReportWaitsForTheFollowersAnswer() throws {
        var (c, snapIndex) = try Self.laggingFollowerBehindCompaction()
        c.tick(1)
        c.snapRunUntil { $0[1].tracker.progress[3]!.state == .snapshot }
        c[1].reportSnapshot(to: 3, succeeded: true)
        let pr = c[1].tracker.progress[3]!
        #expect(pr.state == .probe)
        #expect(pr.next == snapIndex + 1)
        #expect(pr.isPaused)
        c.stabilize()
        #expect(c[1].tracker.progress[3]!.state == .replicate)
        #expect(c[3].lastIndex == c[1].lastIndex)
        #expect(c.appliedStrings(3) == ["a", "b", "f", "g"])
    }

    @Test func lostSnapshotIsRetriedAfterAnElectionTimeout() throws {
        var (c, snapIndex) = try Self.laggingFollowerBehindCompaction()
        let electionTicks = c[1].config.electionTicks
        c.tick(1)
        c.snapRunUntil { $0[1].tracker.progress[3]!.state == .snapshot }
        #expect(c[1].tracker.progress[3]!.state == .snapshot)
        c.queue.removeAll { $0.body.kind == "installSnapshot" }  // lost on the way

        // Heartbeat answers keep coming, but the leader waits an election timeout.
        let mark = c.sent.count
        c.tickAll(times: electionTicks - 1)
        #expect(c.sentSince(mark, kind: "installSnapshot").isEmpty)
        #expect(c[1].tracker.progress[3]!.state == .snapshot)
        #expect(c.sentSince(mark, kind: "heartbeatResponse").contains { $0.from == 3 })

        c.tickAll(times: 1)
        let retries = c.sentSince(mark, kind: "installSnapshot")
        #expect(retries.count == 1)
        #expect(retries.first?.to == 3)
        c.stabilize()
        #expect(c.snapshotsApplied[3]?.map(\.metadata.index) == [snapIndex])
        #expect(c[3].lastIndex == c[1].lastIndex)
        #expect(c[1].tracker.progress[3]!.state == .replicate)
    }

    // MARK: MemoryStorage

    private static func entries(_ range: ClosedRange<UInt64>, term: Term = 1, bytes: Int = 10) -> [Entry] {
        range.map { Entry(term: term, index: LogIndex($0), data: [UInt8](repeating: UInt8($0 % 251), count: bytes)) }
    }

    @Test func storageAppendOverwritesTheSuffix() throws {
        let s = MemoryStorage(membership: Self.three)
        s.append(Self.entries(1...5))
        #expect(s.firstIndex() == 1)
        #expect(s.lastIndex() == 5)
        s.append(Self.entries(3...4, term: 2))
        #expect(s.lastIndex() == 4)
        #expect(try s.term(of: 2) == 1)
        #expect(try s.term(of: 3) == 2)
        #expect(try s.term(of: 4) == 2)
        #expect(throws: StorageError.unavailable) { try s.term(of: 5) }
        // Appending right after the end extends it.
        s.append(Self.entries(5...6, term: 2))
        #expect(s.lastIndex() == 6)
        let all = try s.entries(from: 1, to: 7, maxBytes: .max)
        #expect(all.map(\.term) == [1, 1, 2, 2, 2, 2])
        #expect(all.map(\.index) == [1, 2, 3, 4, 5, 6])
        // An empty append changes nothing.
        s.append([])
        #expect(s.lastIndex() == 6)
    }

    @Test func storageCompactionAndSnapshots() throws {
        let s = MemoryStorage(membership: Self.three)
        s.append(Self.entries(1...3, term: 1) + Self.entries(4...6, term: 2))
        let m = Membership(voters: [1, 2, 3], learners: [4])
        try s.createSnapshot(at: 4, membership: m, data: [42])
        #expect(s.firstIndex() == 5)
        #expect(s.lastIndex() == 6)
        #expect(s.latestSnapshot.metadata == SnapshotMetadata(index: 4, term: 2, membership: m))
        #expect(s.latestSnapshot.data == [42])
        #expect(try s.snapshot() == s.latestSnapshot)
        #expect(try s.initialState().1 == m)
        // term(of: firstIndex - 1) answers with the snapshot's term.
        #expect(try s.term(of: 4) == 2)
        #expect(throws: StorageError.compacted) { try s.term(of: 3) }
        #expect(throws: StorageError.compacted) { try s.entries(from: 4, to: 6, maxBytes: .max) }
        #expect(try s.entries(from: 5, to: 7, maxBytes: .max).map(\.index) == [5, 6])
        // A snapshot at or before the current one, or past the end, is refused.
        #expect(throws: StorageError.compacted) { try s.createSnapshot(at: 4, membership: m, data: []) }
        #expect(throws: StorageError.compacted) { try s.createSnapshot(at: 2, membership: m, data: []) }
        #expect(throws: StorageError.unavailable) { try s.createSnapshot(at: 7, membership: m, data: []) }
        // Appending entries the snapshot covers ignores them.
        s.append(Self.entries(3...6, term: 2))
        #expect(s.firstIndex() == 5)
        #expect(s.lastIndex() == 6)
        // compact(through:) past the end stops at the last entry.
        s.compact(through: 100)
        #expect(s.firstIndex() == 7)
        #expect(s.lastIndex() == 6)
        #expect(try s.term(of: 6) == 2)
        #expect(throws: StorageError.compacted) { try s.term(of: 5) }
        #expect(try s.entries(from: 7, to: 7, maxBytes: .max).isEmpty)
        s.append(Self.entries(7...7, term: 3))
        #expect(try s.term(of: 7) == 3)
    }

    @Test func storageApplySnapshotReplacesEverything() throws {
        let s = MemoryStorage(membership: Self.three)
        s.append(Self.entries(1...3))
        s.setHardState(HardState(term: 1, vote: 2, commit: 2))
        let snap = Snapshot(metadata: SnapshotMetadata(index: 10, term: 3, membership: Membership(voters: [1, 2])), data: [5])
        s.applySnapshot(snap)
        #expect(s.firstIndex() == 11)
        #expect(s.lastIndex() == 10)
        #expect(try s.term(of: 10) == 3)
        #expect(throws: StorageError.compacted) { try s.term(of: 3) }
        #expect(s.hardState.commit == 10)
        #expect(s.hardState.vote == 2)
        #expect(try s.initialState().1 == Membership(voters: [1, 2]))
    }

    @Test func storageEntriesRespectsTheByteLimitButReturnsAtLeastOne() throws {
        let s = MemoryStorage(membership: Self.three)
        s.append(Self.entries(1...5, bytes: 10))  // 26 bytes each
        let size = Self.entries(1...1, bytes: 10)[0].byteSize
        #expect(size == 26)
        #expect(try s.entries(from: 1, to: 6, maxBytes: 0).map(\.index) == [1])
        #expect(try s.entries(from: 1, to: 6, maxBytes: 1).map(\.index) == [1])
        #expect(try s.entries(from: 1, to: 6, maxBytes: size).map(\.index) == [1])
        #expect(try s.entries(from: 1, to: 6, maxBytes: 2 * size - 1).map(\.index) == [1])
        #expect(try s.entries(from: 1, to: 6, maxBytes: 2 * size).map(\.index) == [1, 2])
        #expect(try s.entries(from: 2, to: 6, maxBytes: 3 * size + 5).map(\.index) == [2, 3, 4])
        #expect(try s.entries(from: 1, to: 6, maxBytes: .max).map(\.index) == [1, 2, 3, 4, 5])
        #expect(try s.entries(from: 2, to: 4, maxBytes: .max).map(\.index) == [2, 3])
        #expect(try s.entries(from: 3, to: 3, maxBytes: .max).isEmpty)
        #expect(throws: StorageError.unavailable) { try s.entries(from: 1, to: 7, maxBytes: .max) }
        #expect(throws: StorageError.compacted) { try s.entries(from: 0, to: 2, maxBytes: .max) }
    }

    @Test func storageTermErrors() throws {
        let s = MemoryStorage(membership: Self.three)
        #expect(try s.term(of: 0) == .zero)
        #expect(throws: StorageError.unavailable) { try s.term(of: 1) }
        s.append(Self.entries(1...4, term: 2))
        #expect(try s.term(of: 4) == 2)
        #expect(throws: StorageError.unavailable) { try s.term(of: 5) }
        s.compact(through: 2)
        #expect(try s.term(of: 2) == 2)
        #expect(throws: StorageError.compacted) { try s.term(of: 1) }
        #expect(throws: StorageError.compacted) { try s.term(of: 0) }
    }
}

private extension TestCluster {
    /// Delivers messages one at a time (handling Readies in between) until nothing is left,
    /// calling `observe` after each delivery.
    mutating func snapRunUntilQuiet(maxSteps: Int = 10_000, _ observe: (TestCluster) -> Void) {
        var steps = 0
        while steps < maxSteps {
            flushAll()
            if queue.isEmpty { return }
            deliverNext()
            observe(self)
            steps += 1
        }
    }

    /// Delivers messages one at a time until `done` holds or nothing is left.
    mutating func snapRunUntil(maxSteps: Int = 10_000, _ done: (TestCluster) -> Bool) {
        var steps = 0
        while steps < maxSteps && !done(self) {
            flushAll()
            if done(self) || queue.isEmpty { return }
            deliverNext()
            steps += 1
        }
        flushAll()
    }
}
