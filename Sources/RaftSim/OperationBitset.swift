/// A fixed-capacity set of small non-negative integers (operation indices), stored as bits
/// in `[UInt64]`. Used as the "which operations are already linearized" half of the
/// linearizability checker's memo key, so it must hash and compare by content for any
/// capacity, not just 64.
struct OperationBitset: Hashable, Sendable {
    private(set) var words: [UInt64]

    /// An empty set able to hold `0 ..< capacity`.
    init(capacity: Int) {
        precondition(capacity >= 0)
        words = Array(repeating: 0, count: (capacity + 63) / 64)
    }

    /// Whether `index` is in the set.
    func contains(_ index: Int) -> Bool {
        words[index >> 6] & (1 << UInt64(index & 63)) != 0
    }

    /// Adds `index`.
    mutating func insert(_ index: Int) {
        words[index >> 6] |= 1 << UInt64(index & 63)
    }

    /// Removes `index`.
    mutating func remove(_ index: Int) {
        words[index >> 6] &= ~(1 << UInt64(index & 63))
    }

    /// Whether every member of `self` is a member of `other` (same capacity).
    func isSubset(of other: OperationBitset) -> Bool {
        for index in words.indices where words[index] & ~other.words[index] != 0 {
            return false
        }
        return true
    }

    /// Number of members.
    var count: Int {
        words.reduce(0) { $0 + $1.nonzeroBitCount }
    }

    static func == (lhs: OperationBitset, rhs: OperationBitset) -> Bool {
        lhs.words == rhs.words
    }

    func hash(into hasher: inout Hasher) {
        for word in words { hasher.combine(word) }
    }
}
