/// The record of every client operation of one run against the key-value store, filled in
/// as the run goes: ``invoke(client:input:at:)`` when a client sends a request,
/// ``complete(_:output:at:)`` when it gets an answer or gives up, ``finish(at:)`` at the end.
///
/// Guarantees: every element of ``operations`` satisfies the ``KVOperation`` invariants;
/// operation `i` has ``OperationID`` `i`; an operation is completed at most once; nothing is
/// recorded after ``finish(at:)``.
public struct KVHistory: Hashable, Sendable, CustomStringConvertible {
    /// All operations, indexed by ``OperationID/rawValue``.
    public private(set) var operations: [KVOperation]
    /// The tick passed to ``finish(at:)``, once called.
    public private(set) var finishedAt: UInt64?

    /// An empty history.
    public init() {
        operations = []
    }

    /// A history made of already recorded operations (for example hand-written in a test);
    /// their IDs are their positions.
    public init(_ operations: [KVOperation]) {
        self.operations = operations
    }

    /// Records that `client` sent `input` at tick `at`, and returns the new operation's ID.
    /// Ticks need not be increasing across calls.
    @discardableResult
    public mutating func invoke(client: Int, input: KVInput, at: UInt64) -> OperationID {
        precondition(finishedAt == nil, "history is finished")
        operations.append(KVOperation(clientID: client, input: input, invokedAt: at))
        return OperationID(rawValue: operations.count - 1)
    }

    /// Records how operation `id` ended: `.ok(observation)` if the client received a result,
    /// `.unknown` if it gave up (timeout). Traps if `id` is already completed, if `at` is not
    /// strictly after its invocation, or if an observation does not fit the input.
    public mutating func complete(_ id: OperationID, output: KVOutput, at: UInt64) {
        precondition(finishedAt == nil, "history is finished")
        let operation = operations[id.rawValue]
        precondition(operation.output == nil, "\(id) is already completed: \(operation)")
        operations[id.rawValue] = KVOperation(
            clientID: operation.clientID, input: operation.input, invokedAt: operation.invokedAt,
            output: output, completedAt: at)
    }

    /// Ends recording at tick `at`: every operation still pending gets output `.unknown` (its
    /// `completedAt` stays `nil`). Traps if called twice.
    public mutating func finish(at: UInt64) {
        precondition(finishedAt == nil, "history is already finished")
        finishedAt = at
        for index in operations.indices where operations[index].output == nil {
            operations[index].output = .unknown
        }
    }

    /// The operation with this ID.
    public subscript(id: OperationID) -> KVOperation {
        operations[id.rawValue]
    }

    /// IDs of operations that have not completed yet, in ID order.
    public var pending: [OperationID] {
        operations.indices.filter { operations[$0].output == nil }.map { OperationID(rawValue: $0) }
    }

    /// Number of recorded operations.
    public var count: Int { operations.count }

    /// One operation per line, `#id client … → output`.
    public var description: String {
        operations.indices.map { "#\($0) \(operations[$0])" }.joined(separator: "\n")
    }
}
