/// Identifies one operation within a ``KVHistory``: its position in ``KVHistory/operations``.
///
/// IDs are dense, start at 0, and follow invocation order of recording, so `#3` in a checker
/// explanation is `history.operations[3]`.
public struct OperationID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The index of the operation in ``KVHistory/operations``.
    public let rawValue: Int

    /// Wraps an index into ``KVHistory/operations``.
    public init(rawValue: Int) {
        self.rawValue = rawValue
    }

    public static func < (lhs: OperationID, rhs: OperationID) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// `#` followed by the index, e.g. `#3`.
    public var description: String { "#\(rawValue)" }
}

/// What a client asked a key-value store (one register per key) to do.
public enum KVInput: Hashable, Sendable, CustomStringConvertible {
    /// Set `key` to `value` unconditionally.
    case put(key: String, value: String)
    /// Read the current value of `key`.
    case get(key: String)
    /// Set `key` to `new` if and only if its current value is `expected` (`nil` = absent),
    /// atomically.
    case compareAndSet(key: String, expected: String?, new: String)

    /// The key the operation touches. Every operation touches exactly one key.
    public var key: String {
        switch self {
        case .put(let key, _), .get(let key), .compareAndSet(let key, _, _): return key
        }
    }

    /// Whether `observation` is the kind of result this input produces (a `put` input
    /// with a ``KVObservation/put`` observation, and so on).
    public func admits(_ observation: KVObservation) -> Bool {
        switch (self, observation) {
        case (.put, .put), (.get, .get), (.compareAndSet, .compareAndSet): return true
        default: return false
        }
    }

    /// Readable form, e.g. `put("x", "a")`, `get("x")`, `cas("x", nil → "b")`.
    public var description: String {
        switch self {
        case .put(let key, let value):
            return "put(\(kvQuoted(key)), \(kvQuoted(value)))"
        case .get(let key):
            return "get(\(kvQuoted(key)))"
        case .compareAndSet(let key, let expected, let new):
            return "cas(\(kvQuoted(key)), \(kvQuoted(expected)) → \(kvQuoted(new)))"
        }
    }
}

/// What a client learned when an operation completed normally.
public enum KVObservation: Hashable, Sendable, CustomStringConvertible {
    /// A `put` was acknowledged.
    case put
    /// A `get` returned this value (`nil` = the key was absent).
    case get(String?)
    /// A `compareAndSet` reported whether it swapped.
    case compareAndSet(succeeded: Bool)

    /// Readable form: `ok`, the quoted value or `nil`, `succeeded` / `failed`.
    public var description: String {
        switch self {
        case .put: return "ok"
        case .get(let value): return kvQuoted(value)
        case .compareAndSet(let succeeded): return succeeded ? "succeeded" : "failed"
        }
    }
}

/// How an operation ended, from the client's point of view.
public enum KVOutput: Hashable, Sendable, CustomStringConvertible {
    /// The client received this result.
    case ok(KVObservation)
    /// The client never learned the result (timeout, lost connection, end of run). The
    /// operation may or may not have taken effect, at any instant after its invocation —
    /// possibly after the client gave up — and what it would have observed is unconstrained.
    case unknown

    /// The observation's description, or `unknown`.
    public var description: String {
        switch self {
        case .ok(let observation): return observation.description
        case .unknown: return "unknown"
        }
    }
}

/// One client operation on the key-value store, as recorded by the client.
///
/// Invariants (checked by the initializer and by ``KVHistory``): if `completedAt` is set it
/// is strictly after `invokedAt`; an `.ok` output has a completion time and an observation of
/// the input's kind; a pending operation (`output == nil`) has no completion time.
public struct KVOperation: Hashable, Sendable, CustomStringConvertible {
    /// The client that issued the operation. Only a label: the checker does not assume
    /// anything about a client's operations being sequential.
    public let clientID: Int
    /// What was asked.
    public let input: KVInput
    /// How it ended; `nil` while still pending. The checker treats pending like `.unknown`.
    public internal(set) var output: KVOutput?
    /// Virtual tick at which the client sent the request.
    public let invokedAt: UInt64
    /// Virtual tick at which the client got the answer or gave up waiting; `nil` while
    /// pending or if the operation was still pending when the history was finished. For an
    /// `.unknown` output it carries no meaning for linearizability: such an operation may
    /// take effect later.
    public internal(set) var completedAt: UInt64?

    /// Creates a recorded operation. Traps if the invariants above do not hold.
    public init(
        clientID: Int, input: KVInput, invokedAt: UInt64,
        output: KVOutput? = nil, completedAt: UInt64? = nil
    ) {
        if let completedAt {
            precondition(completedAt > invokedAt,
                         "completion (\(completedAt)) must be strictly after invocation (\(invokedAt))")
            precondition(output != nil, "a completed operation needs an output")
        }
        switch output {
        case .ok(let observation)?:
            precondition(completedAt != nil, "an .ok output needs a completion time")
            precondition(input.admits(observation), "observation \(observation) does not fit input \(input)")
        case .unknown?, nil:
            break
        }
        self.clientID = clientID
        self.input = input
        self.output = output
        self.invokedAt = invokedAt
        self.completedAt = completedAt
    }

    /// The observation if the client received one; `nil` if pending or unknown.
    public var observation: KVObservation? {
        if case .ok(let observation)? = output { return observation }
        return nil
    }

    /// Readable form, e.g. `client 2 [5, 10] put("x", "a") → ok`. An operation without a
    /// known result shows `∞` as its end, since it may take effect at any later time:
    /// `client 2 [5, ∞] put("x", "a") → unknown (gave up at 20)`.
    public var description: String {
        switch (output, completedAt) {
        case (.ok?, let completedAt?):
            return "client \(clientID) [\(invokedAt), \(completedAt)] \(input) → \(output!)"
        case (.unknown?, let completedAt?):
            return "client \(clientID) [\(invokedAt), ∞] \(input) → unknown (gave up at \(completedAt))"
        default:
            return "client \(clientID) [\(invokedAt), ∞] \(input) → \(output?.description ?? "pending")"
        }
    }
}

/// `"text"` with Swift escaping, or `nil`.
func kvQuoted(_ value: String?) -> String {
    guard let value else { return "nil" }
    return String(reflecting: value)
}
