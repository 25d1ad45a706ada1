/// Reads over a log kept in memory as `[placeholder at the snapshot index] + entries`, the
/// layout `MemoryStorage` and pgha's disk storage share: one implementation of the
/// `RaftStorage` read rules (errors, byte limits) for both.
extension Array where Element == Entry {
    /// The first index held (snapshot index + 1).
    package var retainedFirstIndex: LogIndex { self[0].index + 1 }

    /// The last index held (the snapshot index if no entry follows it).
    package var retainedLastIndex: LogIndex { self[0].index + UInt64(count - 1) }

    /// `RaftStorage.term(of:)` over this layout.
    package func retainedTerm(of index: LogIndex) throws(StorageError) -> Term {
        let offset = self[0].index
        if index < offset { throw .compacted }
        let i = Int(index.rawValue - offset.rawValue)
        if i >= count { throw .unavailable }
        return self[i].term
    }

    /// `RaftStorage.entries(from:to:maxBytes:)` over this layout.
    package func retainedEntries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(StorageError) -> [Entry] {
        let offset = self[0].index
        if low <= offset { throw .compacted }
        if high > retainedLastIndex + 1 { throw .unavailable }
        if low >= high { return [] }
        let lo = Int(low.rawValue - offset.rawValue)
        let hi = Int(high.rawValue - offset.rawValue)
        var out: [Entry] = []
        out.reserveCapacity(hi - lo)
        var size = 0
        for i in lo..<hi {
            size += self[i].byteSize
            if !out.isEmpty && size > maxBytes { break }
            out.append(self[i])
        }
        return out
    }
}
