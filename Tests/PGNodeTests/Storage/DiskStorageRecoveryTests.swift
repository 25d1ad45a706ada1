import Foundation
import Testing
@testable import PGNode
import RaftCore

/// Crashes and damage: what recovery cuts, and what it refuses to cut.
@Suite struct DiskStorageRecoveryTests {
    /// Appends in several batches of varied sizes (three or more segments of at most 1 KiB),
    /// returning everything written.
    static func writeLog(_ dir: String, hardState: HardState = HardState(term: 2, vote: 1, commit: 3)) throws -> [Entry] {
        let disk = try DiskStorage(directory: dir, segmentSize: 1024, logger: quietLogger)
        var all: [Entry] = []
        var next: UInt64 = 1
        for (n, size) in [(5, 30), (1, 0), (14, 45), (2, 200), (9, 7), (1, 90), (6, 33), (10, 60), (3, 150), (8, 25), (4, 40)] {
            let batch = (next..<next + UInt64(n)).map { makeEntry($0, term: 2, size: size) }
            try disk.append(batch)
            all += batch
            next += UInt64(n)
        }
        try disk.setHardState(hardState)
        disk.close()
        return all
    }

    /// For every byte offset `k` of the last segment: the directory as if the file had been
    /// cut at `k` (what a crash in the middle of an append leaves). With the durable commit
    /// index before the last segment (`commitInLastSegment == false`) every cut is recovered:
    /// the node opens, keeps exactly the entries whose records end at or before `k`, and cuts
    /// the rest with a warning. With the commit index at a record in the middle of the last
    /// segment, a cut that reaches that record or an earlier one (lost acknowledged data) is
    /// refused, naming the file, and changes nothing; later cuts are recovered as before.
    @Test(arguments: [false, true])
    func cutAtEveryByteOffsetOfTheLastSegment(commitInLastSegment: Bool) throws {
        try withTemporaryDirectory { root in
            let source = root + "/source"
            let written = try Self.writeLog(source)
            var segments = try segmentFiles(in: source)
            #expect(segments.count >= 3, "\(segments)")
            let lastName = try #require(segments.last)
            let lastFirst = try #require(LogSegment.firstIndex(fromFileName: lastName))
            let lastCount = UInt64(written.count) - lastFirst.rawValue + 1
            let commit = commitInLastSegment ? lastFirst.rawValue + lastCount / 2 : 3
            let hardState = HardState(term: 2, vote: 1, commit: LogIndex(commit))
            do {
                let disk = try DiskStorage(directory: source, segmentSize: 1024, logger: quietLogger)
                try disk.setHardState(hardState)
                disk.close()
            }
            segments = try segmentFiles(in: source)
            #expect(segments.last == lastName)
            let names = try FileManager.default.contentsOfDirectory(atPath: source).sorted()
            var files: [String: [UInt8]] = [:]
            for name in names { files[name] = try fileBytes(source + "/" + name) }
            let lastBytes = try #require(files[lastName])
            let scan = try LogSegment.scan(lastBytes, firstIndex: lastFirst, file: lastName)
            #expect(scan.damage == nil && scan.end == lastBytes.count)
            let recordEnds = Array(scan.offsets.dropFirst()) + [scan.end]
            #expect(recordEnds.count > 3)
            print("cut test: last segment \(lastName) has \(lastBytes.count) bytes in \(recordEnds.count) records, commit \(commit)")

            let work = root + "/work"
            let logs = CapturedLogs()
            var refused = 0, recovered = 0
            for k in 0...lastBytes.count {
                try? FileManager.default.removeItem(atPath: work)
                try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: false)
                for (name, bytes) in files {
                    try writeFile(work + "/" + name, name == lastName ? Array(bytes[..<k]) : bytes)
                }
                logs.removeAll()
                let complete = recordEnds.filter { $0 <= k }.count
                let expectedLast = lastFirst.rawValue + UInt64(complete) - 1
                let boundary = complete == 0 ? 0 : recordEnds[complete - 1]
                if expectedLast < commit {
                    // The cut reaches a committed entry: refused, nothing changed.
                    let error = #expect(throws: DiskStorageError.self, "cut at \(k)") {
                        try DiskStorage(directory: work, segmentSize: 1024, logger: logs.logger())
                    }
                    guard case .lostCommittedEntry(let file, let offset, let index, let c, _)? = error else {
                        Issue.record("cut at \(k): expected lostCommittedEntry, got \(String(describing: error))")
                        continue
                    }
                    #expect(file == work + "/" + lastName && offset == boundary, "cut at \(k)")
                    #expect(index.rawValue == expectedLast + 1 && c.rawValue == commit, "cut at \(k)")
                    #expect(try fileBytes(work + "/" + lastName) == Array(lastBytes[..<k]), "cut at \(k): refusal changes nothing")
                    refused += 1
                    continue
                }
                recovered += 1
                let disk = try DiskStorage(directory: work, segmentSize: 1024, logger: logs.logger())
                #expect(disk.lastIndex().rawValue == expectedLast, "cut at \(k)")
                #expect(try allEntries(disk) == Array(written.prefix(Int(expectedLast))), "cut at \(k)")
                #expect(disk.hardState == hardState)
                let fileAfter = try fileBytes(work + "/" + lastName)
                #expect(fileAfter.count == boundary, "cut at \(k): file cut back to the last whole record")
                if k == boundary {
                    #expect(logs.warnings.isEmpty, "cut at record boundary \(k): nothing to repair")
                } else {
                    let warning = logs.warnings.first { $0.message.contains("cutting a ") }
                    #expect(warning?.metadata["storage.file"] == work + "/" + lastName, "cut at \(k)")
                    #expect(warning?.metadata["storage.offset"] == "\(boundary)", "cut at \(k)")
                    #expect(warning?.metadata["storage.bytes_dropped"] == "\(k - boundary)", "cut at \(k)")
                }
                if k % 97 == 0 || k == lastBytes.count - 1 {
                    // The repaired log takes appends and reopens cleanly.
                    try disk.append(makeEntries(expectedLast + 1 ... expectedLast + 3, term: 3))
                    disk.close()
                    logs.removeAll()
                    let again = try DiskStorage(directory: work, segmentSize: 1024, logger: logs.logger())
                    #expect(again.lastIndex().rawValue == expectedLast + 3)
                    #expect(logs.warnings.isEmpty)
                    again.close()
                } else {
                    disk.close()
                }
            }
            print("cut test: commit \(commit): \(recovered) cuts recovered, \(refused) refused")
            #expect(recovered > 0)
            #expect(commitInLastSegment ? refused > 0 : refused == 0, "every cut beyond the commit index is recovered")
        }
    }

    /// Opening must fail with an error naming `file` and `offset`, and must not change any
    /// file.
    func expectRefusal(_ dir: String, file: String, offset: Int, _ mentions: String...,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map { ($0, try fileBytes(dir + "/" + $0)) }
        let error = #expect(throws: DiskStorageError.self, sourceLocation: sourceLocation) {
            try DiskStorage(directory: dir, segmentSize: 1024, logger: quietLogger)
        }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains(dir + "/" + file), "names the file: \(text)", sourceLocation: sourceLocation)
        #expect(text.contains("offset \(offset)"), "names offset \(offset): \(text)", sourceLocation: sourceLocation)
        for m in mentions { #expect(text.contains(m), "mentions \(m): \(text)", sourceLocation: sourceLocation) }
        let after = try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map { ($0, try fileBytes(dir + "/" + $0)) }
        #expect(before.map(\.0) == after.map(\.0) && before.map(\.1) == after.map(\.1),
                "a refused open changes nothing", sourceLocation: sourceLocation)
    }

    /// The segments of `dir`, each with its record offsets.
    func layout(_ dir: String) throws -> [(name: String, offsets: [Int], bytes: [UInt8])] {
        try segmentFiles(in: dir).map { name in
            let bytes = try fileBytes(dir + "/" + name)
            let first = try #require(LogSegment.firstIndex(fromFileName: name))
            return (name, try LogSegment.scan(bytes, firstIndex: first, file: name).offsets, bytes)
        }
    }

    @Test func damagedRecordBeforeTheEndOfTheLastSegmentIsRefused() throws {
        try withTemporaryDirectory { dir in
            _ = try Self.writeLog(dir)
            let last = try #require(try layout(dir).last)
            let victim = last.offsets[1]  // the second record: others follow it
            var bytes = last.bytes
            bytes[victim + 10] ^= 0x01
            try writeFile(dir + "/" + last.name, bytes)
            try expectRefusal(dir, file: last.name, offset: victim, "CRC32C mismatch", "the record is complete", "re-add this node")
        }
    }

    @Test func damagedRecordInAMiddleSegmentIsRefused() throws {
        try withTemporaryDirectory { dir in
            _ = try Self.writeLog(dir)
            let middle = try layout(dir)[1]
            var bytes = middle.bytes
            let victim = try #require(middle.offsets.last)  // even its last record: later segments follow
            bytes[bytes.count - 1] ^= 0x80
            try writeFile(dir + "/" + middle.name, bytes)
            try expectRefusal(dir, file: middle.name, offset: victim, "CRC32C mismatch", "the record is complete")
        }
    }

    @Test func truncatedMiddleSegmentIsRefused() throws {
        try withTemporaryDirectory { dir in
            _ = try Self.writeLog(dir)
            let middle = try layout(dir)[1]
            try writeFile(dir + "/" + middle.name, Array(middle.bytes.dropLast(3)))
            try expectRefusal(dir, file: middle.name, offset: try #require(middle.offsets.last), "not the last segment")
        }
    }

    /// A damaged length field makes a record look longer than the file: not mistaken for a
    /// torn tail, because intact records follow.
    @Test func damagedLengthFieldIsNotMistakenForATornTail() throws {
        try withTemporaryDirectory { dir in
            _ = try Self.writeLog(dir)
            let last = try #require(try layout(dir).last)
            var bytes = last.bytes
            let victim = last.offsets[1]
            bytes[victim] = 0x7F
            try writeFile(dir + "/" + last.name, bytes)
            try expectRefusal(dir, file: last.name, offset: victim, "only", "intact record follows")
        }
    }

    @Test func missingMiddleSegmentIsAGap() throws {
        try withTemporaryDirectory { dir in
            _ = try Self.writeLog(dir)
            let segs = try layout(dir)
            try FileManager.default.removeItem(atPath: dir + "/" + segs[1].name)
            let expected = try #require(LogSegment.firstIndex(fromFileName: segs[1].name))
            try expectRefusal(dir, file: segs[2].name, offset: 0, "expected index \(expected.rawValue)")
        }
    }

    @Test func intactRecordWithWrongIndexOrUndecodablePayloadIsRefused() throws {
        try withTemporaryDirectory { dir in
            var w = WireWriter()
            for i: UInt64 in [1, 2, 4] {
                try RecordFormat.appendRecord(to: &w) { WireCodec.encode(makeEntry(i, term: 1), into: &$0) }
            }
            let name = LogSegment.fileName(firstIndex: 1)
            try writeFile(dir + "/" + name, w.bytes)
            let offsetOf4 = w.bytes.count - (RecordFormat.headerSize + 24)
            try expectRefusal(dir, file: name, offset: offsetOf4, "expected index 3, found 4")

            var v = WireWriter()
            try RecordFormat.appendRecord(to: &v) { WireCodec.encode(makeEntry(1, term: 1), into: &$0) }
            let second = v.bytes.count
            try RecordFormat.appendRecord(to: &v) { $0.writeRaw([1, 2, 9, 9, 9]) }  // payload tag 9
            try writeFile(dir + "/" + name, v.bytes)
            try expectRefusal(dir, file: name, offset: second, "does not decode")
        }
    }

    /// One flipped byte in the last, complete record of the log: no crash leaves a complete
    /// record with a wrong checksum, so the node refuses to start (even though the record is
    /// above the commit index) rather than drop what may be an acknowledged write.
    /// (A flipped length byte is covered by `damagedLengthFieldIsNotMistakenForATornTail`:
    /// a length that runs past the file is a partial record by its shape.)
    @Test(arguments: [4, 7, 8, 20, -1])  // in the CRC, the entry header, the data, the last byte
    func flippedByteInTheLastCompleteRecordIsRefused(at position: Int) throws {
        try withTemporaryDirectory { dir in
            _ = try Self.writeLog(dir)
            let last = try #require(try layout(dir).last)
            let victim = try #require(last.offsets.last)
            var bytes = last.bytes
            bytes[position < 0 ? bytes.count + position : victim + position] ^= 0x10
            try writeFile(dir + "/" + last.name, bytes)
            try expectRefusal(dir, file: last.name, offset: victim, "damaged Raft log record", "CRC32C mismatch",
                              "re-add this node", "membership change")
        }
    }

    /// A crash in the middle of an append: the last record is cut short. Above the commit
    /// index it was never acknowledged: cut, and the node opens with everything before it.
    @Test func truncatedLastRecordIsCut() throws {
        try withTemporaryDirectory { dir in
            let written = try Self.writeLog(dir)
            let last = try #require(try layout(dir).last)
            try writeFile(dir + "/" + last.name, Array(last.bytes.dropLast(5)))
            let logs = CapturedLogs()
            let disk = try DiskStorage(directory: dir, segmentSize: 1024, logger: logs.logger())
            #expect(try allEntries(disk) == Array(written.dropLast()))
            let warning = try #require(logs.warnings.first)
            #expect(warning.message.contains("torn record"))
            #expect(warning.metadata["storage.offset"] == "\(try #require(last.offsets.last))")
            #expect(warning.metadata["storage.reason"]?.contains("partial record") == true)
            #expect(try fileBytes(dir + "/" + last.name) == Array(last.bytes[..<(try #require(last.offsets.last))]))
        }
    }

    /// After a power failure the end of a file can read back as zeros (allocated, never
    /// written): cut, whatever its length.
    @Test(arguments: [1, 8, 4096])
    func zeroFilledTailIsCut(length: Int) throws {
        try withTemporaryDirectory { dir in
            let written = try Self.writeLog(dir)
            let last = try #require(try layout(dir).last)
            try writeFile(dir + "/" + last.name, last.bytes + Array(repeating: 0, count: length))
            let logs = CapturedLogs()
            let disk = try DiskStorage(directory: dir, segmentSize: 1024, logger: logs.logger())
            #expect(try allEntries(disk) == written)
            #expect(logs.warnings.first?.message.contains("zero-filled tail") == true)
            #expect(logs.warnings.first?.metadata["storage.bytes_dropped"] == "\(length)")
            #expect(try fileBytes(dir + "/" + last.name) == last.bytes)
        }
    }

    /// Stale bytes after the last record: cut only if they read as a partial record (the
    /// length they declare runs past the file); if they happen to frame a complete record
    /// with a wrong checksum, that is indistinguishable from damage and refused.
    @Test(arguments: ["partial", "complete"])
    func garbageTailIsCutOnlyIfItIsAPartialRecord(shape: String) throws {
        try withTemporaryDirectory { dir in
            let written = try Self.writeLog(dir)
            let last = try #require(try layout(dir).last)
            var rng = TestRandom(seed: 99)
            var tail = (0..<3000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // A length of 0x40xxxxxx (past the file) or 100 (within it).
            tail[0] = shape == "partial" ? 0x40 : 0; tail[1] = 0; tail[2] = 0; tail[3] = shape == "partial" ? tail[3] : 100
            try writeFile(dir + "/" + last.name, last.bytes + tail)
            if shape == "partial" {
                let logs = CapturedLogs()
                let disk = try DiskStorage(directory: dir, segmentSize: 1024, logger: logs.logger())
                #expect(try allEntries(disk) == written)
                #expect(logs.warnings.first?.metadata["storage.bytes_dropped"] == "\(tail.count)")
                #expect(try fileBytes(dir + "/" + last.name) == last.bytes)
            } else {
                try expectRefusal(dir, file: last.name, offset: last.bytes.count, "CRC32C mismatch")
            }
        }
    }

    /// The commit index of the durable hard state covers the last record: a crash cannot
    /// leave it partial (it was durable before the commit index was written), so a partial
    /// or zeroed record there is lost acknowledged data: refused, nothing cut.
    @Test(arguments: ["partial", "zeroed"])
    func partialRecordAtOrBelowTheCommitIndexIsRefused(kind: String) throws {
        try withTemporaryDirectory { dir in
            let written = try Self.writeLog(dir, hardState: HardState(term: 2, vote: 1, commit: 0))
            let lastIndex = UInt64(written.count)
            // Commit exactly the last entry.
            do {
                let disk = try DiskStorage(directory: dir, segmentSize: 1024, logger: quietLogger)
                try disk.setHardState(HardState(term: 2, vote: 1, commit: LogIndex(lastIndex)))
                disk.close()
            }
            let last = try #require(try layout(dir).last)
            let victim = try #require(last.offsets.last)
            var bytes = kind == "partial" ? Array(last.bytes.dropLast(3)) : last.bytes
            if kind == "zeroed" { for i in victim..<bytes.count { bytes[i] = 0 } }
            try writeFile(dir + "/" + last.name, bytes)
            try expectRefusal(dir, file: last.name, offset: victim, "committed Raft log entry \(lastIndex) is lost",
                              "up to \(lastIndex) are committed", "membership change", "re-add this node")
        }
    }

    /// A log that ends cleanly (at a record boundary) before the durable commit index has
    /// lost acknowledged entries too (a cut or missing file): refused.
    @Test func logEndingBeforeTheCommitIndexIsRefused() throws {
        try withTemporaryDirectory { dir in
            let written = try Self.writeLog(dir, hardState: HardState(term: 2, vote: 1, commit: 0))
            do {
                let disk = try DiskStorage(directory: dir, segmentSize: 1024, logger: quietLogger)
                try disk.setHardState(HardState(term: 2, vote: 1, commit: LogIndex(UInt64(written.count))))
                disk.close()
            }
            let last = try #require(try layout(dir).last)
            let victim = try #require(last.offsets.last)
            try writeFile(dir + "/" + last.name, Array(last.bytes[..<victim]))
            try expectRefusal(dir, file: last.name, offset: victim, "committed Raft log entry \(written.count) is lost",
                              "the log ends before it")
        }
    }

    @Test func emptyLastSegmentLeftByACrashIsReused() throws {
        try withTemporaryDirectory { dir in
            let written = try Self.writeLog(dir)
            let next = LogIndex(UInt64(written.count) + 1)
            try writeFile(dir + "/" + LogSegment.fileName(firstIndex: next), [])
            let disk = try DiskStorage(directory: dir, segmentSize: 1024, logger: quietLogger)
            #expect(try allEntries(disk) == written)
            try disk.append([makeEntry(next.rawValue, term: 3)])
            disk.close()
            #expect(try DiskStorage(directory: dir, segmentSize: 1024, logger: quietLogger).lastIndex() == next)
        }
    }
}
