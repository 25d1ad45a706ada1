import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore

/// Writes the Raft log, hard state and snapshots to durable storage on a thread of its own,
/// so that a slow disk delays commits and never heartbeats (etcd's asynchronous storage
/// writes, in spirit).
///
/// The durable storage is touched only on the writer's single thread, in submission order,
/// after `init`; nothing else may use it. The Raft node on the event loop reads `view`, an
/// in-memory copy that the runtime updates on the loop when a write completes. Entries the
/// node reads from `view` are always ones the durable storage already holds (the node keeps
/// what is being written in its own unstable log until `advance`).
final class LogWriter: @unchecked Sendable {
    // @unchecked: `durable` is confined to `pool`'s one thread (FIFO); `view` to the loop.

    /// What the Raft node reads, on the runtime's event loop.
    let view: MemoryStorage
    private let durable: any DurableRaftStorage
    private let pool: NIOThreadPool
    /// Entries kept in `view` before a new snapshot's index, so that a follower a little
    /// behind catches up with entries rather than a whole snapshot.
    let snapshotTail: UInt64
    /// Told how long each durable write (its fsyncs included) took, on the writer's thread.
    let persistObserver = NIOLockedValueBox<(@Sendable (Duration) -> Void)?>(nil)

    init(durable: sending any DurableRaftStorage, snapshotTail: UInt64) throws {
        self.durable = durable
        self.snapshotTail = snapshotTail
        let (hard, membership) = try durable.initialState()
        let snapshot = durable.latestSnapshot
        let view = MemoryStorage(membership: membership)
        if !snapshot.isEmpty { view.applySnapshot(snapshot) }
        let first = durable.firstIndex(), last = durable.lastIndex()
        var low = first
        while low <= last {
            let batch = try durable.entries(from: low, to: last + 1, maxBytes: 8 << 20)
            guard let end = batch.last else { break }
            view.append(batch)
            low = end.index + 1
        }
        view.setHardState(hard)
        self.view = view
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
    }

    /// Makes `ready`'s snapshot, entries and hard state durable off the loop; the future
    /// completes on `loop` once they are (or with the storage's error), after `view` shows
    /// them.
    func persist(_ ready: Ready, on loop: any EventLoop) -> EventLoopFuture<Void> {
        pool.runIfActive(eventLoop: loop) {
            let began = ContinuousClock.now
            try self.durable.persist(ready)
            self.persistObserver.withLockedValue { $0 }?(ContinuousClock.now - began)
        }.map {
            if let s = ready.snapshot { self.view.applySnapshot(s) }
            self.view.append(ready.entries)
            if let hs = ready.hardState { self.view.setHardState(hs) }
        }
    }

    /// Records a snapshot of the applied state at `index` durably (compacting the disk log)
    /// and then, on `loop`, in `view`, which keeps `snapshotTail` entries before `index`.
    func createSnapshot(at index: LogIndex, membership: Membership, data: [UInt8], on loop: any EventLoop) -> EventLoopFuture<Void> {
        pool.runIfActive(eventLoop: loop) {
            try self.durable.createSnapshot(at: index, membership: membership, data: data)
            return self.durable.latestSnapshot
        }.map { snapshot in
            self.view.recordSnapshot(snapshot, keepingEntries: self.snapshotTail)
        }
    }

    /// The latest durable snapshot's index as the view knows it.
    var snapshotIndex: LogIndex { view.latestSnapshot.metadata.index }

    /// Stops the writer thread after the writes already submitted.
    func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
