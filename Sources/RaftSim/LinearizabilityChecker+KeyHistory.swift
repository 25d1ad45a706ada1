extension LinearizabilityChecker {
    /// One operation of a single key's sub-history, with values interned to integers
    /// (0 = absent) so that a register state is an `Int`.
    struct RegisterOperation: Sendable {
        /// What the operation does to, and requires of, the register.
        enum Effect: Sendable {
            /// Write `value`. Known or unknown outcome alike: an acknowledged put wrote it, an
            /// unknown put either writes it at some point or (equivalently, for everyone
            /// else) at the very end.
            case put(value: Int)
            /// A completed read that observed `value`.
            case get(value: Int)
            /// Compare-and-set; `succeeded == nil` when the outcome is unknown.
            case compareAndSet(expected: Int, new: Int, succeeded: Bool?)
        }

        /// Position in ``KVHistory/operations``.
        var id: OperationID
        var invokedAt: UInt64
        /// Completion time if the outcome is known; `nil` means the return is at +∞ and the
        /// output is unconstrained.
        var returnsAt: UInt64?
        var effect: Effect

        var isKnown: Bool { returnsAt != nil }

        /// The register state after applying this operation to `state`, or `nil` if the
        /// recorded observation is impossible from `state`.
        @inline(__always)
        func step(from state: Int) -> Int? {
            switch effect {
            case .put(let value):
                return value
            case .get(let value):
                return state == value ? state : nil
            case .compareAndSet(let expected, let new, let succeeded):
                switch succeeded {
                case true?: return state == expected ? new : nil
                case false?: return state != expected ? state : nil
                case nil: return state == expected ? new : state
                }
            }
        }

        /// The value this operation may write, if any.
        var writtenValue: Int? {
            switch effect {
            case .put(let value): return value
            case .compareAndSet(_, let new, let succeeded): return succeeded == false ? nil : new
            case .get: return nil
            }
        }
    }

    /// The sub-history of one key, ready to be searched: gets with unknown outcome removed
    /// (they constrain nothing), values interned.
    struct KeyHistory: Sendable {
        let key: String
        /// Sorted by invocation time, then ID.
        let operations: [RegisterOperation]
        /// The original operations, for explanations, indexed like `operations`.
        let originals: [KVOperation]
        /// Interned value `i` is `values[i]`; `values[0]` is `nil` (absent).
        let values: [String?]
        /// Number of gets with unknown outcome that were left out.
        let ignoredGets: Int

        init(key: String, operations recorded: [(id: OperationID, operation: KVOperation)]) {
            var values: [String?] = [nil]
            var index: [String: Int] = [:]
            func intern(_ value: String?) -> Int {
                guard let value else { return 0 }
                if let existing = index[value] { return existing }
                values.append(value)
                index[value] = values.count - 1
                return values.count - 1
            }
            var operations: [RegisterOperation] = []
            var originals: [KVOperation] = []
            var ignoredGets = 0
            let sorted = recorded.sorted {
                ($0.operation.invokedAt, $0.id) < ($1.operation.invokedAt, $1.id)
            }
            for (id, operation) in sorted {
                let observation = operation.observation
                let returnsAt = observation == nil ? nil : operation.completedAt
                let effect: RegisterOperation.Effect
                switch (operation.input, observation) {
                case (.put(_, let value), _):
                    effect = .put(value: intern(value))
                case (.get, .get(let value)?):
                    effect = .get(value: intern(value))
                case (.get, _):
                    ignoredGets += 1
                    continue
                case (.compareAndSet(_, let expected, let new), .compareAndSet(let succeeded)?):
                    effect = .compareAndSet(expected: intern(expected), new: intern(new), succeeded: succeeded)
                case (.compareAndSet(_, let expected, let new), _):
                    effect = .compareAndSet(expected: intern(expected), new: intern(new), succeeded: nil)
                }
                operations.append(RegisterOperation(id: id, invokedAt: operation.invokedAt,
                                                    returnsAt: returnsAt, effect: effect))
                originals.append(operation)
            }
            self.key = key
            self.operations = operations
            self.originals = originals
            self.values = values
            self.ignoredGets = ignoredGets
        }

        /// The sub-history as it looked just after the first `count` of `events` (which must be
        /// `eventOrder(of: operations)`):
        /// operations not yet invoked are absent; operations invoked but not returned get an
        /// unknown outcome (and are removed if they are gets). Keeps the order of `operations`.
        func prefix(events: [Event], count: Int) -> [RegisterOperation] {
            var invoked = Array(repeating: false, count: operations.count)
            var returned = Array(repeating: false, count: operations.count)
            for event in events.prefix(count) {
                if event.isReturn { returned[event.operation] = true } else { invoked[event.operation] = true }
            }
            var result: [RegisterOperation] = []
            for (position, operation) in operations.enumerated() where invoked[position] {
                if returned[position] {
                    result.append(operation)
                    continue
                }
                var cut = operation
                cut.returnsAt = nil
                switch operation.effect {
                case .get:
                    continue
                case .put:
                    break
                case .compareAndSet(let expected, let new, _):
                    cut.effect = .compareAndSet(expected: expected, new: new, succeeded: nil)
                }
                result.append(cut)
            }
            return result
        }
    }

    /// The call and return events of `operations` in the order the search walks them: by
    /// time, calls before returns at the same tick (so operations touching at a tick count as
    /// concurrent, never as ordered), then by position. Unknown-outcome operations have no
    /// return event.
    static func eventOrder(of operations: [RegisterOperation]) -> [Event] {
        var events: [Event] = []
        events.reserveCapacity(operations.count * 2)
        for (position, operation) in operations.enumerated() {
            events.append(Event(time: operation.invokedAt, isReturn: false, operation: position))
            if let returnsAt = operation.returnsAt {
                events.append(Event(time: returnsAt, isReturn: true, operation: position))
            }
        }
        events.sort()
        return events
    }

    /// A call or return in a key's sub-history.
    struct Event: Comparable, Sendable {
        var time: UInt64
        var isReturn: Bool
        /// Position in ``KeyHistory/operations``.
        var operation: Int

        static func < (lhs: Event, rhs: Event) -> Bool {
            if lhs.time != rhs.time { return lhs.time < rhs.time }
            if lhs.isReturn != rhs.isReturn { return !lhs.isReturn }
            return lhs.operation < rhs.operation
        }
    }

    /// Removes unknown-outcome writes that nothing could have observed, which keeps them from
    /// multiplying the search space. Sound and complete: the result is linearizable if and
    /// only if `operations` is.
    ///
    /// An unknown write `p` of value `v` is dropped when no remaining operation could be
    /// linearized after `p` and see `v`, i.e. there is
    /// - no completed get that read `v` and returned at or after `p`'s invocation,
    /// - no completed compare-and-set expecting `v` that returned at or after `p`'s invocation,
    /// - no other remaining unknown compare-and-set expecting `v`,
    /// - no completed *failed* compare-and-set that returned at or after `p`'s invocation
    ///   (a failure observes "the value is not the expected one", which `v` may explain).
    ///
    /// Then in any linearization the operations between `p` and the next effective write are
    /// at most unknown compare-and-sets that did not apply, and that next write is a put (a
    /// compare-and-set applying there would expect `v`), so moving `p` to the very end — which
    /// is allowed for an operation whose return is at +∞ — leaves every observation intact.
    /// Conversely appending `p` at the end extends any linearization of the rest. Dropping is
    /// repeated until nothing changes, each step justified against what remains.
    static func withoutUnobservableWrites(_ operations: [RegisterOperation]) -> [RegisterOperation] {
        var latestGetReading: [Int: UInt64] = [:]
        var latestCompareExpecting: [Int: UInt64] = [:]
        var latestFailedCompare: UInt64?
        var unknownComparesExpecting: [Int: Int] = [:]
        for operation in operations {
            switch (operation.effect, operation.returnsAt) {
            case (.get(let value), let returnsAt?):
                latestGetReading[value] = max(latestGetReading[value] ?? 0, returnsAt)
            case (.compareAndSet(let expected, _, let succeeded), let returnsAt?):
                latestCompareExpecting[expected] = max(latestCompareExpecting[expected] ?? 0, returnsAt)
                if succeeded == false { latestFailedCompare = max(latestFailedCompare ?? 0, returnsAt) }
            case (.compareAndSet(let expected, _, _), nil):
                unknownComparesExpecting[expected, default: 0] += 1
            default:
                break
            }
        }
        var dropped = Array(repeating: false, count: operations.count)
        var changed = true
        while changed {
            changed = false
            for (position, operation) in operations.enumerated()
            where !dropped[position] && !operation.isKnown {
                guard let value = operation.writtenValue else { continue }
                let since = operation.invokedAt
                if let latest = latestGetReading[value], latest >= since { continue }
                if let latest = latestCompareExpecting[value], latest >= since { continue }
                if let latest = latestFailedCompare, latest >= since { continue }
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
        }
        return operations.indices.filter { !dropped[$0] }.map { operations[$0] }
    }
}
