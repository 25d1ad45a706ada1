/// Why a storage read could not be served.
public enum StorageError: Error, Hashable, Sendable {
    /// The requested index lies before the first retained entry: it was compacted into a
    /// snapshot.
    case compacted
    /// The requested index lies after the last entry.
    case unavailable
    /// The snapshot cannot be produced right now; the leader retries later.
    case snapshotTemporarilyUnavailable
    /// The storage failed; the message says what and where.
    case failed(String)
}

/// The durable side of a Raft node's log, as the core reads it.
///
/// The core never writes to storage: it hands entries, hard state and snapshots to the
/// application in `Ready`, and the application makes them durable (and visible through this
/// protocol) before calling `RaftNode.advance(_:)`. An implementation must return exactly
/// what was persisted: after a crash the node is rebuilt from it.
///
/// Indices: `firstIndex` is the first entry still held (snapshot index + 1); `lastIndex` the
/// last. `term(of: firstIndex - 1)` must answer with the snapshot's term.
public protocol RaftStorage: AnyObject {
    /// The persisted hard state and the membership of the latest snapshot.
    func initialState() throws(StorageError) -> (HardState, Membership)
    /// Entries in `[low, high)`, stopping early (but returning at least one entry) once
    /// `maxBytes` of `Entry.byteSize` is reached.
    func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(StorageError) -> [Entry]
    /// The term of the entry at `index`; valid for `firstIndex - 1 ... lastIndex`.
    func term(of index: LogIndex) throws(StorageError) -> Term
    /// The first index held (the snapshot index + 1).
    func firstIndex() -> LogIndex
    /// The last index held (the snapshot index if the log is empty).
    func lastIndex() -> LogIndex
    /// The latest snapshot, for sending to a follower that is too far behind.
    func snapshot() throws(StorageError) -> Snapshot
}
