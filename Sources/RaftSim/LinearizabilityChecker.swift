/// Decides whether a ``KVHistory`` is linearizable with respect to a key-value store that
/// holds one atomic register per key (every key initially absent).
///
/// The history is split by key — a key-value history is linearizable if and only if each
/// key's sub-history is (linearizability is compositional) — and each key is searched with
/// the Wing–Gong algorithm with Lowe's memoization, the algorithm of Porcupine's checker.
///
/// Semantics:
/// - An operation that completed with `.ok` took effect at one instant between its
///   invocation and completion, and observed what the register held at that instant.
/// - An operation with outcome `.unknown` (or still pending) may take effect at any instant
///   after its invocation, or never; its observation is unconstrained. Unknown gets are
///   therefore ignored.
/// - Events at the same tick are treated as concurrent: an operation that completed at tick
///   `t` is only ordered before one invoked strictly after `t`.
///
/// On top of the plain search, all exact: timed-out writes nobody could have observed are
/// dropped; values nobody observes are merged; interchangeable timed-out writes are tried in
/// one order only and counted rather than told apart; configurations subsumed by explored
/// ones are skipped; configurations in which an awaited value can no longer be written are
/// abandoned at once. With unique written values (recommended: the checker is then fast
/// even for thousands of operations on one key) most violations are found in milliseconds.
/// Histories that reuse values and have many timed-out operations are the hard case and
/// may end in `.unknown`.
///
/// Guarantees: ``LinearizabilityResult/linearizable`` and
/// ``LinearizabilityResult/notLinearizable(key:explanation:)`` are exact answers under these
/// semantics; when a budget runs out the answer is ``LinearizabilityResult/unknown(reason:)``,
/// never a guess. With no ``timeLimit`` the result is a deterministic function of the
/// history and the budget.
public struct LinearizabilityChecker: Sendable {
    /// The most distinct search configurations (set of linearized operations, register value)
    /// explored and remembered for one key before giving up on it with `.unknown`. Bounds both
    /// time (a few microseconds per configuration) and memory (about one bit per operation of
    /// the key per configuration, plus a few dozen bytes) per key.
    public var maxStatesPerKey: Int
    /// Wall-clock budget for a whole ``check(_:)``, or `nil` for none. Setting it makes the
    /// outcome depend on machine speed; prefer ``maxStatesPerKey`` in deterministic runs.
    public var timeLimit: Duration?
    /// The most operations listed in an explanation (the latest ones by invocation, plus the
    /// one that cannot be linearized).
    public var explanationLimit: Int

    /// A checker with the given budgets.
    public init(maxStatesPerKey: Int = 1_000_000, timeLimit: Duration? = nil, explanationLimit: Int = 60) {
        precondition(maxStatesPerKey > 0 && explanationLimit > 0)
        self.maxStatesPerKey = maxStatesPerKey
        self.timeLimit = timeLimit
        self.explanationLimit = explanationLimit
    }

    /// Checks `history`. Keys are examined in sorted order; the first violating key found is
    /// reported (with an explanation built from its shortest failing prefix). If no key
    /// violates but some key could not be decided within the budget, the result is
    /// `.unknown`.
    public func check(_ history: KVHistory) -> LinearizabilityResult {
        let limits = SearchLimits(
            maxStates: maxStatesPerKey,
            deadline: timeLimit.map { ContinuousClock.now.advanced(by: $0) })
        var byKey: [String: [(id: OperationID, operation: KVOperation)]] = [:]
        for (index, operation) in history.operations.enumerated() {
            byKey[operation.input.key, default: []].append((OperationID(rawValue: index), operation))
        }
        let keys = byKey.keys.sorted()
        var undecided: [(key: String, statesExplored: Int, timedOut: Bool)] = []
        for key in keys {
            let keyHistory = KeyHistory(key: key, operations: byKey[key]!)
            let operations = Self.withoutUnobservableWrites(keyHistory.operations)
            switch Self.search(operations, limits: limits) {
            case .linearizable:
                continue
            case .violation(let blocking):
                let explanation = explainViolation(of: keyHistory, blocking: operations[blocking].id, limits: limits)
                return .notLinearizable(key: key, explanation: explanation)
            case .undecided(let statesExplored, let timedOut):
                undecided.append((key, statesExplored, timedOut))
            }
        }
        guard !undecided.isEmpty else { return .linearizable }
        let described = undecided.prefix(5).map { entry in
            let cause = entry.timedOut
                ? "time limit reached after \(entry.statesExplored) states"
                : "more than maxStatesPerKey = \(maxStatesPerKey) states"
            return "\(kvQuoted(entry.key)) (\(byKey[entry.key]!.count) operations; \(cause))"
        }
        let more = undecided.count > 5 ? " and \(undecided.count - 5) more" : ""
        return .unknown(reason:
            "no violation found, but \(undecided.count) of \(keys.count) keys could not be decided: "
            + described.joined(separator: ", ") + more)
    }
}
