import RaftCore

/// One simulated host: a `RaftNode` (nil while crashed), the storage that survives crashes,
/// the key-value state machine and the client requests it is serving.
struct SimNode {
    let slot: NodeSlot
    var config: RaftConfig
    /// What is durable. A crash loses only what was not handed to it; a lost disk loses all.
    var storage: MemoryStorage
    /// Counts lost disks: a node with a new disk is a new voter identity (for the vote check).
    var diskGeneration = 0
    /// A voter that lost its disk stays down until the cluster removed it; then it starts
    /// empty, as a new node, and may be added again.
    var awaitingReplacement = false
    /// A `Ready` whose write is under way (asynchronous persistence), done at `doneAt`.
    var persisting: (ready: Ready, doneAt: Int)?
    var raft: RaftNode?
    var kv = KVStore()
    /// The last index applied to `kv`.
    var kvApplied: LogIndex = .zero
    /// Offset that decides at which time units this node ticks.
    let tickPhase: Int
    /// Time the current incarnation started (for its true local clock).
    var incarnationStart = 0
    var pausedUntil: Int?
    /// Crash at the next Ready that has something to persist, after sending its early
    /// messages and before persisting.
    var crashAtNextReady = false
    /// Client writes proposed here, by tag.
    var pendingWrites: [UInt64: (client: Int, op: OperationID)] = [:]
    /// Client reads requested here, by tag; `index` is known once the ReadState arrives.
    var pendingReads: [UInt64: (client: Int, op: OperationID, key: String, index: LogIndex?)] = [:]
    var lastRole: Role = .follower

    init(slot: NodeSlot, config: RaftConfig, storage: MemoryStorage, tickPhase: Int) {
        self.slot = slot
        self.config = config
        self.storage = storage
        self.tickPhase = tickPhase
    }

    var isUp: Bool { raft != nil }

    func isPaused(at time: Int) -> Bool { pausedUntil.map { time < $0 } ?? false }

    /// Brings the node back from its storage, as a process restart would.
    mutating func start(at time: Int) throws {
        raft = try RaftNode(config: config, storage: storage)
        let snap = storage.latestSnapshot
        kv = KVStore(snapshot: snap.data)
        kvApplied = snap.metadata.index
        incarnationStart = time
        pausedUntil = nil
        crashAtNextReady = false
        persisting = nil
        lastRole = .follower
    }

    mutating func crash() {
        raft = nil
        persisting = nil
        pendingWrites = [:]
        pendingReads = [:]
        crashAtNextReady = false
        pausedUntil = nil
    }

    /// The number of ticks this incarnation would have seen by `time` with a clock that
    /// never stops (pauses stop the node, not time).
    func trueTicks(at time: Int, every: Int) -> UInt64 {
        func ticks(upTo t: Int) -> Int { (t + tickPhase) / every }
        return UInt64(max(0, ticks(upTo: time) - ticks(upTo: incarnationStart)))
    }
}
