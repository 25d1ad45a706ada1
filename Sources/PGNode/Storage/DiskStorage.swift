import Logging
import RaftCore

/// The durable Raft log, hard state and snapshot of one node, in one directory.
///
/// It answers every `RaftStorage` read exactly as `MemoryStorage` would after the same
/// sequence of writes (same entries, same `StorageError`s), from an in-memory copy of the
/// entries after the snapshot; and every write method returns only once what it wrote is on
/// stable storage, so a node restarted on the directory after a crash sees everything that was
/// written before the crash.
///
/// ## Files
/// - `log-<first index, 16 hex digits>.seg`: append-only log segments. Each is a sequence of
///   records `u32 length (big-endian) | u32 CRC-32C of the payload | payload`, the payload
///   being one `WireCodec` entry encoding, indices consecutive from the one in the name and
///   continuing in the next segment. A new segment is started when the next record would
///   take the current one past `segmentSize` bytes (a single larger record gets a segment of
///   its own).
/// - `hardstate`: one record holding the `WireCodec` hard state.
/// - `snapshot`: one record holding the `WireCodec` snapshot (metadata and data).
/// - `snapshot.pending`: exists only while a leader's snapshot is being installed; see
///   `applySnapshot(_:)`.
/// - `*.tmp`: a file being replaced atomically; one left over by a crash is removed on open.
///
/// The directory is bounded: it holds the latest snapshot plus the segments that contain
/// entries after it (at most one of them also holds entries at or before it). Taking
/// snapshots (`createSnapshot`) is what keeps the log, and the in-memory copy, small.
///
/// ## Recovery (`init`)
/// - Only what a crash in the middle of an `append` can leave is cut: a partial record at the
///   end of the last segment (its header, or the payload its header declares, runs past the
///   end of the file) or a tail of zero bytes (space allocated but never written), with no
///   intact record after it, and only if its index is above the commit index of the durable
///   hard state. Such a write was never acknowledged, so it is cut off (`ftruncate` and sync)
///   with a warning naming the file, the offset and the number of bytes dropped.
/// - Everything else throws a `DiskStorageError` naming the file and byte offset, and changes
///   nothing: a complete record whose checksum fails (anywhere, even the last record:
///   `corruptRecord`), a partial record in a segment other than the last or followed by
///   intact records, a record at or below the durable commit index that is partial, zeroed or
///   missing (`lostCommittedEntry`), a gap or a wrong index between records or segments, or
///   an unreadable hard state or snapshot. Acknowledged entries are never dropped: the node
///   refuses to start and must be restored from a peer (see the error's description).
/// - Entries at or below the snapshot index found in segments are skipped (a crash between
///   writing a snapshot and deleting the segments it covers leaves them); whole segments at or
///   below it are deleted.
///
/// ## Threads
/// Every method blocks on file I/O and `fsync`. Call it from a dedicated thread (never from
/// the Swift concurrency pool or an event loop). Not thread-safe and not `Sendable`: one
/// owner. The directory is locked (`flock`) while open, so a second process or instance
/// fails with `DiskStorageError.directoryInUse`.
///
/// ## Failures
/// A write that fails half way leaves the files in a state recovery understands, but the
/// in-memory copy may no longer match them: from then on every write throws
/// `DiskStorageError.unusable`, and the node must restart (reads keep answering from memory).
public final class DiskStorage: RaftStorage {
    /// The persisted hard state (its commit raised to the snapshot index if that is higher,
    /// as `MemoryStorage.applySnapshot` does).
    public private(set) var hardState = HardState()
    /// The latest snapshot: created here, installed from a leader, or empty at index 0.
    public private(set) var latestSnapshot = Snapshot()
    /// The directory holding the files.
    public let directory: String
    /// The size at which a segment file is closed and a new one started.
    public let segmentSize: Int

    private let logger: Logger
    /// `log[0]` is a placeholder at the snapshot index holding the snapshot's term, as in
    /// `MemoryStorage`.
    private var log: [Entry]
    /// In index order; empty, or the last one ends at `lastIndex()`.
    private var segments: [LogSegment]
    /// What `hardstate` holds, `nil` if there is no such file.
    private var durableHardState: HardState?
    /// Open and `flock`ed for the lifetime of the storage; `nil` once closed.
    private var directoryFD: Int32?
    private var failure: DiskStorageError?

    static let hardStateFileName = "hardstate"
    static let snapshotFileName = "snapshot"
    static let pendingSnapshotFileName = "snapshot.pending"
    static let temporarySuffix = ".tmp"

    /// Opens the storage in `directory`, creating the directory if needed, and recovers what
    /// is there (see the type's documentation). Returns once recovery is durable.
    ///
    /// - Parameters:
    ///   - segmentSize: bytes after which a new segment file is started (default 16 MiB).
    ///   - initialMembership: the cluster of a node that bootstraps a new cluster, as in
    ///     `MemoryStorage(membership:)`. Used, and written as an empty snapshot at index 0,
    ///     only when the directory holds no hard state, snapshot or segment yet; ignored
    ///     otherwise.
    ///   - logger: receives a warning for every repair recovery makes.
    /// - Throws: `DiskStorageError` when the directory cannot be used or holds damage that
    ///   is not a crash artifact above the commit index; the message says which file, where,
    ///   and what to do.
    public init(directory: String, segmentSize: Int = 16 << 20, initialMembership: Membership = Membership(),
                logger: Logger) throws {
        guard segmentSize > 0 else { throw DiskStorageError.invalidArgument("segmentSize must be positive, got \(segmentSize)") }
        self.directory = directory
        self.segmentSize = segmentSize
        self.logger = logger
        let fd = try DurableFile.openDirectory(directory)
        let recovered: Recovery
        do {
            recovered = try Recovery(directory: directory, directoryFD: fd, initialMembership: initialMembership,
                                     logger: logger)
        } catch {
            systemClose(fd)
            throw error
        }
        directoryFD = fd
        hardState = recovered.hardState
        durableHardState = recovered.durableHardState
        latestSnapshot = recovered.snapshot
        segments = recovered.segments
        log = [Entry(term: recovered.snapshot.metadata.term, index: recovered.snapshot.metadata.index)]
            + recovered.entries
        logger.debug("opened Raft storage", metadata: [
            "storage.directory": "\(directory)", "raft.first_index": "\(firstIndex().rawValue)",
            "raft.last_index": "\(lastIndex().rawValue)", "raft.snapshot_index": "\(log[0].index.rawValue)",
            "storage.segments": "\(segments.count)",
        ])
    }

    deinit { close() }

    /// Releases the files and the directory lock. Everything written is already durable;
    /// later writes throw `DiskStorageError.closed`, reads keep answering from memory.
    public func close() {
        for s in segments { s.closeFile() }
        if let fd = directoryFD { systemClose(fd) }
        directoryFD = nil
    }

    // MARK: RaftStorage

    /// The hard state and the latest snapshot's membership, as recovered or last written.
    /// Never throws.
    public func initialState() throws(StorageError) -> (HardState, Membership) {
        (hardState, latestSnapshot.metadata.membership)
    }

    /// The snapshot index + 1.
    public func firstIndex() -> LogIndex { log.retainedFirstIndex }
    /// The index of the last entry (the snapshot index if the log is empty).
    public func lastIndex() -> LogIndex { log.retainedLastIndex }

    /// The term of the entry at `index`, from memory: the snapshot's term at `firstIndex - 1`,
    /// `StorageError.compacted` below it, `.unavailable` after `lastIndex`.
    public func term(of index: LogIndex) throws(StorageError) -> Term {
        try log.retainedTerm(of: index)
    }

    /// Entries in `[low, high)` from memory, stopping early (but returning at least one) once
    /// `maxBytes` of `Entry.byteSize` is reached; `.compacted` if `low` is not after the
    /// snapshot, `.unavailable` if `high` is beyond `lastIndex + 1`.
    public func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(StorageError) -> [Entry] {
        try log.retainedEntries(from: low, to: high, maxBytes: maxBytes)
    }

    /// `latestSnapshot`; never throws.
    public func snapshot() throws(StorageError) -> Snapshot { latestSnapshot }

    // MARK: Writes

    /// Makes a `Ready`'s snapshot, entries and hard state durable, in that order, each only
    /// if present: one `fsync` per file touched (plus the directory syncs that creating,
    /// renaming or deleting files needs). When it returns, `messagesAfterPersist` may be sent.
    ///
    /// A hard state that differs from the durable one only in its commit index is kept in
    /// memory and written with the next term or vote change (or `setHardState`): the commit
    /// index is never promised to anyone, a restarted node relearns it from the leader, and
    /// skipping it saves two fsyncs and a rename on almost every Ready.
    public func persist(_ ready: Ready) throws {
        if let snapshot = ready.snapshot { try applySnapshot(snapshot) }
        if !ready.entries.isEmpty { try append(ready.entries) }
        if let state = ready.hardState {
            if let durable = durableHardState, state.term == durable.term, state.vote == durable.vote {
                hardState = state
            } else {
                try setHardState(state)
            }
        }
    }

    /// Appends `entries` durably, with `MemoryStorage.append`'s semantics: entries at or
    /// below the snapshot are ignored, and entries that overlap the log replace it from the
    /// first overlapping index on.
    ///
    /// The whole batch is encoded first, then written with one `pwrite` and made durable with
    /// one `fdatasync` per segment it touches (a directory sync when it starts a new segment).
    /// An overlap first deletes the later segments and cuts the segment holding the first
    /// overlapping index at that record.
    ///
    /// - Throws: `DiskStorageError.invalidArgument` (nothing written) if the entries do not
    ///   have consecutive indices continuing the log, or carry a term or index above
    ///   `WireCodec.maxTerm`/`maxLogIndex` or a membership that could not be read back;
    ///   `.io` if the disk fails (the storage is then unusable).
    public func append(_ entries: [Entry]) throws {
        try checkWritable()
        guard var first = entries.first else { return }
        var entries = entries[...]
        let snapshotIndex = log[0].index
        if first.index <= snapshotIndex {
            entries = entries.drop(while: { $0.index <= snapshotIndex })
            guard let f = entries.first else { return }
            first = f
        }
        guard first.index <= lastIndex() + 1 else {
            throw DiskStorageError.invalidArgument("entry \(first.index.rawValue) would leave a gap after the last index \(lastIndex().rawValue)")
        }
        var w = WireWriter(reservingCapacity: entries.reduce(0) { $0 + $1.byteSize + 16 })
        var recordEnds: [Int] = []
        recordEnds.reserveCapacity(entries.count)
        var expected = first.index
        for entry in entries {
            try Self.validate(entry, expectedIndex: expected)
            try RecordFormat.appendRecord(to: &w) { WireCodec.encode(entry, into: &$0) }
            recordEnds.append(w.bytes.count)
            expected = expected + 1
        }
        try writing { () throws(DiskStorageError) in
            if first.index <= lastIndex() { try cutLog(from: first.index) }
            try writeRecords(w.bytes, recordEnds: recordEnds, firstIndex: first.index)
        }
        let keep = Int(first.index.rawValue - snapshotIndex.rawValue)
        log.removeSubrange(keep...)
        log.append(contentsOf: entries)
    }

    /// Replaces the hard state durably and atomically (temporary file, `fsync`, rename,
    /// directory `fsync`): after a crash the file holds the old or the new state. Writes
    /// nothing if `state` is what the file already holds.
    public func setHardState(_ state: HardState) throws {
        try checkWritable()
        if state == durableHardState {
            hardState = state
            return
        }
        let file = try RecordFormat.singleRecordFile { WireCodec.encode(state, into: &$0) }
        guard (try? Self.decodeHardState(file, path: "")) == state else {
            throw DiskStorageError.invalidArgument("hard state \(state) cannot be stored: a term or commit index above 2^63 - 1, or a vote for node 0")
        }
        try writing { () throws(DiskStorageError) in
            try DurableFile.writeAtomically(file, name: Self.hardStateFileName, in: directory, directoryFD: try openDirectoryFD())
        }
        hardState = state
        durableHardState = state
    }

    /// Installs a leader's snapshot durably, replacing everything, with
    /// `MemoryStorage.applySnapshot`'s semantics (the log is emptied; the in-memory hard
    /// state's commit is raised to the snapshot index).
    ///
    /// Crash-atomic: the snapshot is written to `snapshot.pending` (temporary file, `fsync`,
    /// rename, directory `fsync`) — from that moment the install counts as done — then every
    /// segment is deleted, the directory synced, `snapshot.pending` renamed to `snapshot` and
    /// the directory synced again. Recovery finishes an install it finds pending, so old
    /// segments can never reappear after the new snapshot.
    public func applySnapshot(_ snapshot: Snapshot) throws {
        try checkWritable()
        let file = try Self.encodeSnapshotFile(snapshot)
        try writing { () throws(DiskStorageError) in
            let dirFD = try openDirectoryFD()
            try DurableFile.writeAtomically(file, name: Self.pendingSnapshotFileName, in: directory, directoryFD: dirFD)
            for s in segments { s.closeFile() }
            try Self.finishSnapshotInstall(directory: directory, directoryFD: dirFD, segmentPaths: segments.map(\.path))
            segments = []
        }
        latestSnapshot = snapshot
        log = [Entry(term: snapshot.metadata.term, index: snapshot.metadata.index)]
        if hardState.commit < snapshot.metadata.index { hardState.commit = snapshot.metadata.index }
    }

    /// Takes a snapshot of the application state at `index` (which must be applied) and
    /// compacts the log up to it, with `MemoryStorage.createSnapshot`'s semantics and errors
    /// (`StorageError.compacted` if `index` is at or below the current snapshot,
    /// `.unavailable` if it is after the last entry).
    ///
    /// The snapshot file is replaced atomically first; then segments holding only entries at
    /// or below `index` are deleted and the directory synced. (A crash in between leaves
    /// those segments behind; recovery skips and deletes them.)
    public func createSnapshot(at index: LogIndex, membership: Membership, data: [UInt8]) throws {
        try checkWritable()
        let offset = log[0].index
        if index <= offset { throw StorageError.compacted }
        if index > lastIndex() { throw StorageError.unavailable }
        let term = try term(of: index)
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: index, term: term, membership: membership), data: data)
        let file = try Self.encodeSnapshotFile(snapshot)
        try writing { () throws(DiskStorageError) in
            try DurableFile.writeAtomically(file, name: Self.snapshotFileName, in: directory, directoryFD: try openDirectoryFD())
        }
        latestSnapshot = snapshot
        let n = Int(index.rawValue - offset.rawValue)
        log.removeSubrange(0..<n)
        log[0] = Entry(term: term, index: index)
        try writing { () throws(DiskStorageError) in
            var removed = 0
            while let s = segments.first, s.nextIndex <= index + 1 {
                s.closeFile()
                try DurableFile.remove(s.path)
                segments.removeFirst()
                removed += 1
            }
            if removed > 0 { try DurableFile.syncDirectory(try openDirectoryFD(), path: directory) }
        }
    }

    // MARK: Write plumbing

    private func checkWritable() throws(DiskStorageError) {
        if let failure { throw DiskStorageError.unusable(directory: directory, cause: failure.description) }
        if directoryFD == nil { throw DiskStorageError.closed(directory: directory) }
    }

    private func openDirectoryFD() throws(DiskStorageError) -> Int32 {
        guard let fd = directoryFD else { throw .closed(directory: directory) }
        return fd
    }

    /// Runs disk writes; a failure makes the storage unusable, since the files and memory may
    /// now disagree.
    private func writing(_ body: () throws(DiskStorageError) -> Void) throws(DiskStorageError) {
        do {
            try body()
        } catch {
            failure = error
            logger.error("Raft storage write failed; refusing further writes until restart", metadata: [
                "storage.directory": "\(directory)", "error": "\(error)",
            ])
            throw error
        }
    }

    private static func validate(_ entry: Entry, expectedIndex: LogIndex) throws(DiskStorageError) {
        guard entry.index == expectedIndex else {
            throw .invalidArgument("entries are not consecutive: expected index \(expectedIndex.rawValue), got \(entry.index.rawValue)")
        }
        guard entry.index <= WireCodec.maxLogIndex, entry.term <= WireCodec.maxTerm else {
            throw .invalidArgument("entry \(entry) has a term or index above 2^63 - 1")
        }
        if case .configChange = entry.payload {
            var w = WireWriter()
            WireCodec.encode(entry, into: &w)
            var r = WireReader(w.bytes)
            guard let decoded = try? WireCodec.decodeEntry(from: &r), decoded == entry else {
                throw .invalidArgument("config change entry \(entry) would not decode (node 0, or a node both voter and learner)")
            }
        }
    }

    /// Cuts the log so that `index` is the next index: deletes later segments (newest first,
    /// syncing the directory after each so the files on disk stay a gap-free log at every
    /// moment) and cuts the segment holding `index` at its record (synced by the write that
    /// follows).
    private func cutLog(from index: LogIndex) throws(DiskStorageError) {
        guard let keep = segments.lastIndex(where: { $0.firstIndex <= index }) else {
            throw .inconsistent(file: directory, reason: "no segment holds index \(index.rawValue) though the log ends at \(lastIndex().rawValue)")
        }
        while segments.count > keep + 1 {
            let s = segments.removeLast()
            s.closeFile()
            try DurableFile.remove(s.path)
            try DurableFile.syncDirectory(try openDirectoryFD(), path: directory)
        }
        let segment = segments[keep]
        try segment.truncate(keepingRecords: Int(index.rawValue - segment.firstIndex.rawValue))
    }

    /// Writes encoded records, whose first holds `firstIndex`, at the end of the log, starting
    /// new segments as needed, and makes them durable. Each segment written is synced before
    /// a following one is created (and a created one's directory entry before the next is
    /// created), so the files never show a later segment without the earlier data.
    private func writeRecords(_ bytes: [UInt8], recordEnds: [Int], firstIndex: LogIndex) throws(DiskStorageError) {
        var directoryDirty = false
        if let last = segments.last, last.nextIndex != firstIndex {
            throw .inconsistent(file: last.path, reason: "the segment ends before index \(last.nextIndex.rawValue) "
                + "but the next record to write has index \(firstIndex.rawValue) (a bug in DiskStorage)")
        }
        if segments.isEmpty {
            segments.append(try LogSegment.create(firstIndex: firstIndex, directory: directory))
            directoryDirty = true
        }
        var chunkStart = 0
        var chunkFirstRecord = 0
        for k in recordEnds.indices {
            let recordStart = k == 0 ? 0 : recordEnds[k - 1]
            let active = segments[segments.count - 1]
            let pending = active.size + recordStart - chunkStart
            guard pending > 0, pending + recordEnds[k] - recordStart > segmentSize else { continue }
            try active.append(bytes, chunkStart..<recordStart, recordEnds: recordEnds[chunkFirstRecord..<k])
            try active.sync()
            active.closeFile()
            if directoryDirty {
                try DurableFile.syncDirectory(try openDirectoryFD(), path: directory)
            }
            segments.append(try LogSegment.create(firstIndex: firstIndex + UInt64(k), directory: directory))
            directoryDirty = true
            chunkStart = recordStart
            chunkFirstRecord = k
        }
        let active = segments[segments.count - 1]
        try active.append(bytes, chunkStart..<bytes.count, recordEnds: recordEnds[chunkFirstRecord...])
        try active.sync()
        if directoryDirty { try DurableFile.syncDirectory(try openDirectoryFD(), path: directory) }
    }

    // MARK: Files of one record

    static func encodeSnapshotFile(_ snapshot: Snapshot) throws(DiskStorageError) -> [UInt8] {
        let m = snapshot.metadata
        var w = WireWriter()
        WireCodec.encode(m, into: &w)
        var r = WireReader(w.bytes)
        guard let decoded = try? WireCodec.decodeSnapshotMetadata(from: &r), decoded == m else {
            throw .invalidArgument("snapshot metadata (index \(m.index.rawValue), term \(m.term.rawValue), \(m.membership)) "
                + "would not decode: a value above 2^63 - 1, node 0, or a node both voter and learner")
        }
        return try RecordFormat.singleRecordFile { WireCodec.encode(snapshot, into: &$0) }
    }

    /// The payload of a file holding exactly one intact record.
    static func singleRecordPayload(_ bytes: [UInt8], path: String) throws(DiskStorageError) -> ArraySlice<UInt8> {
        switch RecordFormat.frame(in: bytes, at: 0, minPayload: 1) {
        case .incomplete(let why), .bad(let why):
            throw .unreadableFile(file: path, offset: 0, reason: why)
        case .record(let payload):
            guard payload.upperBound == bytes.count else {
                throw .unreadableFile(file: path, offset: payload.upperBound,
                                      reason: "\(bytes.count - payload.upperBound) unexpected bytes after the record")
            }
            return bytes[payload]
        }
    }

    static func decodeHardState(_ bytes: [UInt8], path: String) throws(DiskStorageError) -> HardState {
        let payload = try singleRecordPayload(bytes, path: path)
        var r = WireReader(payload)
        do {
            let state = try WireCodec.decodeHardState(from: &r)
            try r.expectEnd()
            return state
        } catch {
            throw .unreadableFile(file: path, offset: RecordFormat.headerSize + r.position - payload.startIndex,
                                  reason: "hard state does not decode: \(error)")
        }
    }

    static func decodeSnapshot(_ bytes: [UInt8], path: String) throws(DiskStorageError) -> Snapshot {
        let payload = try singleRecordPayload(bytes, path: path)
        var r = WireReader(payload)
        do {
            let snapshot = try WireCodec.decodeSnapshot(from: &r)
            try r.expectEnd()
            return snapshot
        } catch {
            throw .unreadableFile(file: path, offset: RecordFormat.headerSize + r.position - payload.startIndex,
                                  reason: "snapshot does not decode: \(error)")
        }
    }

    /// The second half of installing a snapshot, from `snapshot.pending` being durable:
    /// delete the segments, sync, rename to `snapshot`, sync. Idempotent.
    static func finishSnapshotInstall(directory: String, directoryFD: Int32, segmentPaths: [String]) throws(DiskStorageError) {
        for path in segmentPaths { try DurableFile.remove(path) }
        if !segmentPaths.isEmpty { try DurableFile.syncDirectory(directoryFD, path: directory) }
        try DurableFile.rename(directory + "/" + pendingSnapshotFileName, to: directory + "/" + snapshotFileName)
        try DurableFile.syncDirectory(directoryFD, path: directory)
    }
}
