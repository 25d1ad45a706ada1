extension LinearizabilityChecker {
    /// Describes why `history` (known to have no linearization) fails.
    ///
    /// Non-linearizability is monotone in prefixes of the event sequence (cutting a history
    /// turns the operations still running into unknown-outcome ones, and a linearizable
    /// history stays linearizable when cut), so a binary search over the number of events
    /// finds the shortest failing prefix; `hint` (where the full search got stuck) usually
    /// makes two probes enough. Its last event is, barring budget exhaustion, the
    /// completion that no linearization of the earlier events can accommodate; the prefix one
    /// event shorter is linearizable, and its linearization is shown.
    func explainViolation(of history: KeyHistory, blocking hint: OperationID, limits: SearchLimits) -> String {
        let events = Self.eventOrder(of: history.operations)
        var failing = events.count
        var passing = 0
        var witness: (prefix: Int, order: [RegisterOperation]) = (0, [])
        var minimizationNote = ""
        /// Checks the prefix of `count` events and narrows the bounds; false once out of time.
        func probe(_ count: Int) -> Bool {
            let operations = Self.withoutUnobservableWrites(history.prefix(events: events, count: count))
            switch Self.search(operations, limits: limits) {
            case .violation:
                failing = count
            case .linearizable(let order):
                passing = count
                witness = (count, order.map { operations[$0] })
            case .undecided(_, let timedOut):
                // Not proven either way: look for a failing prefix among the longer ones.
                passing = count
                if timedOut {
                    minimizationNote = " (prefix minimization cut short by the time limit)"
                    return false
                }
            }
            return true
        }
        // First guess: the full search got stuck at most at the hint's completion, so the
        // prefix ending there usually fails and the one just before usually does not.
        var inTime = true
        if let rank = events.firstIndex(where: { $0.isReturn && history.operations[$0.operation].id == hint }),
           rank + 1 < failing {
            inTime = probe(rank + 1)
            if inTime && failing == rank + 1 && rank > passing { inTime = probe(rank) }
        }
        while inTime && failing - passing > 1 {
            inTime = probe((passing + failing) / 2)
        }

        var invoked = Array(repeating: false, count: history.operations.count)
        var returned = Array(repeating: false, count: history.operations.count)
        for event in events.prefix(failing) {
            if event.isReturn { returned[event.operation] = true } else { invoked[event.operation] = true }
        }
        let last = events[failing - 1]
        let culprit = history.operations[last.operation].id
        let involved = history.operations.indices.filter { invoked[$0] }

        var lines: [String] = []
        lines.append("Key \(kvQuoted(history.key)) is not linearizable (\(history.operations.count) operations on it"
                     + (history.ignoredGets == 0 ? ""
                        : ", plus \(history.ignoredGets) get\(history.ignoredGets == 1 ? "" : "s") with unknown outcome, ignored")
                     + ").")
        lines.append("Shortest failing prefix\(minimizationNote): up to tick \(last.time), when \(culprit) "
                     + (last.isReturn ? "completed" : "was invoked")
                     + "; its \(involved.count) operations by invocation (∞: result unknown, may take effect any time after invocation):")
        var shown = Array(involved.suffix(explanationLimit))
        if !shown.contains(last.operation) { shown.insert(last.operation, at: 0) }
        if shown.count < involved.count {
            lines.append("  … \(involved.count - shown.count) earlier operations not shown")
        }
        for position in shown {
            let original = history.originals[position]
            var line = "  \(history.operations[position].id) \(original)"
            if position == last.operation {
                line += last.isReturn ? "   ◀ no linearization admits this result" : "   ◀ last event"
            } else if original.observation != nil && !returned[position] {
                line += "   (completes after the cut: outcome treated as unknown)"
            }
            lines.append(line)
        }
        if last.isReturn && witness.prefix == failing - 1 {
            var positionOf: [OperationID: Int] = [:]
            for (position, operation) in history.operations.enumerated() { positionOf[operation.id] = position }
            let stepsShown = witness.order.suffix(30).map { operation -> String in
                let position = positionOf[operation.id]!
                let original = history.originals[position]
                let result = returned[position] && operation.id != culprit && original.observation != nil
                    ? " → \(original.output!)" : " → (unknown, took effect here)"
                return "\(operation.id) \(original.input)\(result)"
            }
            let hidden = witness.order.count - stepsShown.count
            lines.append("Without \(culprit)'s result the prefix is linearizable, e.g. in this order"
                         + " (unknown outcomes that need not take effect left out):")
            lines.append("  " + (hidden > 0 ? "… \(hidden) earlier; " : "")
                         + stepsShown.joined(separator: "; "))
        }
        return lines.joined(separator: "\n")
    }
}
