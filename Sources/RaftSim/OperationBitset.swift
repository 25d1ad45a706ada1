/// A fixed-capacity set of small non-negative integers (operation indices), stored as bits
/// in `[UInt64]`. It is the "which operations are already linearized" part of the
/// linearizability checker's memo key, so it hashes and compares by content for any
/// capacity, not just 64.
///
/// Hashing is O(1): the set keeps a fingerprint, the XOR of a fixed 64-bit mix of each
/// member, updated on every insertion and removal. Equal sets have equal fingerprints;
/// equality itself compares the words.
struct OperationBitset: Hashable, Sendable {
    private(set) var words: [UInt64]
    private(set) var fingerprint: UInt64 = 0

    /// An empty set able to hold `0 ..< capacity`.
    init(capacity: Int) {
        precondition(capacity >= 0)
        words = Array(repeating: 0, count: (capacity + 63) / 64)
    }

    /// Whether `index` is in the set.
    @inline(__always)
    func contains(_ index: Int) -> Bool {
        words[index >> 6] & (1 << UInt64(index & 63)) != 0
    }

    /// Adds `index` (no effect if present).
    @inline(__always)
    mutating func insert(_ index: Int) {
        let bit: UInt64 = 1 << UInt64(index & 63)
        if words[index >> 6] & bit == 0 {
            words[index >> 6] |= bit
            fingerprint ^= Self.mix(index)
        }
    }

    /// Removes `index` (no effect if absent).
    @inline(__always)
    mutating func remove(_ index: Int) {
        let bit: UInt64 = 1 << UInt64(index & 63)
        if words[index >> 6] & bit != 0 {
            words[index >> 6] &= ~bit
            fingerprint ^= Self.mix(index)
        }
    }

    static func == (lhs: OperationBitset, rhs: OperationBitset) -> Bool {
        lhs.fingerprint == rhs.fingerprint && lhs.words == rhs.words
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(fingerprint)
    }

    /// The SplitMix64 finalizer of `index`: a fixed, well-spread 64-bit value per index.
    @inline(__always)
    private static func mix(_ index: Int) -> UInt64 {
        var z = UInt64(truncatingIfNeeded: index) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
