import RaftCore

/// Storage the runtime can persist `Ready` batches to and compact with snapshots. Every
/// method is durable when it returns (or throws, after which the node must stop).
public protocol DurableRaftStorage: RaftStorage {
    /// Makes `ready.snapshot`, `ready.entries` and `ready.hardState` durable, in that order.
    func persist(_ ready: Ready) throws
    /// Records a snapshot of the applied state at `index` and compacts the log up to it.
    func createSnapshot(at index: LogIndex, membership: Membership, data: [UInt8]) throws
    /// The latest snapshot held.
    var latestSnapshot: Snapshot { get }
}

extension MemoryStorage: DurableRaftStorage {
    /// Keeps `ready` in memory ("durable" for the lifetime of the process: for tests).
    public func persist(_ ready: Ready) throws {
        if let s = ready.snapshot { applySnapshot(s) }
        append(ready.entries)
        if let hs = ready.hardState { setHardState(hs) }
    }
}
