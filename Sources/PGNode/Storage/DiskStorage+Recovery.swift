import Logging
import RaftCore

extension DiskStorage {
    /// What `DiskStorage.init` finds in its directory, after the repairs recovery makes
    /// (documented on `DiskStorage`): removing temporary files, finishing a pending snapshot
    /// install, deleting segments wholly covered by the snapshot, cutting a torn or zero-filled
    /// tail above the commit index.
    struct Recovery {
        var hardState = HardState()
        var durableHardState: HardState?
        var snapshot = Snapshot()
        /// The entries after the snapshot, in order.
        var entries: [Entry] = []
        /// The segments left, in order; the last one open for writing if it was cut.
        var segments: [LogSegment] = []

        init(directory: String, directoryFD: Int32, initialMembership: Membership, logger: Logger) throws(DiskStorageError) {
            func path(_ name: String) -> String { directory + "/" + name }
            func syncDirectory() throws(DiskStorageError) { try DurableFile.syncDirectory(directoryFD, path: directory) }

            let names = try DurableFile.list(directory)

            // Temporary files are atomic replacements that a crash interrupted before the
            // rename: the file they were replacing is intact.
            let temporaries = names.filter { $0.hasSuffix(DiskStorage.temporarySuffix) }.sorted()
            for name in temporaries {
                logger.warning("removing a temporary file left by an interrupted write", metadata: ["storage.file": "\(path(name))"])
                try DurableFile.remove(path(name))
            }
            if !temporaries.isEmpty { try syncDirectory() }

            if let bytes = try DurableFile.readIfPresent(path(DiskStorage.hardStateFileName)) {
                hardState = try DiskStorage.decodeHardState(bytes, path: path(DiskStorage.hardStateFileName))
                durableHardState = hardState
            }

            var segmentFiles: [(first: LogIndex, path: String)] = names.compactMap { name in
                LogSegment.firstIndex(fromFileName: name).map { ($0, path(name)) }
            }.sorted { $0.first < $1.first }

            if let bytes = try DurableFile.readIfPresent(path(DiskStorage.pendingSnapshotFileName)) {
                snapshot = try DiskStorage.decodeSnapshot(bytes, path: path(DiskStorage.pendingSnapshotFileName))
                logger.warning("finishing the install of a leader's snapshot that a crash interrupted", metadata: [
                    "storage.file": "\(path(DiskStorage.pendingSnapshotFileName))",
                    "raft.snapshot_index": "\(snapshot.metadata.index.rawValue)",
                    "storage.segments_removed": "\(segmentFiles.count)",
                ])
                try DiskStorage.finishSnapshotInstall(directory: directory, directoryFD: directoryFD,
                                                      segmentPaths: segmentFiles.map(\.path))
                segmentFiles = []
            } else if let bytes = try DurableFile.readIfPresent(path(DiskStorage.snapshotFileName)) {
                snapshot = try DiskStorage.decodeSnapshot(bytes, path: path(DiskStorage.snapshotFileName))
            } else if durableHardState == nil && segmentFiles.isEmpty && !initialMembership.allMembers.isEmpty {
                let bootstrap = Snapshot(metadata: SnapshotMetadata(membership: initialMembership))
                try DurableFile.writeAtomically(try DiskStorage.encodeSnapshotFile(bootstrap), name: DiskStorage.snapshotFileName,
                                                in: directory, directoryFD: directoryFD)
                snapshot = bootstrap
            }
            let snapshotIndex = snapshot.metadata.index
            if hardState.commit < snapshotIndex { hardState.commit = snapshotIndex }

            // A segment followed by one that starts at or below snapshotIndex + 1 holds only
            // entries the snapshot covers: compaction was interrupted before deleting it.
            var removed = 0
            while segmentFiles.count >= 2 && segmentFiles[1].first <= snapshotIndex + 1 {
                try DurableFile.remove(segmentFiles.removeFirst().path)
                removed += 1
            }

            var next: LogIndex?
            for (n, file) in segmentFiles.enumerated() {
                let expected = next ?? min(file.first, snapshotIndex + 1)
                guard file.first == expected else {
                    throw .logGap(file: file.path, offset: 0, expected: expected, found: file.first)
                }
                let bytes = try DurableFile.readIfPresent(file.path) ?? []
                let scan = try LogSegment.scan(bytes, firstIndex: file.first, file: file.path)
                let segment = LogSegment(firstIndex: file.first, path: file.path, recordOffsets: scan.offsets, size: scan.end)
                if let damage = scan.damage {
                    try Self.cutCrashArtifact(damage, in: segment, bytes: bytes, isLast: n == segmentFiles.count - 1,
                                              followingSegments: segmentFiles.count - 1 - n,
                                              nextIndex: file.first + UInt64(scan.entries.count),
                                              durableCommit: durableHardState?.commit ?? .zero, logger: logger)
                }
                if snapshotIndex > .zero, file.first <= snapshotIndex, snapshotIndex < segment.nextIndex {
                    let entry = scan.entries[Int(snapshotIndex.rawValue - file.first.rawValue)]
                    guard entry.term == snapshot.metadata.term else {
                        throw .inconsistent(file: file.path, reason: "the entry at the snapshot index \(snapshotIndex.rawValue) "
                            + "has term \(entry.term.rawValue) but the snapshot has term \(snapshot.metadata.term.rawValue)")
                    }
                }
                entries.append(contentsOf: scan.entries.lazy.filter { $0.index > snapshotIndex })
                segments.append(segment)
                next = segment.nextIndex
            }

            // The log must reach the durable commit index: an entry at or below it was
            // acknowledged, and missing it (a segment cut at a record boundary, or gone) is
            // lost data, not a crash artifact.
            let durableCommit = durableHardState?.commit ?? .zero
            let logEnd = segments.last?.nextIndex ?? snapshotIndex + 1
            if durableCommit > snapshotIndex, logEnd <= durableCommit {
                let file = segments.last?.path ?? path(DiskStorage.hardStateFileName)
                throw .lostCommittedEntry(file: file, offset: segments.last?.size ?? 0, index: logEnd, commit: durableCommit,
                                          reason: "the log ends before it (last index \((logEnd - 1).rawValue))")
            }

            // Segments that end at or below the snapshot (compaction interrupted at the end
            // of the log) are deleted: the next append starts a fresh segment.
            if let last = segments.last, last.nextIndex <= snapshotIndex + 1 {
                for s in segments {
                    s.closeFile()
                    try DurableFile.remove(s.path)
                    removed += 1
                }
                segments = []
            }
            if removed > 0 {
                logger.warning("removed segments wholly covered by the snapshot (a crash interrupted compaction)", metadata: [
                    "storage.directory": "\(directory)", "storage.segments_removed": "\(removed)",
                    "raft.snapshot_index": "\(snapshotIndex.rawValue)",
                ])
                try syncDirectory()
            }
        }

        /// Cuts `damage` off the end of `segment` (and syncs) if a crash can have left it
        /// there and it holds nothing acknowledged; throws otherwise.
        ///
        /// Cut: a partial record or a zero-filled tail in the last segment, starting at an
        /// index above the durable commit index, with no intact record after it. Everything
        /// else is damage: a complete record failing its checksum (`corruptRecord`, wherever
        /// it is), anything in a segment that others follow, anything with intact records
        /// after it, and any record at or below the commit index (`lostCommittedEntry`).
        static func cutCrashArtifact(_ damage: SegmentDamage, in segment: LogSegment, bytes: [UInt8], isLast: Bool,
                                     followingSegments: Int, nextIndex: LogIndex, durableCommit: LogIndex,
                                     logger: Logger) throws(DiskStorageError) {
            let file = segment.path
            guard damage.isCrashArtifact else {
                throw .corruptRecord(file: file, offset: damage.offset, reason: damage.reason
                    + "; the record is complete, so this is not a write interrupted by a crash")
            }
            guard isLast else {
                throw .corruptRecord(file: file, offset: damage.offset,
                                     reason: damage.reason + "; this is not the last segment (\(followingSegments) follow)")
            }
            if let intact = LogSegment.intactRecord(in: bytes, after: damage.offset, minIndex: nextIndex) {
                throw .corruptRecord(file: file, offset: damage.offset,
                                     reason: damage.reason + "; an intact record follows at offset \(intact)")
            }
            guard nextIndex > durableCommit else {
                throw .lostCommittedEntry(file: file, offset: damage.offset, index: nextIndex, commit: durableCommit,
                                          reason: damage.reason)
            }
            let dropped = bytes.count - damage.offset
            let what = damage.kind == .zeroTail ? "zero-filled tail" : "torn record"
            logger.warning("cutting a \(what) off the end of the Raft log: \(file) at offset \(damage.offset), \(dropped) bytes dropped (a write interrupted by a crash, above the commit index \(durableCommit.rawValue), never acknowledged)", metadata: [
                "storage.file": "\(file)", "storage.offset": "\(damage.offset)",
                "storage.bytes_dropped": "\(dropped)", "storage.reason": "\(damage.reason)",
                "raft.last_index": "\((nextIndex - 1).rawValue)", "raft.commit_index": "\(durableCommit.rawValue)",
            ])
            try segment.cut(at: damage.offset)
            try segment.sync()
        }
    }
}
