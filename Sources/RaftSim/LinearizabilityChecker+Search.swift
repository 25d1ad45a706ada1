extension LinearizabilityChecker {
    /// How a search of one key's sub-history ended.
    enum SearchOutcome: Sendable {
        /// A linearization exists; `order` lists the positions (into the searched array) of
        /// the operations in one, except unknown-outcome operations that need not take effect
        /// (they can be appended at the end).
        case linearizable(order: [Int])
        /// No linearization exists. `blocking` is the position of the operation whose
        /// completion was the latest one any explored configuration got stuck at: a good
        /// first guess for where the history stops being linearizable.
        case violation(blocking: Int)
        /// The budget ran out after `statesExplored` configurations.
        case undecided(statesExplored: Int, timedOut: Bool)
    }

    /// Limits of one search.
    struct SearchLimits: Sendable {
        var maxStates: Int
        var deadline: ContinuousClock.Instant?
    }

    /// Runs ``LinearizationSearch`` on `operations`.
    static func search(_ operations: [RegisterOperation], limits: SearchLimits) -> SearchOutcome {
        var search = LinearizationSearch(operations)
        return search.run(limits: limits)
    }

    /// The Wing–Gong search with Lowe's memoization, as in Porcupine's `checkSingle`, plus
    /// subsumption for operations with unknown outcome.
    ///
    /// The history is a doubly linked list of call and return entries in time order
    /// (arrays of indices; node 0 is the head sentinel). The operations that may be
    /// linearized next are the calls before the first return entry: a return entry belongs to
    /// an operation that has completed but is not yet linearized, and everything invoked
    /// after that must come later. Linearizing an operation *lifts* its call and return out
    /// of the list; backtracking *unlifts* them. A configuration (set of linearized
    /// operations, register value) already explored is never explored again, since its
    /// future does not depend on the path that reached it.
    ///
    /// Unknown-outcome operations have no return entry (their return is at +∞), their step
    /// always succeeds, and they need not be linearized at all (equivalently: they can go
    /// last). Hence:
    /// - the search stops as soon as every known-outcome operation is linearized;
    /// - a configuration is *subsumed* by an explored one with the same known operations and
    ///   value and a subset of its unknown operations, which has every option it has (see
    ///   ``ConfigurationMemo``); known-outcome candidates are tried before unknown ones, so
    ///   configurations with fewer unknown operations tend to come first and subsume the rest;
    /// - unknown operations with identical effects are interchangeable (the earlier invoked
    ///   one can stand in wherever the later one is linearized), so they are linearized in
    ///   invocation order only.
    ///
    /// The ``ValueLedger`` abandons configurations that can no longer succeed and merges
    /// values no remaining operation can tell apart. Every one of these reductions only skips
    /// configurations whose success would imply the success of one that is explored, so the
    /// answer is exact.
    struct LinearizationSearch {
        /// One level of the depth-first search: the configuration reached, and where the
        /// enumeration of its candidates stands.
        private struct Frame {
            /// 0 while trying known-outcome calls, 1 while trying unknown-outcome calls.
            var phase = 0
            /// The node last tried in this phase; 0 (the head) before the first.
            var cursor = 0
        }

        /// Per-value bookkeeping along the current path.
        ///
        /// - A value that unlinearized known-outcome operations need the register to hold
        ///   (gets that read it, successful compare-and-sets that expect it) but that no
        ///   unlinearized operation can write any more, while the register holds something
        ///   else, makes the configuration *hopeless*: it has no completion, so it is not
        ///   explored.
        /// - A value that no unlinearized known-outcome operation compares the register with,
        ///   and no unknown-outcome compare-and-set expects, is *forgotten*: from here on a
        ///   register holding it behaves exactly like one holding any other forgotten value.
        ///   Forgotten values are all mapped to ``KeyHistory/unobserved``, and unknown puts of
        ///   forgotten values become interchangeable (see ``ConfigurationMemo``). Whether a
        ///   value is forgotten depends only on which known-outcome operations are linearized.
        private struct ValueLedger {
            private var writers: [Int]
            private var writersUsed: [Int]
            private var awaiting: [Int]
            /// Unlinearized known-outcome operations comparing the register with the value,
            /// plus all unknown-outcome compare-and-sets expecting it.
            private var references: [Int]
            /// Number of values that are awaited and have no writer left.
            private var stranded = 0

            init(_ operations: [RegisterOperation]) {
                var valueCount = KeyHistory.unobserved + 1
                for operation in operations {
                    switch operation.effect {
                    case .put(let value), .get(let value): valueCount = max(valueCount, value + 1)
                    case .compareAndSet(let expected, let new, _): valueCount = max(valueCount, expected + 1, new + 1)
                    }
                }
                writers = Array(repeating: 0, count: valueCount)
                writersUsed = writers
                awaiting = writers
                references = writers
                for operation in operations {
                    if let value = operation.writtenValue { writers[value] += 1 }
                    if let value = Self.awaitedValue(of: operation) { awaiting[value] += 1 }
                    if let value = Self.comparedValue(of: operation) { references[value] += 1 }
                }
                for value in 0 ..< valueCount where isStranded(value) { stranded += 1 }
            }

            /// The value a known-outcome operation needs the register to hold.
            private static func awaitedValue(of operation: RegisterOperation) -> Int? {
                switch operation.effect {
                case .get(let value) where operation.isKnown: return value
                case .compareAndSet(let expected, _, true?): return expected
                default: return nil
                }
            }

            /// The value an operation compares the register with, if any.
            private static func comparedValue(of operation: RegisterOperation) -> Int? {
                switch operation.effect {
                case .get(let value): return value
                case .compareAndSet(let expected, _, _): return expected
                case .put: return nil
                }
            }

            @inline(__always)
            private func isStranded(_ value: Int) -> Bool {
                awaiting[value] > 0 && writersUsed[value] == writers[value]
            }

            /// Whether no remaining operation can tell `value` from another forgotten value.
            @inline(__always)
            func isForgotten(_ value: Int) -> Bool {
                references[value] == 0
            }

            /// `state`, or ``KeyHistory/unobserved`` if it is forgotten.
            @inline(__always)
            func canonical(_ state: Int) -> Int {
                references[state] == 0 ? KeyHistory.unobserved : state
            }

            /// Records that `operation` was linearized (`sign` 1) or un-linearized (`sign` -1).
            @inline(__always)
            mutating func record(_ operation: RegisterOperation, sign: Int) {
                if operation.isKnown, let value = Self.comparedValue(of: operation) { references[value] -= sign }
                if let value = Self.awaitedValue(of: operation) {
                    let before = isStranded(value)
                    awaiting[value] -= sign
                    stranded += (isStranded(value) ? 1 : 0) - (before ? 1 : 0)
                }
                if let value = operation.writtenValue {
                    let before = isStranded(value)
                    writersUsed[value] += sign
                    stranded += (isStranded(value) ? 1 : 0) - (before ? 1 : 0)
                }
            }

            /// Whether some awaited value other than `state` can never be written again.
            @inline(__always)
            func isHopeless(state: Int) -> Bool {
                stranded > (isStranded(state) ? 1 : 0)
            }
        }

        private let operations: [RegisterOperation]
        /// Index of each operation in its bitset (known and unknown are numbered apart).
        private var bitIndex: [Int]
        private var next: [Int]
        private var prev: [Int]
        private var operationOf: [Int]
        /// For a call node, its return node; -1 for return nodes and unknown-outcome calls.
        private var match: [Int]
        private var isCall: [Bool]
        /// For an unknown-outcome operation, the previous unknown-outcome operation (by
        /// position, i.e. invocation) with the identical effect, or -1.
        private var twinBefore: [Int]
        /// Per unknown-outcome bit index: the value written if the operation is a put, else -1.
        private var unknownPutValue: [Int] = []
        private var knownCount = 0
        private var unknownCount = 0

        init(_ operations: [RegisterOperation]) {
            self.operations = operations
            bitIndex = Array(repeating: 0, count: operations.count)
            for (position, operation) in operations.enumerated() {
                if operation.isKnown {
                    bitIndex[position] = knownCount
                    knownCount += 1
                } else {
                    bitIndex[position] = unknownCount
                    unknownCount += 1
                }
            }
            for operation in operations where !operation.isKnown {
                if case .put(let value) = operation.effect {
                    unknownPutValue.append(value)
                } else {
                    unknownPutValue.append(-1)
                }
            }
            twinBefore = Array(repeating: -1, count: operations.count)
            var lastWithEffect: [RegisterOperation.Effect: Int] = [:]
            for (position, operation) in operations.enumerated() where !operation.isKnown {
                twinBefore[position] = lastWithEffect[operation.effect] ?? -1
                lastWithEffect[operation.effect] = position
            }
            let events = LinearizabilityChecker.eventOrder(of: operations)
            let nodeCount = events.count + 1
            next = Array(repeating: -1, count: nodeCount)
            prev = Array(repeating: -1, count: nodeCount)
            operationOf = Array(repeating: -1, count: nodeCount)
            isCall = Array(repeating: false, count: nodeCount)
            match = Array(repeating: -1, count: nodeCount)
            var returnNode = Array(repeating: -1, count: operations.count)
            for (offset, event) in events.enumerated() {
                let node = offset + 1
                prev[node] = node - 1
                next[node - 1] = node
                operationOf[node] = event.operation
                isCall[node] = !event.isReturn
                if event.isReturn { returnNode[event.operation] = node }
            }
            for node in 1 ..< nodeCount where isCall[node] {
                match[node] = returnNode[operationOf[node]]
            }
        }

        @inline(__always)
        private mutating func unlink(_ node: Int) {
            next[prev[node]] = next[node]
            if next[node] != -1 { prev[next[node]] = prev[node] }
        }

        @inline(__always)
        private mutating func relink(_ node: Int) {
            next[prev[node]] = node
            if next[node] != -1 { prev[next[node]] = node }
        }

        /// Takes an operation's call and return out of the list.
        private mutating func lift(_ call: Int) {
            unlink(call)
            if match[call] != -1 { unlink(match[call]) }
        }

        /// Undoes ``lift(_:)``; must be done in reverse order of lifting.
        private mutating func unlift(_ call: Int) {
            if match[call] != -1 { relink(match[call]) }
            relink(call)
        }

        /// The next candidate call of `frame` (known-outcome calls first, each group in list
        /// order), or `nil` when all were tried. Records the first return node met.
        @inline(__always)
        private func nextCandidate(_ frame: inout Frame, furthestReturn: inout Int) -> Int? {
            while true {
                var node = next[frame.cursor]
                while node != -1 && isCall[node] {
                    if (match[node] != -1) == (frame.phase == 0) {
                        frame.cursor = node
                        return node
                    }
                    node = next[node]
                }
                if node != -1 && node > furthestReturn { furthestReturn = node }
                guard frame.phase == 0 else { return nil }
                frame.phase = 1
                frame.cursor = 0
            }
        }

        mutating func run(limits: SearchLimits) -> SearchOutcome {
            var remainingKnown = knownCount
            if remainingKnown == 0 { return .linearizable(order: []) }
            var state = KeyHistory.absent
            var known = OperationBitset(capacity: knownCount)
            var unknown = OperationBitset(capacity: unknownCount)
            var memo = ConfigurationMemo(known: known, unknownWordCount: unknown.words.count)
            _ = memo.insert(known: known, unknown: unknown.words, jokers: 0, state: state)
            /// The unknown set as the memo sees it: without jokers.
            var canonicalUnknown = unknown.words
            var ledger = ValueLedger(operations)
            if ledger.isHopeless(state: state) { return .violation(blocking: operationOf[next[0]]) }
            var frames = [Frame()]
            /// Per depth below the root: the call linearized to get there and the value before.
            var path: [(call: Int, stateBefore: Int)] = []
            var furthestReturn = 0
            var iterations = 0
            let clock = ContinuousClock()

            while true {
                if remainingKnown == 0 {
                    return .linearizable(order: path.map { operationOf[$0.call] })
                }
                iterations &+= 1
                if iterations & 0xFFF == 1, let deadline = limits.deadline, clock.now >= deadline {
                    return .undecided(statesExplored: memo.count, timedOut: true)
                }
                guard let call = nextCandidate(&frames[frames.count - 1], furthestReturn: &furthestReturn) else {
                    // Every candidate here fails: undo the step that led here.
                    frames.removeLast()
                    guard let step = path.popLast() else {
                        return .violation(blocking: operationOf[furthestReturn])
                    }
                    let position = operationOf[step.call]
                    let operation = operations[position]
                    if operation.isKnown {
                        known.remove(bitIndex[position])
                        remainingKnown += 1
                    } else {
                        unknown.remove(bitIndex[position])
                    }
                    ledger.record(operation, sign: -1)
                    state = step.stateBefore
                    unlift(step.call)
                    continue
                }
                let position = operationOf[call]
                let operation = operations[position]
                // Of unknown-outcome operations with the same effect, take the earliest
                // invoked first: exchanging two of them maps linearizations to linearizations.
                if twinBefore[position] != -1 && !unknown.contains(bitIndex[twinBefore[position]]) { continue }
                guard let stepped = operation.step(from: state) else { continue }

                ledger.record(operation, sign: 1)
                let newState = ledger.canonical(stepped)
                if operation.isKnown {
                    known.insert(bitIndex[position])
                } else {
                    unknown.insert(bitIndex[position])
                }
                var jokers = 0
                for index in unknown.words.indices {
                    var bits = unknown.words[index]
                    canonicalUnknown[index] = bits
                    while bits != 0 {
                        let bit = bits.trailingZeroBitCount
                        bits &= bits - 1
                        let value = unknownPutValue[index << 6 | bit]
                        if value >= 0 && ledger.isForgotten(value) {
                            canonicalUnknown[index] &= ~(1 << UInt64(bit))
                            jokers += 1
                        }
                    }
                }
                guard !ledger.isHopeless(state: newState),
                      memo.insert(known: known, unknown: canonicalUnknown, jokers: jokers, state: newState) else {
                    ledger.record(operation, sign: -1)
                    if operation.isKnown {
                        known.remove(bitIndex[position])
                    } else {
                        unknown.remove(bitIndex[position])
                    }
                    continue
                }
                if memo.count > limits.maxStates {
                    return .undecided(statesExplored: memo.count, timedOut: false)
                }
                if operation.isKnown { remainingKnown -= 1 }
                path.append((call, state))
                state = newState
                lift(call)
                frames.append(Frame())
            }
        }
    }
}
