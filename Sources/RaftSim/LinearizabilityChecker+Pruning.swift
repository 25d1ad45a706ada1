extension LinearizabilityChecker {
    /// Removes unknown-outcome writes that nothing could have observed. An unknown write can
    /// be linearized at any point after its invocation, so each one left in the history
    /// multiplies the configurations the search must consider; most timed-out writes are
    /// never read and can go. Exact: the result is linearizable if and only if `operations`
    /// is.
    ///
    /// An unknown write `p` (a put, or a compare-and-set that may apply) of value `v` is
    /// dropped when, among the remaining operations, there is
    /// 1. no completed get that read `v` and returned at or after `p`'s invocation,
    /// 2. no completed compare-and-set expecting `v` that returned at or after `p`'s
    ///    invocation, and no other unknown compare-and-set expecting `v`,
    /// 3. no completed *failed* compare-and-set `q` that returned at or after `p`'s invocation
    ///    and whose expected value `e` may still be current during `q` (a failure observes
    ///    "the value is not `e`", which `v` may be what explains).
    ///
    /// `e` is certainly not current during `q` if `e` is absent and some completed write
    /// returned before `q` was invoked; or if every write of `e` completed and for each one,
    /// some other completed write was invoked after it returned and returned before `q` was
    /// invoked.
    ///
    /// Why this is exact. Take a linearization with `p` in it. The operations between `p`
    /// and the next effective write are ones that could be linearized after `p`: by (1) no
    /// get, by (2) no compare-and-set that applies (so the next write is a put or nothing),
    /// and by (3) no failed completed compare-and-set except ones whose expected value cannot
    /// be the value `s` before `p` (the last write before `p` is followed, in real time, by
    /// another write before `q`, which would have to sit between `p` and `q`). What remains
    /// is unknown compare-and-sets that did not apply and impose nothing. So moving `p` to
    /// the very end — allowed, as its return is at +∞ — keeps every observation; at the end
    /// it observes nothing. Conversely, appending `p` at the end extends any linearization
    /// of the rest. Dropping is repeated until nothing changes; dropping a write only makes
    /// the conditions easier to meet, so each drop stays justified.
    static func withoutUnobservableWrites(_ operations: [RegisterOperation]) -> [RegisterOperation] {
        guard operations.contains(where: { !$0.isKnown && $0.writtenValue != nil }) else { return operations }

        var latestGetReading: [Int: UInt64] = [:]
        var latestCompareExpecting: [Int: UInt64] = [:]
        /// Completed effective writes (acknowledged puts, successful compare-and-sets).
        var knownWrites: [(invokedAt: UInt64, returnsAt: UInt64)] = []
        for operation in operations {
            switch (operation.effect, operation.returnsAt) {
            case (.get(let value), let returnsAt?):
                latestGetReading[value] = max(latestGetReading[value] ?? 0, returnsAt)
            case (.compareAndSet(let expected, _, let succeeded), let returnsAt?):
                latestCompareExpecting[expected] = max(latestCompareExpecting[expected] ?? 0, returnsAt)
                if succeeded == true { knownWrites.append((operation.invokedAt, returnsAt)) }
            case (.put, let returnsAt?):
                knownWrites.append((operation.invokedAt, returnsAt))
            default:
                break
            }
        }
        // For "is there a completed write invoked after a and returned before b":
        // writes by invocation, with the earliest return among each suffix.
        knownWrites.sort { $0.invokedAt < $1.invokedAt }
        var earliestReturnFrom = Array(repeating: UInt64.max, count: knownWrites.count + 1)
        for index in knownWrites.indices.reversed() {
            earliestReturnFrom[index] = min(earliestReturnFrom[index + 1], knownWrites[index].returnsAt)
        }
        func someWrite(invokedAfter start: UInt64, returnedBefore end: UInt64) -> Bool {
            var low = 0
            var high = knownWrites.count
            while low < high {
                let middle = (low + high) / 2
                if knownWrites[middle].invokedAt > start { high = middle } else { low = middle + 1 }
            }
            return earliestReturnFrom[low] < end
        }

        var dropped = Array(repeating: false, count: operations.count)
        while true {
            // Writers of each value among what remains: completion time, or nil if unknown.
            var writers: [Int: [UInt64?]] = [:]
            var unknownComparesExpecting: [Int: Int] = [:]
            for (position, operation) in operations.enumerated() where !dropped[position] {
                if let value = operation.writtenValue {
                    writers[value, default: []].append(operation.returnsAt)
                }
                if !operation.isKnown, case .compareAndSet(let expected, _, _) = operation.effect {
                    unknownComparesExpecting[expected, default: 0] += 1
                }
            }
            var latestRelevantFailure: UInt64?
            for operation in operations {
                guard case .compareAndSet(let expected, _, false?) = operation.effect,
                      let returnsAt = operation.returnsAt else { continue }
                let invokedAt = operation.invokedAt
                let expectedIsDead: Bool
                if expected == 0 {
                    expectedIsDead = earliestReturnFrom[0] < invokedAt
                } else {
                    expectedIsDead = (writers[expected] ?? []).allSatisfy { writtenAt in
                        guard let writtenAt else { return false }
                        return someWrite(invokedAfter: writtenAt, returnedBefore: invokedAt)
                    }
                }
                if !expectedIsDead { latestRelevantFailure = max(latestRelevantFailure ?? 0, returnsAt) }
            }

            var changed = false
            for (position, operation) in operations.enumerated()
            where !dropped[position] && !operation.isKnown {
                guard let value = operation.writtenValue else { continue }
                let since = operation.invokedAt
                if let latest = latestGetReading[value], latest >= since { continue }
                if let latest = latestCompareExpecting[value], latest >= since { continue }
                if let latest = latestRelevantFailure, latest >= since { continue }
                var otherUnknownCompares = unknownComparesExpecting[value] ?? 0
                if case .compareAndSet(let expected, _, _) = operation.effect, expected == value {
                    otherUnknownCompares -= 1
                }
                if otherUnknownCompares > 0 { continue }
                dropped[position] = true
                changed = true
                if case .compareAndSet(let expected, _, _) = operation.effect {
                    unknownComparesExpecting[expected, default: 0] -= 1
                }
            }
            if !changed { break }
        }
        return operations.indices.filter { !dropped[$0] }.map { operations[$0] }
    }
}
