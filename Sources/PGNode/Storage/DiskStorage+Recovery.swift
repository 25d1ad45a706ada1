import Logging
import RaftCore

extension DiskStorage {
    /// What `DiskStorage.init` finds in its directory, after the repairs recovery makes
    /// (documented on `DiskStorage`): removing temporary files, finishing a pending snapshot
    /// install, deleting segments wholly covered by the snapshot, cutting a torn tail.
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
                    if n != segmentFiles.count - 1 {
                        throw .corruptRecord(file: file.path, offset: damage.offset,
                                             reason: damage.reason + "; this is not the last segment (\(segmentFiles.count - 1 - n) follow)")
                    }
                    let nextIndex = file.first + UInt64(scan.entries.count)
                    if let intact = LogSegment.intactRecord(in: bytes, after: damage.offset, minIndex: nextIndex) {
                        throw .corruptRecord(file: file.path, offset: damage.offset,
                                             reason: damage.reason + "; an intact record follows at offset \(intact)")
                    }
                    logger.warning("cutting a torn record off the end of the Raft log: \(file.path) at offset \(damage.offset), \(bytes.count - damage.offset) bytes dropped (a write interrupted by a crash, never acknowledged)", metadata: [
                        "storage.file": "\(file.path)", "storage.offset": "\(damage.offset)",
                        "storage.bytes_dropped": "\(bytes.count - damage.offset)", "storage.reason": "\(damage.reason)",
                        "raft.last_index": "\((nextIndex - 1).rawValue)",
                    ])
                    try segment.cut(at: damage.offset)
                    try segment.sync()
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
    }
}
