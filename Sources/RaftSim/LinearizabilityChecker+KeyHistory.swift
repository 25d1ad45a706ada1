extension LinearizabilityChecker {
    /// One operation of a single key's sub-history, with values interned to integers
    /// (see ``KeyHistory/absent`` and ``KeyHistory/unobserved``) so that a register state is
    /// an `Int`.
    struct RegisterOperation: Sendable {
        /// What the operation does to, and requires of, the register.
        enum Effect: Hashable, Sendable {
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
    /// (they constrain nothing), values interned to integers.
    struct KeyHistory: Sendable {
        let key: String
        /// Sorted by invocation time, then ID.
        let operations: [RegisterOperation]
        /// The original operations, for explanations, indexed like `operations`.
        let originals: [KVOperation]
        /// Number of gets with unknown outcome that were left out.
        let ignoredGets: Int

        /// Interned form of "absent".
        static let absent = 0
        /// Interned form of every value that no operation can tell apart from another: never
        /// returned by a completed get and never expected by a compare-and-set. Merging them
        /// is exact (the register model only ever compares the state with observed or
        /// expected values) and makes states, and unknown writes of such values, coincide.
        static let unobserved = 1

        init(key: String, operations recorded: [(id: OperationID, operation: KVOperation)]) {
            var observed: Set<String> = []
            for (_, operation) in recorded {
                switch (operation.input, operation.observation) {
                case (.get, .get(let value?)?): observed.insert(value)
                case (.compareAndSet(_, let expected?, _), _): observed.insert(expected)
                default: break
                }
            }
            var index: [String: Int] = [:]
            func intern(_ value: String?) -> Int {
                guard let value else { return Self.absent }
                guard observed.contains(value) else { return Self.unobserved }
                if let existing = index[value] { return existing }
                let id = index.count + 2
                index[value] = id
                return id
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
}
