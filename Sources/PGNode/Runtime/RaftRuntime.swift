import Logging
import NIOCore
import RaftCore

/// Runs one Raft node for real: ticks from a monotonic clock, steps received messages,
/// persists each `Ready` before sending what depends on it, applies committed entries to the
/// cluster store, and answers client reads (ReadIndex) and writes (when their entry applies).
///
/// All state lives on one event loop that does nothing else; callers use the async methods
/// from any thread. Work that arrives in the same loop iteration (messages, proposals) is
/// handled as one batch, so one fsync covers many writes (group commit). The runtime never
/// calls into Postgres or HTTP code, so its ticks are not delayed by them; a disk write
/// delays them by its own latency only. Missed ticks (a stalled loop) are delivered on the
/// next timer, so the lease never outlives wall-clock time.
public final class RaftRuntime: Sendable {
    public let id: NodeID
    public let config: RuntimeConfig
    let loop: any EventLoop
    private let box: NIOLoopBoundBox<RuntimeState>
    private let logger: Logger
    private let transmit: @Sendable (Message) -> Void

    /// Creates the runtime over `storage` (bootstrapping it with
    /// `config.bootstrapMembership` if it is empty). `transmit` sends a message to a peer; it
    /// must not block. Call `start()` to begin ticking.
    public init(config: RuntimeConfig, storage: sending any DurableRaftStorage, loop: any EventLoop,
                logger: Logger, transmit: @escaping @Sendable (Message) -> Void) throws {
        self.id = config.raft.id
        self.config = config
        self.loop = loop
        self.logger = logger
        self.transmit = transmit
        let (hard, membership) = try storage.initialState()
        if membership.voters.isEmpty && storage.lastIndex() == .zero && hard.term == .zero
            && !config.bootstrapMembership.voters.isEmpty {
            try storage.persist(Ready(snapshot: Snapshot(metadata: SnapshotMetadata(
                index: .zero, term: .zero, membership: config.bootstrapMembership))))
        }
        let state = try RuntimeState(config: config, storage: storage)
        box = NIOLoopBoundBox.makeBoxSendingValue(state, eventLoop: loop)
    }

    // MARK: Lifecycle

    /// Starts the tick timer.
    public func start() async throws {
        try await loop.submit {
            let s = self.box.value
            guard s.ticker == nil else { return }
            s.lastTick = .now()
            let interval = TimeAmount.nanoseconds(Int64(self.config.tickInterval.nanoseconds))
            s.ticker = self.loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                self.onTimer()
            }
            self.logger.info("raft runtime started", metadata: ["raft.node": "\(self.id)", "raft.term": "\(s.raft.currentTerm.rawValue)"])
        }.get()
    }

    /// Stops ticking and fails every pending request with `StoreError.stopped`.
    public func shutdown() async {
        try? await loop.submit { self.stop(reason: "shutdown") }.get()
    }

    // MARK: Input

    /// Hands a message from a peer to the node. Callable from any thread; never blocks.
    public func receive(_ message: Message) {
        loop.execute {
            let s = self.box.value
            guard !s.stopped else { return }
            s.raft.step(message)
            self.scheduleDrain()
        }
    }

    // MARK: Client operations

    /// Sets `key` to `value` (if `expectedRevision` is given, only if the key's modification
    /// revision matches; 0 means "must not exist"). Returns the write's revision once it is
    /// committed and applied on this node.
    public func put(_ key: String, _ value: [UInt8], expectedRevision: UInt64? = nil) async throws(StoreError) -> UInt64 {
        try await write(.put(key: key, value: value, expectedRevision: expectedRevision))
    }

    /// Deletes `key` (optionally only at `expectedRevision`). Returns the write's revision.
    public func delete(_ key: String, expectedRevision: UInt64? = nil) async throws(StoreError) -> UInt64 {
        try await write(.delete(key: key, expectedRevision: expectedRevision))
    }

    /// The value at `key`. Linearizable reads are confirmed by a quorum round (ReadIndex) and
    /// only served by the leader; others return this node's applied state, possibly stale.
    public func get(_ key: String, linearizable: Bool = true) async throws(StoreError) -> VersionedValue? {
        try await read(linearizable: linearizable) { $0.get(key) }
    }

    /// Every key with `prefix`, in order; linearizable as for `get`. Also returns the store
    /// revision the answer reflects.
    public func list(prefix: String, linearizable: Bool = true) async throws(StoreError) -> (revision: UInt64, items: [(key: String, value: VersionedValue)]) {
        try await read(linearizable: linearizable) { ($0.revision, $0.list(prefix: prefix)) }
    }

    /// The node's Raft status.
    public func status() async -> RaftStatus? {
        try? await loop.submit { self.box.value.raft.status }.get()
    }

    /// Whether this node is leader with a valid lease right now.
    public func leaderLease() async -> LeaderLease? {
        try? await loop.submit { self.box.value.raft.leaderLease }.get()
    }

    /// Hands leadership to `target`.
    public func transferLeadership(to target: NodeID) async throws(StoreError) {
        // (An untyped closure: a typed-throws closure here crashes the 6.3 compiler.)
        let failure: StoreError?
        do {
            failure = try await loop.submit { () -> StoreError? in
                let s = self.box.value
                do { try s.raft.transferLeadership(to: target) } catch let e as ProposalError {
                    return StoreError(e)
                } catch {
                    return .stopped
                }
                self.scheduleDrain()
                return nil
            }.get()
        } catch {
            throw .stopped
        }
        if let failure { throw failure }
    }

    /// Proposes a membership change (add a voter or learner, promote, remove) and waits until
    /// it applies.
    public func changeMembership(_ change: ConfigChange) async throws(StoreError) {
        do {
            try await loop.flatSubmit { () -> EventLoopFuture<Void> in
                let s = self.box.value
                do { try s.raft.proposeConfigChange(change) } catch let e as ProposalError {
                    return self.loop.makeFailedFuture(StoreError(e))
                } catch {
                    return self.loop.makeFailedFuture(StoreError.stopped)
                }
                let target = s.raft.lastIndex
                let promise = self.loop.makePromise(of: Void.self)
                s.waitingForApply.append((target, promise))
                self.scheduleDrain()
                self.timeout(promise)
                return promise.futureResult
            }.get()
        } catch let e as StoreError { throw e } catch { throw .stopped }
    }

    // MARK: Internals (on the loop)

    private func write(_ op: StoreCommand.Operation) async throws(StoreError) -> UInt64 {
        if let problem = Self.validate(op) { throw .invalidRequest(problem) }
        let result: StoreResult
        do {
            result = try await loop.flatSubmit { () -> EventLoopFuture<StoreResult> in
                let s = self.box.value
                guard !s.stopped else { return self.loop.makeFailedFuture(StoreError.stopped) }
                let requestID = s.nextRequestID()
                do {
                    try s.raft.propose(StoreCommand(requestID: requestID, operation: op).encoded())
                } catch let e as ProposalError {
                    return self.loop.makeFailedFuture(StoreError(e))
                } catch {
                    return self.loop.makeFailedFuture(StoreError.stopped)
                }
                let promise = self.loop.makePromise(of: StoreResult.self)
                s.pendingWrites[requestID] = promise
                self.timeout(promise) { self.box.value.pendingWrites[requestID] = nil }
                self.scheduleDrain()
                return promise.futureResult
            }.get()
        } catch let e as StoreError { throw e } catch { throw .stopped }
        switch result {
        case .ok(let revision): return revision
        case .revisionMismatch(let current): throw .revisionMismatch(current: current)
        case .notFound: throw .notFound
        }
    }

    private func read<T: Sendable>(linearizable: Bool, _ body: @escaping @Sendable (KeyValueStore) -> T) async throws(StoreError) -> T {
        do {
            return try await loop.flatSubmit { () -> EventLoopFuture<T> in
                let s = self.box.value
                guard !s.stopped else { return self.loop.makeFailedFuture(StoreError.stopped) }
                guard linearizable else { return self.loop.makeSucceededFuture(body(s.store)) }
                let requestID = s.nextRequestID()
                do { try s.raft.readIndex(requestID: requestID) } catch let e as ProposalError {
                    return self.loop.makeFailedFuture(StoreError(e))
                } catch {
                    return self.loop.makeFailedFuture(StoreError.stopped)
                }
                let promise = self.loop.makePromise(of: Void.self)
                s.pendingReads[requestID] = (promise, nil)
                self.timeout(promise) { self.box.value.pendingReads[requestID] = nil }
                self.scheduleDrain()
                return promise.futureResult.map { body(self.box.value.store) }
            }.get()
        } catch let e as StoreError { throw e } catch { throw .stopped }
    }

    private static func validate(_ op: StoreCommand.Operation) -> String? {
        let key: String, size: Int
        switch op {
        case .put(let k, let v, _): key = k; size = v.count
        case .delete(let k, _): key = k; size = 0
        }
        if key.isEmpty { return "empty key" }
        if key.utf8.count > KeyValueStore.maxKeyBytes { return "key longer than \(KeyValueStore.maxKeyBytes) bytes" }
        if size > KeyValueStore.maxValueBytes { return "value larger than \(KeyValueStore.maxValueBytes) bytes" }
        return nil
    }

    /// Fails `promise` with `StoreError.timeout` after the request timeout unless it was
    /// completed first.
    private func timeout<T>(_ promise: EventLoopPromise<T>, cleanup: @escaping @Sendable () -> Void = {}) {
        let deadline = TimeAmount.nanoseconds(Int64(config.requestTimeout.nanoseconds))
        let task = loop.scheduleTask(in: deadline) {
            cleanup()
            promise.fail(StoreError.timeout)
        }
        promise.futureResult.whenComplete { _ in task.cancel() }
    }

    /// Handles everything queued in this loop iteration in one batch.
    private func scheduleDrain() {
        let s = box.value
        guard !s.drainScheduled else { return }
        s.drainScheduled = true
        loop.execute {
            self.box.value.drainScheduled = false
            self.processReady()
        }
    }

    private func onTimer() {
        let s = box.value
        guard !s.stopped else { return }
        let interval = Int64(config.tickInterval.nanoseconds)
        let now = NIODeadline.now()
        var due = (now.uptimeNanoseconds &- s.lastTick.uptimeNanoseconds) / UInt64(interval)
        if due == 0 { due = 1 }
        if due > 1 {
            logger.debug("delivering missed ticks", metadata: ["raft.ticks": "\(due)"])
        }
        for _ in 0..<due { s.raft.tick() }
        s.lastTick = s.lastTick + .nanoseconds(interval * Int64(due))
        processReady()
    }

    private func processReady() {
        let s = box.value
        while !s.stopped && s.raft.hasReady {
            let rd = s.raft.ready()
            for m in rd.messages { transmit(m) }
            do {
                try s.storage.persist(rd)
            } catch {
                logger.critical("raft storage failed; stopping this node", metadata: ["error": "\(error)"])
                stop(reason: "storage failure: \(error)")
                return
            }
            for m in rd.messagesAfterPersist { transmit(m) }
            if let snap = rd.snapshot {
                do {
                    s.store = try KeyValueStore(snapshot: snap.data)
                } catch {
                    logger.critical("snapshot from leader is unreadable; stopping", metadata: ["error": "\(error)"])
                    stop(reason: "bad snapshot")
                    return
                }
                s.applied = snap.metadata.index
            }
            for e in rd.committedEntries { apply(e) }
            for r in rd.readStates {
                if let p = s.pendingReads[r.requestID] { s.pendingReads[r.requestID] = (p.promise, r.index) }
            }
            if let soft = rd.softState {
                logger.info("raft role changed", metadata: [
                    "raft.node": "\(id)", "raft.role": "\(soft.role)", "raft.leader": "\(soft.leader.map { "\($0)" } ?? "-")",
                    "raft.term": "\(s.raft.currentTerm.rawValue)"])
                if soft.role != .leader {
                    for (_, p) in s.pendingReads { p.promise.fail(StoreError.notLeader(leader: soft.leader)) }
                    s.pendingReads = [:]
                }
            }
            s.raft.advance(rd)
            serveReads()
            maybeSnapshot()
        }
    }

    private func apply(_ e: Entry) {
        let s = box.value
        s.applied = e.index
        switch e.payload {
        case .normal(let data) where data.isEmpty:
            s.store.skip(e.index.rawValue)
        case .normal(let data):
            guard let command = try? StoreCommand(decoding: data) else {
                logger.error("skipping log entry that is not a store command", metadata: ["raft.index": "\(e.index.rawValue)"])
                s.store.skip(e.index.rawValue)
                return
            }
            let result = s.store.apply(command, at: e.index.rawValue)
            s.pendingWrites.removeValue(forKey: command.requestID)?.succeed(result)
        case .configChange(let change, let membership):
            s.store.skip(e.index.rawValue)
            logger.info("membership changed", metadata: ["raft.change": "\(change)", "raft.membership": "\(membership)"])
        }
        while let first = s.waitingForApply.first, first.index <= e.index {
            s.waitingForApply.removeFirst()
            first.promise.succeed(())
        }
    }

    private func serveReads() {
        let s = box.value
        for (id, p) in s.pendingReads {
            if let index = p.index, index <= s.applied {
                s.pendingReads[id] = nil
                p.promise.succeed(())
            }
        }
    }

    private func maybeSnapshot() {
        let s = box.value
        let snapIndex = s.storage.latestSnapshot.metadata.index
        guard s.applied.rawValue >= snapIndex.rawValue + config.snapshotEvery,
              let membership = s.raft.membership(atIndex: s.applied) else { return }
        do {
            try s.storage.createSnapshot(at: s.applied, membership: membership, data: s.store.snapshot())
            logger.info("snapshot taken", metadata: ["raft.index": "\(s.applied.rawValue)", "store.keys": "\(s.store.count)"])
        } catch {
            logger.error("snapshot failed; the log keeps growing until one succeeds", metadata: ["error": "\(error)"])
        }
    }

    private func stop(reason: String) {
        let s = box.value
        guard !s.stopped else { return }
        s.stopped = true
        s.ticker?.cancel()
        for (_, p) in s.pendingWrites { p.fail(StoreError.stopped) }
        for (_, p) in s.pendingReads { p.promise.fail(StoreError.stopped) }
        for w in s.waitingForApply { w.promise.fail(StoreError.stopped) }
        s.pendingWrites = [:]
        s.pendingReads = [:]
        s.waitingForApply = []
        logger.info("raft runtime stopped", metadata: ["reason": "\(reason)"])
    }
}

/// Everything the runtime owns; touched only on its event loop.
final class RuntimeState {
    var raft: RaftNode
    let storage: any DurableRaftStorage
    var store: KeyValueStore
    var applied: LogIndex
    var pendingWrites: [UInt64: EventLoopPromise<StoreResult>] = [:]
    var pendingReads: [UInt64: (promise: EventLoopPromise<Void>, index: LogIndex?)] = [:]
    var waitingForApply: [(index: LogIndex, promise: EventLoopPromise<Void>)] = []
    var ticker: RepeatedTask?
    var lastTick: NIODeadline = .now()
    var drainScheduled = false
    var stopped = false
    private var requestCounter: UInt64 = 0
    private let requestPrefix: UInt64

    init(config: RuntimeConfig, storage: any DurableRaftStorage) throws {
        self.storage = storage
        raft = try RaftNode(config: config.raft, storage: storage)
        let snap = storage.latestSnapshot
        store = try KeyValueStore(snapshot: snap.data)
        applied = snap.metadata.index
        // Request ids: 16 bits of node id, 16 random bits per process start, 32-bit counter,
        // so an entry proposed by another node or an earlier incarnation never matches.
        requestPrefix = (config.raft.id.rawValue & 0xFFFF) << 48 | (UInt64.random(in: 0...0xFFFF) << 32)
    }

    func nextRequestID() -> UInt64 {
        requestCounter = (requestCounter + 1) & 0xFFFF_FFFF
        return requestPrefix | requestCounter
    }
}

extension StoreError {
    init(_ e: ProposalError) {
        switch e {
        case .notLeader(let l): self = .notLeader(leader: l)
        case .transferInProgress: self = .unavailable("leadership transfer in progress")
        case .overloaded: self = .unavailable("too many uncommitted entries or pending reads")
        case .configChangePending: self = .unavailable("a membership change is pending")
        case .invalidConfigChange(let why): self = .invalidRequest(why)
        case .cannotCampaign(let why): self = .unavailable(why)
        case .unknownNode(let n): self = .invalidRequest("\(n) is not a voter")
        }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
