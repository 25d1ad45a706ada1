extension LinearizabilityChecker {
    /// How a search of one key's sub-history ended.
    enum SearchOutcome: Sendable {
        /// A linearization exists; `order` lists the positions (into the searched array) of
        /// the operations in one, except unknown-outcome operations that need not take effect
        /// (they can be appended at the end).
        case linearizable(order: [Int])
        /// No linearization exists.
        case violation
        /// The budget ran out after `statesExplored` configurations.
        case undecided(statesExplored: Int, timedOut: Bool)
    }

    /// Limits of one search.
    struct SearchLimits: Sendable {
        var maxStates: Int
        var deadline: ContinuousClock.Instant?
    }

    /// The memo key: which known-outcome operations are linearized, and the register value.
    /// Stored with it are the sets of linearized unknown-outcome operations already seen.
    private struct KnownConfiguration: Hashable {
        var linearized: OperationBitset
        var state: Int
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
    /// last). Hence the search stops as soon as every known-outcome operation is linearized,
    /// and a configuration is *subsumed* by an explored one with the same known operations,
    /// the same value and a subset of its unknown operations — that one has every option this
    /// one has. Known-outcome candidates are tried before unknown ones, so configurations
    /// with fewer unknown operations tend to be explored first and to subsume the rest; this
    /// is what keeps timed-out writes from doubling the search space each.
    static func search(_ operations: [RegisterOperation], limits: SearchLimits) -> SearchOutcome {
        var remainingKnown = 0
        var bitIndex = Array(repeating: 0, count: operations.count)
        var unknownCount = 0
        for (position, operation) in operations.enumerated() {
            if operation.isKnown {
                bitIndex[position] = remainingKnown
                remainingKnown += 1
            } else {
                bitIndex[position] = unknownCount
                unknownCount += 1
            }
        }
        if remainingKnown == 0 { return .linearizable(order: []) }

        let events = eventOrder(of: operations)
        let nodeCount = events.count + 1
        var next = Array(repeating: -1, count: nodeCount)
        var prev = Array(repeating: -1, count: nodeCount)
        var operationOf = Array(repeating: -1, count: nodeCount)
        var isCall = Array(repeating: false, count: nodeCount)
        var match = Array(repeating: -1, count: nodeCount)
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

        /// Calls that may be linearized now: known-outcome ones first, in list order.
        func candidates() -> [Int] {
            var known: [Int] = []
            var unknown: [Int] = []
            var node = next[0]
            while node != -1 && isCall[node] {
                if match[node] != -1 { known.append(node) } else { unknown.append(node) }
                node = next[node]
            }
            return known + unknown
        }
        func unlink(_ node: Int) {
            next[prev[node]] = next[node]
            if next[node] != -1 { prev[next[node]] = prev[node] }
        }
        func relink(_ node: Int) {
            next[prev[node]] = node
            if next[node] != -1 { prev[next[node]] = node }
        }
        func lift(_ call: Int) {
            unlink(call)
            if match[call] != -1 { unlink(match[call]) }
        }
        func unlift(_ call: Int) {
            if match[call] != -1 { relink(match[call]) }
            relink(call)
        }

        var state = 0
        var knownLinearized = OperationBitset(capacity: remainingKnown)
        var unknownLinearized = OperationBitset(capacity: unknownCount)
        var memo: [KnownConfiguration: [OperationBitset]] = [
            KnownConfiguration(linearized: knownLinearized, state: state): [unknownLinearized],
        ]
        var statesExplored = 1
        /// Per depth: the candidates there and how many have been tried.
        var frames: [(candidates: [Int], tried: Int)] = [(candidates(), 0)]
        /// Per depth below the root: the call linearized to get there and the value before it.
        var path: [(call: Int, stateBefore: Int)] = []
        var iterations = 0
        let clock = ContinuousClock()

        while true {
            if remainingKnown == 0 {
                return .linearizable(order: path.map { operationOf[$0.call] })
            }
            iterations &+= 1
            if iterations & 0xFFF == 1, let deadline = limits.deadline, clock.now >= deadline {
                return .undecided(statesExplored: statesExplored, timedOut: true)
            }
            let depth = frames.count - 1
            guard frames[depth].tried < frames[depth].candidates.count else {
                // Every candidate here fails: undo the step that led here.
                frames.removeLast()
                guard let step = path.popLast() else { return .violation }
                let position = operationOf[step.call]
                if operations[position].isKnown {
                    knownLinearized.remove(bitIndex[position])
                    remainingKnown += 1
                } else {
                    unknownLinearized.remove(bitIndex[position])
                }
                state = step.stateBefore
                unlift(step.call)
                continue
            }
            let call = frames[depth].candidates[frames[depth].tried]
            frames[depth].tried += 1
            let position = operationOf[call]
            let operation = operations[position]
            guard let newState = operation.step(from: state) else { continue }

            if operation.isKnown {
                knownLinearized.insert(bitIndex[position])
            } else {
                unknownLinearized.insert(bitIndex[position])
            }
            let key = KnownConfiguration(linearized: knownLinearized, state: newState)
            let seen = memo[key, default: []]
            let subsumed = seen.contains { earlier in earlier.isSubset(of: unknownLinearized) }
            if subsumed {
                if operation.isKnown {
                    knownLinearized.remove(bitIndex[position])
                } else {
                    unknownLinearized.remove(bitIndex[position])
                }
                continue
            }
            memo[key, default: []].append(unknownLinearized)
            statesExplored += 1
            if statesExplored > limits.maxStates {
                return .undecided(statesExplored: statesExplored, timedOut: false)
            }
            if operation.isKnown { remainingKnown -= 1 }
            path.append((call, state))
            state = newState
            lift(call)
            frames.append((candidates(), 0))
        }
    }
}
