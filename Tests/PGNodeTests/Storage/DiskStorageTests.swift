import Foundation
import Testing
@testable import PGNode
import RaftCore

@Suite struct DiskStorageTests {
    @Test func emptyDirectoryOpensLikeEmptyMemoryStorage() throws {
        try withTemporaryDirectory { dir in
            let disk = try DiskStorage(directory: dir + "/new/nested", logger: quietLogger)
            expectSameAnswers(disk, MemoryStorage(), "fresh")
        }
    }

    @Test func roundTripAcrossReopen() throws {
        try withTemporaryDirectory { dir in
            let logs = CapturedLogs()
            let memory = MemoryStorage()
            do {
                let disk = try DiskStorage(directory: dir, segmentSize: 256, logger: logs.logger())
                for batch in [makeEntries(1...1, term: 1), makeEntries(2...10, term: 1), makeEntries(11...25, term: 2, size: 50)] {
                    try disk.append(batch)
                    memory.append(batch)
                }
                let hs = HardState(term: 2, vote: 3, commit: 20)
                try disk.setHardState(hs)
                memory.setHardState(hs)
                let members = Membership(voters: [1, 2, 3], learners: [4])
                try disk.createSnapshot(at: 12, membership: members, data: [1, 2, 3])
                try memory.createSnapshot(at: 12, membership: members, data: [1, 2, 3])
                expectSameAnswers(disk, memory, "before reopen")
                disk.close()
            }
            let reopened = try DiskStorage(directory: dir, segmentSize: 256, logger: logs.logger())
            expectSameAnswers(reopened, memory, "after reopen")
            #expect(try allEntries(reopened) == makeEntries(13...25, term: 2, size: 50))
            #expect(logs.warnings.isEmpty, "a clean reopen repairs nothing: \(logs.warnings.map(\.message))")
        }
    }

    @Test func overwriteSuffixAcrossSegmentBoundary() throws {
        try withTemporaryDirectory { dir in
            let disk = try DiskStorage(directory: dir, segmentSize: 200, logger: quietLogger)
            let memory = MemoryStorage()
            let first = makeEntries(1...40, term: 1)
            try disk.append(first)
            memory.append(first)
            let before = try segmentFiles(in: dir)
            #expect(before.count > 4, "small segments rotate: \(before)")
            #expect(before.first == "log-0000000000000001.seg")
            for name in before {
                let size = try fileBytes(dir + "/" + name).count
                #expect(size <= 200, "\(name) has \(size) bytes")
            }
            // Replace from index 12 (in the second segment): later segments go.
            let replacement = makeEntries(12...15, term: 2, size: 5)
            try disk.append(replacement)
            memory.append(replacement)
            expectSameAnswers(disk, memory, "after overwrite")
            let after = try segmentFiles(in: dir)
            #expect(after.count < before.count)
            func upTo12(_ names: [String]) -> [String] {
                names.filter { (LogSegment.firstIndex(fromFileName: $0) ?? 0) <= 12 }
            }
            #expect(upTo12(after) == upTo12(before), "segments up to the cut stay, later ones go: \(before) -> \(after)")
            // A second overwrite at the very start of a segment, then more appends.
            let secondStart = try #require(LogSegment.firstIndex(fromFileName: after[1]))
            let again = makeEntries(secondStart.rawValue...secondStart.rawValue + 30, term: 3)
            try disk.append(again)
            memory.append(again)
            expectSameAnswers(disk, memory, "after second overwrite")
            disk.close()
            let reopened = try DiskStorage(directory: dir, segmentSize: 200, logger: quietLogger)
            expectSameAnswers(reopened, memory, "after reopen")
        }
    }

    @Test func batchLargerThanASegmentSpansSegmentsAndSingleHugeRecordGetsItsOwn() throws {
        try withTemporaryDirectory { dir in
            let disk = try DiskStorage(directory: dir, segmentSize: 300, logger: quietLogger)
            let memory = MemoryStorage()
            let batch = makeEntries(1...50, term: 1) + [makeEntry(51, term: 1, size: 1000)] + makeEntries(52...60, term: 1)
            try disk.append(batch)
            memory.append(batch)
            let files = try segmentFiles(in: dir)
            let huge = try fileBytes(dir + "/" + LogSegment.fileName(firstIndex: 51))
            #expect(huge.count > 1000 && huge.count < 1100, "index 51 alone in its segment")
            #expect(files.count > 5)
            disk.close()
            expectSameAnswers(try DiskStorage(directory: dir, segmentSize: 300, logger: quietLogger), memory, "reopen")
        }
    }

    @Test func compactionDeletesSegmentsCoveredBySnapshot() throws {
        try withTemporaryDirectory { dir in
            let disk = try DiskStorage(directory: dir, segmentSize: 200, logger: quietLogger)
            let memory = MemoryStorage()
            let entries = makeEntries(1...60, term: 1)
            try disk.append(entries)
            memory.append(entries)
            try disk.setHardState(HardState(term: 1, vote: 1, commit: 60))  // snapshots are of committed entries
            memory.setHardState(HardState(term: 1, vote: 1, commit: 60))
            let before = try segmentFiles(in: dir)
            try disk.createSnapshot(at: 35, membership: Membership(voters: [1]), data: [9])
            try memory.createSnapshot(at: 35, membership: Membership(voters: [1]), data: [9])
            expectSameAnswers(disk, memory, "after compaction")
            let after = try segmentFiles(in: dir)
            #expect(after.count < before.count)
            // Every segment left holds an entry after the snapshot; the first one may also hold
            // some at or below it.
            let firsts = after.compactMap { LogSegment.firstIndex(fromFileName: $0) }
            #expect(firsts.count == after.count)
            #expect(firsts.first.map { $0 <= 36 } == true)
            #expect(firsts.dropFirst().allSatisfy { $0 > 36 })
            #expect(try #require(firsts.first) > 1)

            // Snapshot at the very last index: every segment goes; appending starts a new one.
            try disk.createSnapshot(at: 60, membership: Membership(voters: [1]), data: [10])
            try memory.createSnapshot(at: 60, membership: Membership(voters: [1]), data: [10])
            #expect(try segmentFiles(in: dir).isEmpty)
            try disk.append(makeEntries(61...62, term: 2))
            memory.append(makeEntries(61...62, term: 2))
            #expect(try segmentFiles(in: dir) == [LogSegment.fileName(firstIndex: 61)])
            expectSameAnswers(disk, memory, "after appending past the snapshot")
            disk.close()
            expectSameAnswers(try DiskStorage(directory: dir, segmentSize: 200, logger: quietLogger), memory, "reopen")
        }
    }

    @Test func createSnapshotErrorsMatchMemoryStorage() throws {
        try withTemporaryDirectory { dir in
            let disk = try DiskStorage(directory: dir, logger: quietLogger)
            try disk.append(makeEntries(1...5, term: 1))
            try disk.createSnapshot(at: 3, membership: Membership(), data: [])
            #expect(throws: StorageError.compacted) { try disk.createSnapshot(at: 3, membership: Membership(), data: []) }
            #expect(throws: StorageError.unavailable) { try disk.createSnapshot(at: 6, membership: Membership(), data: []) }
        }
    }

    @Test func applySnapshotReplacesEverything() throws {
        try withTemporaryDirectory { dir in
            let disk = try DiskStorage(directory: dir, segmentSize: 200, logger: quietLogger)
            let memory = MemoryStorage()
            try disk.append(makeEntries(1...30, term: 1))
            memory.append(makeEntries(1...30, term: 1))
            try disk.setHardState(HardState(term: 1, vote: 1, commit: 5))
            memory.setHardState(HardState(term: 1, vote: 1, commit: 5))
            let snap = Snapshot(metadata: SnapshotMetadata(index: 20, term: 3, membership: Membership(voters: [1, 2, 3])),
                                data: Array(repeating: 7, count: 1000))
            try disk.applySnapshot(snap)
            memory.applySnapshot(snap)
            expectSameAnswers(disk, memory, "after applySnapshot")
            #expect(try segmentFiles(in: dir).isEmpty)
            try disk.append(makeEntries(21...25, term: 3))
            memory.append(makeEntries(21...25, term: 3))
            disk.close()
            let reopened = try DiskStorage(directory: dir, segmentSize: 200, logger: quietLogger)
            expectSameAnswers(reopened, memory, "after reopen")
            // A snapshot from the leader below our last index also drops everything.
            let older = Snapshot(metadata: SnapshotMetadata(index: 22, term: 3, membership: Membership(voters: [1, 2])), data: [1])
            try reopened.applySnapshot(older)
            memory.applySnapshot(older)
            expectSameAnswers(reopened, memory, "after second applySnapshot")
        }
    }

    @Test func persistWritesSnapshotEntriesAndHardState() throws {
        try withTemporaryDirectory { dir in
            let memory = MemoryStorage()
            do {
                let disk = try DiskStorage(directory: dir, logger: quietLogger)
                try disk.append(makeEntries(1...3, term: 1))
                memory.append(makeEntries(1...3, term: 1))
                var ready = Ready()
                ready.snapshot = Snapshot(metadata: SnapshotMetadata(index: 10, term: 2, membership: Membership(voters: [1, 2])), data: [1])
                ready.entries = makeEntries(11...14, term: 2)
                ready.hardState = HardState(term: 2, vote: 2, commit: 12)
                try disk.persist(ready)
                try memory.persist(ready)
                expectSameAnswers(disk, memory, "after persist")
                try disk.persist(Ready())
                disk.close()
            }
            expectSameAnswers(try DiskStorage(directory: dir, logger: quietLogger), memory, "after reopen")
        }
    }

    @Test func persistDefersCommitOnlyHardStateChanges() throws {
        try withTemporaryDirectory { dir in
            do {
                let disk = try DiskStorage(directory: dir, logger: quietLogger)
                try disk.persist(Ready(hardState: HardState(term: 3, vote: 1, commit: 0), entries: makeEntries(1...5, term: 3)))
                try disk.persist(Ready(hardState: HardState(term: 3, vote: 1, commit: 4)))
                #expect(disk.hardState.commit == 4, "visible at once")
                disk.close()
            }
            let reopened = try DiskStorage(directory: dir, logger: quietLogger)
            #expect(reopened.hardState.term == 3 && reopened.hardState.vote == 1)
            #expect(reopened.hardState.commit == 0, "a commit-only change is not written on its own")
            try reopened.persist(Ready(hardState: HardState(term: 4, vote: nil, commit: 5)))
            reopened.close()
            #expect(try DiskStorage(directory: dir, logger: quietLogger).hardState == HardState(term: 4, vote: nil, commit: 5))
        }
    }

    @Test func hardStateSurvivesReopenAndLeftoverTempFilesAreIgnored() throws {
        try withTemporaryDirectory { dir in
            let logs = CapturedLogs()
            let hs = HardState(term: 7, vote: 2, commit: 0)
            do {
                let disk = try DiskStorage(directory: dir, logger: logs.logger())
                try disk.setHardState(hs)
                try disk.setHardState(hs)  // unchanged: nothing written
                disk.close()
            }
            // A crash in the middle of replacing the hard state leaves a torn temp file.
            try writeFile(dir + "/hardstate.tmp", [0, 0, 0, 9, 1, 2])
            try writeFile(dir + "/snapshot.tmp", [0xFF])
            let disk = try DiskStorage(directory: dir, logger: logs.logger())
            #expect(disk.hardState == hs)
            #expect(try disk.initialState().0 == hs)
            #expect(!FileManager.default.fileExists(atPath: dir + "/hardstate.tmp"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/snapshot.tmp"))
            #expect(logs.warnings.contains { $0.metadata["storage.file"]?.hasSuffix("hardstate.tmp") == true })
        }
    }

    @Test func damagedHardStateOrSnapshotThrowsNamingTheFile() throws {
        try withTemporaryDirectory { dir in
            do {
                let disk = try DiskStorage(directory: dir, logger: quietLogger)
                try disk.setHardState(HardState(term: 3, vote: 1, commit: 0))
                try disk.append(makeEntries(1...3, term: 3))
                try disk.createSnapshot(at: 2, membership: Membership(voters: [1]), data: [1, 2, 3, 4])
                disk.close()
            }
            for name in ["hardstate", "snapshot"] {
                let path = dir + "/" + name
                let good = try fileBytes(path)
                var bad = good
                bad[bad.count - 1] ^= 0x40
                try writeFile(path, bad)
                let error = try #require(throws: DiskStorageError.self) { try DiskStorage(directory: dir, logger: quietLogger) }
                #expect("\(error)".contains(path), "\(error)")
                #expect("\(error)".contains("CRC32C mismatch"), "\(error)")
                try writeFile(path, [])
                let empty = try #require(throws: DiskStorageError.self) { try DiskStorage(directory: dir, logger: quietLogger) }
                #expect("\(empty)".contains(path) && "\(empty)".contains("offset 0"), "\(empty)")
                try writeFile(path, good)
            }
            _ = try DiskStorage(directory: dir, logger: quietLogger)
        }
    }

    @Test func directoryHasOneOwner() throws {
        try withTemporaryDirectory { dir in
            let disk = try DiskStorage(directory: dir, logger: quietLogger)
            #expect(throws: DiskStorageError.directoryInUse(directory: dir)) { try DiskStorage(directory: dir, logger: quietLogger) }
            disk.close()
            #expect(throws: DiskStorageError.closed(directory: dir)) { try disk.append(makeEntries(1...1, term: 1)) }
            _ = try DiskStorage(directory: dir, logger: quietLogger)
        }
    }

    @Test func invalidAppendsThrowAndWriteNothing() throws {
        try withTemporaryDirectory { dir in
            let disk = try DiskStorage(directory: dir, logger: quietLogger)
            try disk.append(makeEntries(1...3, term: 1))
            let gap = #expect(throws: DiskStorageError.self) { try disk.append(makeEntries(5...6, term: 1)) }
            #expect(gap.map { "\($0)".contains("gap") } == true)
            #expect(throws: DiskStorageError.self) { try disk.append([makeEntry(4, term: 1), makeEntry(6, term: 1)]) }
            #expect(throws: DiskStorageError.self) { try disk.append([Entry(term: Term(UInt64.max), index: 4)]) }
            #expect(throws: DiskStorageError.self) {
                try disk.setHardState(HardState(term: Term(UInt64.max), vote: nil, commit: 0))
            }
            #expect(disk.lastIndex() == 3)
            try disk.append(makeEntries(4...4, term: 1))  // still writable: nothing was half-written
            disk.close()
            #expect(try DiskStorage(directory: dir, logger: quietLogger).lastIndex() == 4)
        }
    }

    @Test func initialMembershipBootstrapsOnlyANewDirectory() throws {
        try withTemporaryDirectory { dir in
            let members = Membership(voters: [1, 2, 3])
            do {
                let disk = try DiskStorage(directory: dir, initialMembership: members, logger: quietLogger)
                #expect(try disk.initialState().1 == members)
                disk.close()
            }
            let reopened = try DiskStorage(directory: dir, initialMembership: Membership(voters: [9]), logger: quietLogger)
            #expect(try reopened.initialState().1 == members)
            #expect(reopened.latestSnapshot.metadata.index == .zero)
        }
    }

    @Test func interruptedSnapshotInstallIsFinishedOnOpen() throws {
        try withTemporaryDirectory { dir in
            let logs = CapturedLogs()
            do {
                let disk = try DiskStorage(directory: dir, segmentSize: 200, logger: quietLogger)
                try disk.append(makeEntries(1...30, term: 1))
                disk.close()
            }
            // As if the node crashed right after `snapshot.pending` became durable.
            let snap = Snapshot(metadata: SnapshotMetadata(index: 5, term: 4, membership: Membership(voters: [1, 2])), data: [4, 2])
            try writeFile(dir + "/snapshot.pending", try DiskStorage.encodeSnapshotFile(snap))
            let disk = try DiskStorage(directory: dir, segmentSize: 200, logger: logs.logger())
            let memory = MemoryStorage()
            memory.append(makeEntries(1...30, term: 1))
            memory.applySnapshot(snap)
            expectSameAnswers(disk, memory, "after finishing the install")
            #expect(try segmentFiles(in: dir).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: dir + "/snapshot.pending"))
            #expect(logs.warnings.contains { $0.message.contains("install") })
        }
    }

    @Test func interruptedCompactionIsFinishedOnOpen() throws {
        try withTemporaryDirectory { dir in
            let logs = CapturedLogs()
            do {
                let disk = try DiskStorage(directory: dir, segmentSize: 200, logger: quietLogger)
                try disk.append(makeEntries(1...60, term: 1))
                try disk.setHardState(HardState(term: 1, vote: 1, commit: 60))
                disk.close()
            }
            let segmentsBefore = try segmentFiles(in: dir)
            // As if the node crashed after writing the snapshot, before deleting segments.
            let snap = Snapshot(metadata: SnapshotMetadata(index: 33, term: 1, membership: Membership(voters: [1])), data: [3])
            try writeFile(dir + "/snapshot", try DiskStorage.encodeSnapshotFile(snap))
            let disk = try DiskStorage(directory: dir, segmentSize: 200, logger: logs.logger())
            let memory = MemoryStorage()
            memory.append(makeEntries(1...60, term: 1))
            memory.setHardState(HardState(term: 1, vote: 1, commit: 60))
            try memory.createSnapshot(at: 33, membership: Membership(voters: [1]), data: [3])
            expectSameAnswers(disk, memory, "after open")
            #expect(try segmentFiles(in: dir).count < segmentsBefore.count)
            #expect(logs.warnings.contains { $0.metadata["storage.segments_removed"] != nil })

            // Snapshot beyond the end of every segment: all are removed.
            disk.close()
            let all = Snapshot(metadata: SnapshotMetadata(index: 70, term: 2, membership: Membership(voters: [1])), data: [])
            try writeFile(dir + "/snapshot", try DiskStorage.encodeSnapshotFile(all))
            let again = try DiskStorage(directory: dir, segmentSize: 200, logger: quietLogger)
            #expect(try segmentFiles(in: dir).isEmpty)
            #expect(again.firstIndex() == 71 && again.lastIndex() == 70)
        }
    }

    @Test func snapshotTermDisagreeingWithLogThrows() throws {
        try withTemporaryDirectory { dir in
            do {
                let disk = try DiskStorage(directory: dir, logger: quietLogger)
                try disk.append(makeEntries(1...10, term: 1))
                disk.close()
            }
            let snap = Snapshot(metadata: SnapshotMetadata(index: 5, term: 9, membership: Membership(voters: [1])), data: [])
            try writeFile(dir + "/snapshot", try DiskStorage.encodeSnapshotFile(snap))
            let error = try #require(throws: DiskStorageError.self) { try DiskStorage(directory: dir, logger: quietLogger) }
            #expect("\(error)".contains("term 1 but the snapshot has term 9"), "\(error)")
        }
    }

    /// A seeded random mix of every write, checked against `MemoryStorage` after each
    /// operation and after each reopen.
    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func behavesLikeMemoryStorage(seed: UInt64) throws {
        try withTemporaryDirectory { dir in
            var rng = TestRandom(seed: seed)
            let segmentSize = 64 + Int(rng.next(below: 400))
            var disk = try DiskStorage(directory: dir, segmentSize: segmentSize, logger: quietLogger)
            let memory = MemoryStorage()
            var term: UInt64 = 1
            for step in 0..<300 {
                let first = memory.firstIndex().rawValue, last = memory.lastIndex().rawValue
                let op = rng.next(below: 100)
                var what: String
                switch op {
                case 0..<40:  // append at the end
                    let n = 1 + rng.next(below: 6)
                    let batch = (last + 1 ... last + n).map { makeEntry($0, term: term, size: Int(rng.next(below: 90))) }
                    what = "append \(last + 1)...\(last + n)"
                    try disk.append(batch)
                    memory.append(batch)
                case 40..<55:  // overwrite a suffix with a new term, possibly starting below the snapshot
                    // As in Raft, committed entries are never replaced (recovery refuses a log
                    // that ends before the durable commit index): a batch that starts at or
                    // below the commit index repeats the entries there and reaches past it.
                    term += 1
                    let commit = memory.hardState.commit.rawValue
                    let start = max(1, max(first + rng.next(below: last + 3 - first), 2) - 2)
                    let end = max(start + rng.next(below: 8), commit)
                    let batch = (start...end).map { i in
                        i <= commit && i >= first ? (try? memory.entries(from: LogIndex(i), to: LogIndex(i + 1), maxBytes: .max).first)
                            ?? makeEntry(i, term: term) : makeEntry(i, term: term, size: Int(rng.next(below: 90)))
                    }
                    what = "overwrite \(start)...\(end) t\(term)"
                    try disk.append(batch)
                    memory.append(batch)
                case 55..<70:
                    let commit = LogIndex(first - 1 + rng.next(below: last + 2 - first))
                    let hs = HardState(term: Term(term), vote: rng.next(below: 2) == 0 ? nil : NodeID(1 + rng.next(below: 3)),
                                       commit: max(commit, memory.hardState.commit))
                    what = "hard state \(hs)"
                    try disk.setHardState(hs)
                    memory.setHardState(hs)
                case 70..<82:  // snapshot at or below the commit index
                    let commit = min(memory.hardState.commit.rawValue, last)
                    guard commit >= first else { what = "no snapshot possible"; break }
                    let at = LogIndex(first + rng.next(below: commit - first + 1))
                    let data = (0..<rng.next(below: 50)).map { UInt8(truncatingIfNeeded: $0 &+ seed) }
                    what = "createSnapshot at \(at)"
                    try disk.createSnapshot(at: at, membership: Membership(voters: [1, 2]), data: data)
                    try memory.createSnapshot(at: at, membership: Membership(voters: [1, 2]), data: data)
                case 82..<88:  // a leader's snapshot, somewhere around our log's end
                    term += 1
                    let at = LogIndex(max(first + 2, last + rng.next(below: 6)) - 2 + rng.next(below: 3))
                    let snap = Snapshot(metadata: SnapshotMetadata(index: max(at, memory.firstIndex()), term: Term(term),
                                                                   membership: Membership(voters: [1, 2, 3])),
                                        data: [UInt8(truncatingIfNeeded: step)])
                    what = "applySnapshot at \(snap.metadata.index)"
                    try disk.applySnapshot(snap)
                    memory.applySnapshot(snap)
                default:
                    what = "reopen"
                    disk.close()
                    disk = try DiskStorage(directory: dir, segmentSize: segmentSize, logger: quietLogger)
                }
                expectSameAnswers(disk, memory, "seed \(seed) step \(step): \(what)")
            }
            disk.close()
            expectSameAnswers(try DiskStorage(directory: dir, segmentSize: segmentSize, logger: quietLogger), memory, "final reopen")
        }
    }
}

/// SplitMix64, for seeded test inputs.
struct TestRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform enough in `0..<bound` (`bound` > 0).
    mutating func next(below bound: UInt64) -> UInt64 { next() % max(bound, 1) }
}
