/// The verdict of a ``LinearizabilityChecker`` on a ``KVHistory``.
public enum LinearizabilityResult: Hashable, Sendable, CustomStringConvertible {
    /// Every key's sub-history has a linearization: there is a total order of the operations
    /// that respects real time (an operation that completed before another was invoked comes
    /// first), in which each completed operation's observation is what a single atomic
    /// register would produce, and in which operations with unknown outcome either take
    /// effect at some point after their invocation or not at all.
    case linearizable
    /// The sub-history of `key` has no linearization, so the whole history has none.
    /// `explanation` is meant for a person: it names the key, the shortest prefix of that key's
    /// history that already fails, the operations in it sorted by invocation, the completion
    /// that cannot be fitted, and one valid order of the prefix without that completion.
    case notLinearizable(key: String, explanation: String)
    /// The checker ran out of its budget (states or time) before deciding some key, and found
    /// no violation on the keys it did decide. Not a verdict either way; `reason` says which
    /// keys and which budget.
    case unknown(reason: String)

    /// Whether the result is ``linearizable``.
    public var isLinearizable: Bool {
        if case .linearizable = self { return true }
        return false
    }

    /// The violating key, if the result is ``notLinearizable(key:explanation:)``.
    public var violatingKey: String? {
        if case .notLinearizable(let key, _) = self { return key }
        return nil
    }

    /// `linearizable`, the explanation, or `unknown: ` and the reason.
    public var description: String {
        switch self {
        case .linearizable: return "linearizable"
        case .notLinearizable(_, let explanation): return explanation
        case .unknown(let reason): return "unknown: \(reason)"
        }
    }
}
