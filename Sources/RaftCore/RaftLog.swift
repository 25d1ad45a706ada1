/// The node's whole log: what is on stable storage plus what is not yet persisted, with the
/// commit and apply positions (as etcd's `log.go`).
///
/// Invariant: `applied <= applying <= committed <= lastIndex`.
struct RaftLog {
    let storage: any RaftStorage
    var unstable: UnstableLog
    /// The highest index known to be stored on a quorum.
    var committed: LogIndex
    /// The highest index the application has applied (confirmed by `advance`).
    var applied: LogIndex
    /// The highest index handed out for applying in a `Ready` not yet advanced.
    var applying: LogIndex

    init(storage: any RaftStorage) {
        self.storage = storage
        let first = storage.firstIndex()
        let last = storage.lastIndex()
        unstable = UnstableLog(offset: last + 1)
        committed = first - 1
        applied = first - 1
        applying = first - 1
    }

    var firstIndex: LogIndex { unstable.firstIndex ?? storage.firstIndex() }
    var lastIndex: LogIndex { unstable.lastIndex ?? storage.lastIndex() }

    /// The last index that is on stable storage and still part of this log.
    var lastStableIndex: LogIndex { min(unstable.offset - 1, lastIndex) }

    /// The term of the entry at `index`, or nil if it is compacted or beyond the end.
    func term(of index: LogIndex) -> Term? {
        let dummy = firstIndex - 1
        if index < dummy || index > lastIndex { return nil }
        if let t = unstable.term(of: index) { return t }
        return try? storage.term(of: index)
    }

    var lastTerm: Term { term(of: lastIndex) ?? .zero }

    func matchTerm(_ index: LogIndex, _ term: Term) -> Bool {
        self.term(of: index) == term
    }

    /// Whether a log ending at `(lastIndex, lastTerm)` is at least as up-to-date as this one
    /// (Raft paper §5.4.1).
    func isUpToDate(lastIndex: LogIndex, lastTerm: Term) -> Bool {
        lastTerm > self.lastTerm || (lastTerm == self.lastTerm && lastIndex >= self.lastIndex)
    }

    /// The index of the first entry in `entries` that is missing or conflicts (same index,
    /// different term) with this log; nil if all are already present.
    func firstConflict(in entries: ArraySlice<Entry>) -> LogIndex? {
        for e in entries where !matchTerm(e.index, e.term) {
            return e.index
        }
        return nil
    }

    /// The last entry at or below `index` whose term is at most `term`: the point a leader can
    /// jump back to after a rejection (etcd's `findConflictByTerm`).
    func lastEntry(atOrBelow index: LogIndex, withTermAtMost term: Term) -> (LogIndex, Term) {
        var i = min(index, lastIndex)
        while true {
            guard let t = self.term(of: i) else { return (i, .zero) }
            if t <= term || i == .zero { return (i, t) }
            i = i - 1
        }
    }

    /// Appends entries after truncating any conflicting suffix. Returns the new last index.
    @discardableResult
    mutating func append(_ entries: ArraySlice<Entry>) -> LogIndex {
        guard !entries.isEmpty else { return lastIndex }
        unstable.truncateAndAppend(entries)
        return lastIndex
    }

    /// Entries in `[low, high)` up to `maxBytes` (at least one), from storage and the unstable
    /// part.
    func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(StorageError) -> [Entry] {
        if low >= high { return [] }
        if low < firstIndex { throw .compacted }
        if high > lastIndex + 1 { throw .unavailable }
        var out: [Entry] = []
        if low < unstable.offset {
            let storageHigh = min(high, unstable.offset)
            out = try storage.entries(from: low, to: storageHigh, maxBytes: maxBytes)
            if LogIndex(low.rawValue + UInt64(out.count)) < storageHigh { return out }
        }
        if high > unstable.offset {
            var size = out.reduce(0) { $0 + $1.byteSize }
            for e in unstable.slice(max(low, unstable.offset), high) {
                size += e.byteSize
                if !out.isEmpty && size > maxBytes { break }
                out.append(e)
            }
        }
        return out
    }

    /// Raises the commit index; never lowers it, never past the end of the log.
    mutating func commit(to index: LogIndex) {
        let target = min(index, lastIndex)
        if target > committed { committed = target }
    }

    /// Entries committed and not yet handed out for applying, up to `maxBytes`.
    func entriesToApply(maxBytes: Int) throws(StorageError) -> [Entry] {
        let high = min(committed, lastIndex)
        guard applying < high else { return [] }
        return try entries(from: applying + 1, to: high + 1, maxBytes: maxBytes)
    }

    var hasEntriesToApply: Bool { applying < min(committed, lastIndex) && unstable.snapshot == nil }

    mutating func restore(_ snapshot: Snapshot) {
        committed = snapshot.metadata.index
        unstable.restore(snapshot)
    }
}
