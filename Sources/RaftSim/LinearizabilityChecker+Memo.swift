extension LinearizabilityChecker {
    /// The search's memo: every configuration explored so far, as (linearized known-outcome
    /// operations, register value, linearized unknown-outcome operations).
    ///
    /// A new configuration is *subsumed* — and not recorded — if an explored one has the same
    /// known operations and value, a subset of its unknown operations, and no more of its
    /// interchangeable unknown puts ("jokers": unknown puts of forgotten values, which all
    /// act alike and are all available, so only their number matters; they are left out of
    /// the set and counted instead). The explored one has every option the new one has. Stored flat (one
    /// open-addressing table of entry numbers, entries' words side by side) so that recording
    /// a configuration allocates nothing but amortized array growth.
    struct ConfigurationMemo {
        private let knownWordCount: Int
        private let unknownWordCount: Int
        /// Key number per slot, -1 if empty; linear probing over a power-of-two table. A key
        /// is a distinct (known operations, value) pair.
        private var slots: [Int32]
        private var keyHashes: [UInt64] = []
        private var keyStates: [Int] = []
        private var keyKnownWords: [UInt64] = []
        /// Per key, its most recent set of unknown operations (-1: none).
        private var keyLatestSet: [Int32] = []
        /// Sets of unknown operations, side by side, each linked to the previous one of its key.
        private var setWords: [UInt64] = []
        private var setPrevious: [Int32] = []
        private var setJokers: [Int32] = []

        /// Number of configurations recorded.
        private(set) var count = 0

        init(known: OperationBitset, unknownWordCount: Int) {
            knownWordCount = known.words.count
            self.unknownWordCount = unknownWordCount
            slots = Array(repeating: -1, count: 1024)
        }

        /// Records the configuration unless it is subsumed by a recorded one; returns whether
        /// it was recorded.
        mutating func insert(known: OperationBitset, unknown: [UInt64], jokers: Int, state: Int) -> Bool {
            let hash = Self.hash(known.fingerprint, state)
            let mask = slots.count - 1
            var slot = Int(truncatingIfNeeded: hash) & mask
            var key = -1
            while slots[slot] >= 0 {
                let candidate = Int(slots[slot])
                if keyHashes[candidate] == hash && keyStates[candidate] == state && knownMatches(candidate, known) {
                    key = candidate
                    break
                }
                slot = (slot + 1) & mask
            }
            if key >= 0 {
                var set = Int(keyLatestSet[key])
                while set >= 0 {
                    if setJokers[set] <= jokers && setIsSubset(set, of: unknown) { return false }
                    set = Int(setPrevious[set])
                }
            } else {
                key = keyHashes.count
                slots[slot] = Int32(key)
                keyHashes.append(hash)
                keyStates.append(state)
                keyKnownWords.append(contentsOf: known.words)
                keyLatestSet.append(-1)
                if keyHashes.count * 2 > slots.count { grow() }
            }
            setPrevious.append(keyLatestSet[key])
            keyLatestSet[key] = Int32(count)
            setWords.append(contentsOf: unknown)
            setJokers.append(Int32(jokers))
            count += 1
            return true
        }

        @inline(__always)
        private func knownMatches(_ key: Int, _ known: OperationBitset) -> Bool {
            let base = key * knownWordCount
            for index in 0 ..< knownWordCount where keyKnownWords[base + index] != known.words[index] {
                return false
            }
            return true
        }

        @inline(__always)
        private func setIsSubset(_ set: Int, of unknown: [UInt64]) -> Bool {
            let base = set * unknownWordCount
            for index in 0 ..< unknownWordCount where setWords[base + index] & ~unknown[index] != 0 {
                return false
            }
            return true
        }

        private mutating func grow() {
            slots = Array(repeating: -1, count: slots.count * 2)
            let mask = slots.count - 1
            for key in keyHashes.indices {
                var slot = Int(truncatingIfNeeded: keyHashes[key]) & mask
                while slots[slot] >= 0 { slot = (slot + 1) & mask }
                slots[slot] = Int32(key)
            }
        }

        /// Mixes the known set's fingerprint with the value (SplitMix64 finalizer).
        @inline(__always)
        private static func hash(_ fingerprint: UInt64, _ state: Int) -> UInt64 {
            var z = fingerprint ^ (UInt64(truncatingIfNeeded: state) &* 0x9E37_79B9_7F4A_7C15)
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
