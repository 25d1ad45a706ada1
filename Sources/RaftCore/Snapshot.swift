/// Where a snapshot sits in the log and which membership was in force there.
public struct SnapshotMetadata: Hashable, Sendable {
    /// The last log index the snapshot covers.
    public var index: LogIndex
    /// The term of the entry at `index`.
    public var term: Term
    /// The membership in force at `index`.
    public var membership: Membership

    public init(index: LogIndex = .zero, term: Term = .zero, membership: Membership = Membership()) {
        self.index = index
        self.term = term
        self.membership = membership
    }
}

/// A point-in-time image of the application state machine that replaces every log entry up
/// to and including `metadata.index` (Raft paper §7).
public struct Snapshot: Hashable, Sendable {
    public var metadata: SnapshotMetadata
    /// Opaque application state.
    public var data: [UInt8]

    public init(metadata: SnapshotMetadata = SnapshotMetadata(), data: [UInt8] = []) {
        self.metadata = metadata
        self.data = data
    }

    /// Whether this is the empty snapshot at index zero.
    public var isEmpty: Bool { metadata.index == .zero }
}
