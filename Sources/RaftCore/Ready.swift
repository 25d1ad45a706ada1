/// What the node asks the application to do, in one batch.
///
/// The application must handle a `Ready` in this order, then call `RaftNode.advance(_:)`:
/// 1. `messages` may be sent at once, even before anything is persisted.
/// 2. Make `snapshot`, `entries` and `hardState` durable (storage must show them).
/// 3. Only then send `messagesAfterPersist`: they promise what step 2 stored (votes, append
///    acknowledgements).
/// 4. Apply `committedEntries` in order (a `snapshot`, if any, is applied first), and answer
///    the reads in `readStates` once the applied index reaches theirs.
/// Only one `Ready` may be outstanding: call `advance` before the next `ready()`.
public struct Ready: Sendable {
    /// The role and leader, when they changed since the last `Ready`.
    public var softState: SoftState?
    /// The hard state to persist, when it changed.
    public var hardState: HardState?
    /// Entries to append to stable storage; they may overwrite a conflicting suffix.
    public var entries: [Entry] = []
    /// A snapshot from the leader to install (replacing the log up to its index).
    public var snapshot: Snapshot?
    /// Entries committed and not yet applied, in log order.
    public var committedEntries: [Entry] = []
    /// Messages that may go out before persisting.
    public var messages: [Message] = []
    /// Messages that may go out only after `entries`, `hardState` and `snapshot` are durable.
    public var messagesAfterPersist: [Message] = []
    /// Linearizable reads that are ready to be served.
    public var readStates: [ReadState] = []

    /// A batch built by hand, for storage code that persists outside the normal cycle (for
    /// example the initial membership of a new cluster).
    public init(hardState: HardState? = nil, entries: [Entry] = [], snapshot: Snapshot? = nil) {
        self.hardState = hardState
        self.entries = entries
        self.snapshot = snapshot
    }

    /// Whether there is nothing to do.
    public var isEmpty: Bool {
        softState == nil && hardState == nil && entries.isEmpty && snapshot == nil
            && committedEntries.isEmpty && messages.isEmpty && messagesAfterPersist.isEmpty && readStates.isEmpty
    }
}
