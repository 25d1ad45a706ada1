import RaftCore

/// Settings of a `RaftRuntime`.
public struct RuntimeConfig: Sendable {
    /// The Raft settings (id, timeouts in ticks, limits).
    public var raft: RaftConfig
    /// Wall-clock length of one tick.
    public var tickInterval: Duration = .milliseconds(100)
    /// Take a snapshot and compact the log after this many applied entries.
    public var snapshotEvery: UInt64 = 10_000
    /// Entries kept in memory before a new snapshot's index, so a follower a little behind
    /// catches up with entries instead of a whole snapshot (lost on restart: the disk log is
    /// compacted to the snapshot).
    public var snapshotTail: UInt64 = 1_000
    /// How long a client request may wait for its entry to apply or its read to be confirmed.
    public var requestTimeout: Duration = .seconds(5)
    /// The membership to bootstrap with when the storage is empty (a new cluster); empty for
    /// a node that joins an existing cluster.
    public var bootstrapMembership: Membership

    public init(raft: RaftConfig, bootstrapMembership: Membership) {
        self.raft = raft
        self.bootstrapMembership = bootstrapMembership
    }
}
