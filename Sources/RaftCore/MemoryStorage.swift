/// A `RaftStorage` that keeps everything in memory. Used by tests, the simulator and
/// benchmarks; also the reference for what a disk implementation must do.
///
/// Not thread-safe: give it one owner, the same one that owns the `RaftNode`.
public final class MemoryStorage: RaftStorage {
    public private(set) var hardState = HardState()
    public private(set) var latestSnapshot = Snapshot()
    /// `log[0]` is a placeholder at the snapshot index holding the snapshot's term.
    private var log: [Entry] = [Entry(term: .zero, index: .zero)]

    /// Creates empty storage. `membership` is the initial cluster for a node that bootstraps
    /// a new cluster; a node that will join an existing cluster passes an empty membership
    /// and learns it from the leader.
    public init(membership: Membership = Membership()) {
        latestSnapshot.metadata.membership = membership
    }

    public func initialState() throws(StorageError) -> (HardState, Membership) {
        (hardState, latestSnapshot.metadata.membership)
    }

    public func firstIndex() -> LogIndex { log.retainedFirstIndex }
    public func lastIndex() -> LogIndex { log.retainedLastIndex }

    public func term(of index: LogIndex) throws(StorageError) -> Term {
        try log.retainedTerm(of: index)
    }

    public func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(StorageError) -> [Entry] {
        try log.retainedEntries(from: low, to: high, maxBytes: maxBytes)
    }

    public func snapshot() throws(StorageError) -> Snapshot { latestSnapshot }

    /// Records the hard state handed out in a `Ready`.
    public func setHardState(_ state: HardState) { hardState = state }

    /// Appends entries handed out in a `Ready`. Entries that overlap the stored log replace
    /// it from the first overlapping index on (the core only hands out such overlaps when a
    /// follower's conflicting suffix must go). Entries at or before the snapshot are ignored.
    public func append(_ entries: [Entry]) {
        guard var first = entries.first else { return }
        var entries = entries[...]
        let snapshotIndex = log[0].index
        if first.index <= snapshotIndex {
            entries = entries.drop(while: { $0.index <= snapshotIndex })
            guard let f = entries.first else { return }
            first = f
        }
        precondition(first.index <= lastIndex() + 1,
                     "MemoryStorage.append: gap between last index \(lastIndex()) and \(first.index)")
        let keep = Int(first.index.rawValue - snapshotIndex.rawValue)
        log.removeSubrange(keep...)
        log.append(contentsOf: entries)
    }

    /// Replaces everything with `snapshot` (a follower installing the leader's snapshot).
    public func applySnapshot(_ snapshot: Snapshot) {
        latestSnapshot = snapshot
        log = [Entry(term: snapshot.metadata.term, index: snapshot.metadata.index)]
        if hardState.commit < snapshot.metadata.index { hardState.commit = snapshot.metadata.index }
    }

    /// Takes a snapshot of the application state at `index` (which must be applied) and
    /// compacts the log up to it. `membership` must be the membership in force at `index`.
    public func createSnapshot(at index: LogIndex, membership: Membership, data: [UInt8]) throws(StorageError) {
        let offset = log[0].index
        if index <= offset { throw .compacted }
        if index > lastIndex() { throw .unavailable }
        let t = try term(of: index)
        latestSnapshot = Snapshot(metadata: SnapshotMetadata(index: index, term: t, membership: membership), data: data)
        compact(through: index)
    }

    /// Makes `snapshot` (of entries this storage holds, taken and made durable elsewhere)
    /// the latest one and compacts the log up to `tail` entries before its index, so a
    /// follower a little behind still gets entries rather than the snapshot.
    public func recordSnapshot(_ snapshot: Snapshot, keepingEntries tail: UInt64) {
        guard snapshot.metadata.index > latestSnapshot.metadata.index else { return }
        latestSnapshot = snapshot
        let index = snapshot.metadata.index
        if index.rawValue > tail { compact(through: LogIndex(index.rawValue - tail)) }
    }

    /// Drops entries up to and including `index` (never past the snapshot it must be covered
    /// by).
    public func compact(through index: LogIndex) {
        let offset = log[0].index
        guard index > offset else { return }
        let upTo = min(index, lastIndex())
        let n = Int(upTo.rawValue - offset.rawValue)
        let term = log[n].term
        log.removeSubrange(0..<n)
        log[0] = Entry(term: term, index: upTo)
    }
}
