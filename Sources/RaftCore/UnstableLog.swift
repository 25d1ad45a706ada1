/// Entries and a snapshot the node has accepted but the application has not yet persisted.
/// `entries[i]` has index `offset + i`.
struct UnstableLog {
    var snapshot: Snapshot?
    var entries: [Entry] = []
    var offset: LogIndex

    init(offset: LogIndex) { self.offset = offset }

    /// The first index this holds, if it holds a snapshot.
    var firstIndex: LogIndex? { snapshot.map { $0.metadata.index + 1 } }

    var lastIndex: LogIndex? {
        if let last = entries.last { return last.index }
        return snapshot?.metadata.index
    }

    func term(of index: LogIndex) -> Term? {
        if index < offset {
            if let s = snapshot, s.metadata.index == index { return s.metadata.term }
            return nil
        }
        guard let last = lastIndex, index <= last else { return nil }
        if entries.isEmpty { return snapshot?.metadata.term }
        return entries[Int(index.rawValue - offset.rawValue)].term
    }

    /// The entries in `[low, high)`, which must lie within this unstable part.
    func slice(_ low: LogIndex, _ high: LogIndex) -> ArraySlice<Entry> {
        entries[Int(low.rawValue - offset.rawValue)..<Int(high.rawValue - offset.rawValue)]
    }

    /// Forgets entries up to `(index, term)` once they are on stable storage.
    mutating func stableTo(_ index: LogIndex, term: Term) {
        guard let t = self.term(of: index), t == term, index >= offset else { return }
        let n = Int(index.rawValue - offset.rawValue) + 1
        entries.removeFirst(n)
        offset = index + 1
    }

    mutating func stableSnapshotTo(_ index: LogIndex) {
        if let s = snapshot, s.metadata.index == index { snapshot = nil }
    }

    mutating func restore(_ s: Snapshot) {
        offset = s.metadata.index + 1
        entries = []
        snapshot = s
    }

    /// Appends `new`, first dropping whatever it overlaps.
    mutating func truncateAndAppend(_ new: ArraySlice<Entry>) {
        guard let first = new.first else { return }
        let after = first.index
        if after == offset + UInt64(entries.count) {
            entries.append(contentsOf: new)
        } else if after <= offset {
            // Replaces everything unstable; storage entries at or after `after` are superseded.
            offset = after
            entries = Array(new)
        } else {
            entries.removeSubrange(Int(after.rawValue - offset.rawValue)...)
            entries.append(contentsOf: new)
        }
    }
}
