import Logging
import NIOCore
import RaftCore

/// Runs one Raft node for real: ticks from a monotonic clock, steps received messages,
/// persists each `Ready` before sending what depends on it, applies committed entries to the
/// cluster store, and answers client reads (ReadIndex) and writes (when their entry applies).
///
/// All node state lives on one event loop that does nothing else; callers use the async
/// methods from any thread. Work that arrives while a write is under way is batched into the
/// next `Ready`, so one fsync covers many writes (group commit).
///
/// Guarantees that the lease (and the Postgres fence on it) rely on:
/// - **Heartbeats are never late because of the disk.** Persistence runs on a writer thread
///   of its own (`LogWriter`); while a write is under way the loop keeps ticking and stepping
///   and sends what may go early (heartbeats, appends) at once. A slow fsync delays commits
///   and acknowledgements, not the lease.
/// - **The node never sees stale time.** Every task that steps the node or reads its state
///   first delivers the ticks that elapsed on the monotonic clock (a stall, a late timer),
///   so nothing is judged by the time from before a stall.
/// - **The lease has a monotonic deadline.** `leaderLease()` returns the instant the lease
///   lapses, computed from the tick at which the quorum-acknowledged round was sent (never
///   later than the real send), for a consumer to check against `NIODeadline.now()`.
/// The runtime never calls into Postgres or HTTP code.
public final class RaftRuntime: Sendable {
    public let id: NodeID
    public let config: RuntimeConfig
    let loop: any EventLoop
    private let box: NIOLoopBoundBox<RuntimeState>
    private let logger: Logger
    private let transmit: @Sendable (Message) -> Void
    private let writer: LogWriter
    private let onRejoined: (@Sendable () -> Void)?

    /// Creates the runtime over `storage` (bootstrapping it with
    /// `config.bootstrapMembership` if it is empty). `transmit` sends a message to a peer; it
    /// must not block. Call `start()` to begin ticking.
    ///
    /// `onRejoined` is called (on the loop, must not block for long) once a node started with
    /// `RaftConfig.rejoinAfterDataLoss` has caught up with a leader and votes again.
    public init(config: RuntimeConfig, storage: sending any DurableRaftStorage, loop: any EventLoop,
                logger: Logger, onRejoined: (@Sendable () -> Void)? = nil,
                transmit: @escaping @Sendable (Message) -> Void) throws {
        self.onRejoined = onRejoined
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
        let writer = try LogWriter(durable: storage, snapshotTail: config.snapshotTail)
        self.writer = writer
        let state = try RuntimeState(config: config, storage: writer.view)
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

    /// Stops ticking and fails every pending request with `StoreError.stopped`; returns once
    /// the writes already under way are durable.
    public func shutdown() async {
        try? await loop.submit { self.stop(reason: "shutdown") }.get()
        await writer.shutdown()
    }

    // MARK: Input

    /// Hands a message from a peer to the node. Callable from any thread; never blocks.
    public func receive(_ message: Message) {
        onLoop { $0.step(message) }
    }

    /// Tells the node that the connection to `peer` was lost (everything in flight on it is
    /// gone): the leader stops streaming to it and probes it again. Never blocks.
    public func reportUnreachable(_ peer: NodeID) {
        onLoop { $0.reportUnreachable(peer) }
    }

    /// Runs `body` on the node on its loop, after delivering missed ticks, then handles what
    /// it produced. Never blocks.
    private func onLoop(_ body: @escaping @Sendable (inout RaftNode) -> Void) {
        loop.execute {
            let s = self.box.value
            guard !s.stopped else { return }
            self.catchUpTicks()
            body(&s.raft)
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

    /// Tells the leader that a snapshot for `peer` could not be sent (the transport dropped
    /// it): it waits for the next heartbeat answer and tries again. Never blocks.
    public func reportSnapshotFailed(to peer: NodeID) {
        onLoop { $0.reportSnapshot(to: peer, succeeded: false) }
    }

    /// The node's Raft status.
    public func status() async -> RaftStatus? {
        try? await loop.submit {
            self.catchUpTicks()
            return self.box.value.raft.status
        }.get()
    }

    /// The lease this node holds as leader right now, with the monotonic instant at which it
    /// lapses; nil if it is not leader or holds no lease. Missed ticks are delivered first,
    /// so a stalled loop never reports a lease that already ran out. Check
    /// `HeldLease.isValid()` against the clock at the moment of use: the answer ages.
    public func leaderLease() async -> HeldLease? {
        try? await loop.submit { () -> HeldLease? in
            self.catchUpTicks()
            let s = self.box.value
            guard let lease = s.raft.leaderLease else { return nil }
            return HeldLease(term: lease.term, deadline: self.instant(ofTick: lease.expiresAtTick))
        }.get()
    }

    /// `leaderLease()` as a future, for callers that must not suspend (the lease fence's timer):
    /// it completes on the Raft loop; a stalled loop delays the answer, never falsifies it.
    public func leaderLeaseFuture() -> EventLoopFuture<HeldLease?> {
        loop.submit { () -> HeldLease? in
            self.catchUpTicks()
            let s = self.box.value
            guard !s.stopped, let lease = s.raft.leaderLease else { return nil }
            return HeldLease(term: lease.term, deadline: self.instant(ofTick: lease.expiresAtTick))
        }
    }

    /// Allows or forbids this node to start elections; it keeps voting and replicating
    /// (`RaftNode.setMayCampaign`). Never blocks.
    public func setMayCampaign(_ allowed: Bool) {
        onLoop { $0.setMayCampaign(allowed) }
    }

    /// Calls `observer` on the Raft loop (it must not block) with the role and leader every
    /// time they change, and once now with the current ones.
    public func observeRoles(_ observer: @escaping @Sendable (SoftState) -> Void) async {
        try? await loop.submit {
            let s = self.box.value
            s.roleObserver = observer
            observer(SoftState(role: s.raft.currentRole, leader: s.raft.status.leader))
        }.get()
    }

    /// The monotonic instant of local tick `tick` (tick k falls at start + k intervals).
    private func instant(ofTick tick: UInt64) -> NIODeadline {
        let s = box.value
        let interval = Int64(config.tickInterval.nanoseconds)
        let delta = Int64(bitPattern: tick &- s.raft.localTick)
        return s.lastTick + .nanoseconds(delta &* interval)
    }

    /// Calls `observer` with the duration of every durable write of the log (fsyncs included),
    /// on the writer's thread; it must not block.
    public func observePersistDurations(_ observer: @escaping @Sendable (Duration) -> Void) {
        writer.persistObserver.withLockedValue { $0 = observer }
    }

    /// Hands leadership to `target`.
    public func transferLeadership(to target: NodeID) async throws(StoreError) {
        // (An untyped closure: a typed-throws closure here crashes the 6.3 compiler.)
        let failure: StoreError?
        do {
            failure = try await loop.submit { () -> StoreError? in
                self.catchUpTicks()
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
                self.catchUpTicks()
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
                self.catchUpTicks()
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
                self.catchUpTicks()
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
        guard !box.value.stopped else { return }
        catchUpTicks()
        processReady()
    }

    /// Delivers every tick that has elapsed on the monotonic clock since the last one
    /// delivered. Called first by every task that steps the node or reads it: NIO may run a
    /// queued task before an overdue timer, and after a stall that task must not see the
    /// time from before it.
    private func catchUpTicks() {
        let s = box.value
        let interval = UInt64(config.tickInterval.nanoseconds)
        let now = NIODeadline.now().uptimeNanoseconds
        guard now > s.lastTick.uptimeNanoseconds else { return }
        let due = (now - s.lastTick.uptimeNanoseconds) / interval
        guard due > 0 else { return }
        if due > 1 {
            logger.debug("delivering missed ticks", metadata: ["raft.ticks": "\(due)"])
        }
        for _ in 0..<due { s.raft.tick() }
        s.lastTick = s.lastTick + .nanoseconds(Int64(interval * due))
    }

    /// Collects Readies and hands their writes to the writer thread, one at a time. While a
    /// write is under way, sends what may go early (heartbeats, appends) straight away.
    private func processReady() {
        let s = box.value
        if s.writeInFlight {
            for m in s.raft.takeMessagesToSendNow() { transmit(m) }
            return
        }
        while !s.stopped && s.raft.hasReady {
            let rd = s.raft.ready()
            for m in rd.messages { transmit(m) }
            if rd.snapshot == nil && rd.entries.isEmpty && !changesTermOrVote(rd.hardState) {
                // Nothing to make durable: at most a new commit index, which is never
                // promised to anyone (a restarted node relearns it), so no trip to the writer.
                if let hs = rd.hardState { writer.view.setHardState(hs) }
                finish(rd)
                continue
            }
            s.writeInFlight = true
            writer.persist(rd, on: loop).whenComplete { result in
                let s = self.box.value
                s.writeInFlight = false
                guard !s.stopped else { return }
                if case .failure(let error) = result {
                    self.logger.critical("raft storage failed; stopping this node", metadata: ["error": "\(error)"])
                    self.stop(reason: "storage failure: \(error)")
                    return
                }
                self.catchUpTicks()
                self.finish(rd)
                self.processReady()
            }
            return
        }
    }

    /// Whether `hardState` changes the term or vote that the storage last made durable.
    private func changesTermOrVote(_ hardState: HardState?) -> Bool {
        guard let hs = hardState else { return false }
        let durable = writer.view.hardState
        return hs.term != durable.term || hs.vote != durable.vote
    }

    /// Everything after a `Ready`'s write is durable: the messages that waited for it, the
    /// snapshot and committed entries, the reads, then `advance`.
    private func finish(_ rd: Ready) {
        let s = box.value
        let counters = s.raft.counters
        for m in s.raft.messagesAfterPersisting(rd) { transmit(m) }
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
            s.roleObserver?(soft)
            if soft.role != .leader {
                for (_, p) in s.pendingReads { p.promise.fail(StoreError.notLeader(leader: soft.leader)) }
                s.pendingReads = [:]
            }
        }
        s.raft.advance(rd)
        if let failure = s.raft.storageFailure {
            logger.critical("raft storage lost entries it had stored; stopping this node", metadata: ["error": "\(failure)"])
            stop(reason: "storage failure: \(failure)")
            return
        }
        if s.raft.counters.followerLogRegressions > counters.followerLogRegressions {
            logger.warning("a follower's log ends below what it acknowledged (lost or restored data, or a stale answer); probing it again",
                           metadata: ["raft.regressions": "\(s.raft.counters.followerLogRegressions)"])
        }
        serveReads()
        maybeSnapshot()
        recordAcknowledgingMembers()
        if s.rejoining && !s.raft.isRejoining {
            s.rejoining = false
            logger.notice("caught up with the leader after data loss; voting again")
            onRejoined?()
        }
    }

    /// On the leader: writes `ClusterKey.raftMember(id)` for every voter that has
    /// acknowledged the log (itself included) and has no such key yet, so a node that comes
    /// back with an empty data directory can find out that it lost data it had promised.
    private func recordAcknowledgingMembers() {
        let s = box.value
        guard s.raft.currentRole == .leader else {
            s.markedMembers = []  // a later leadership checks again
            return
        }
        // Cheap on every Ready: nothing to do once every voter is known to be recorded.
        guard s.raft.commitIndex > .zero, !s.raft.membership.voters.isSubset(of: s.markedMembers) else { return }
        let status = s.raft.status
        for (peer, progress) in status.followers.sorted(by: { $0.key < $1.key })
        where progress.match > .zero && status.membership.voters.contains(peer) && !s.markedMembers.contains(peer) {
            let key = ClusterKey.raftMember(peer).path
            if s.store.get(key) != nil {
                s.markedMembers.insert(peer)
                continue
            }
            let command = StoreCommand(requestID: s.nextRequestID(),
                                       operation: .put(key: key, value: Array("\(status.term.rawValue)".utf8), expectedRevision: 0))
            if (try? s.raft.propose(command.encoded())) != nil {
                s.markedMembers.insert(peer)  // once per leadership; a lost proposal is retried by a later one
                scheduleDrain()
            }
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
        guard !s.snapshotInFlight, s.applied.rawValue >= writer.snapshotIndex.rawValue + config.snapshotEvery,
              let membership = s.raft.membership(atIndex: s.applied) else { return }
        s.snapshotInFlight = true
        let index = s.applied
        let keys = s.store.count
        writer.createSnapshot(at: index, membership: membership, data: s.store.snapshot(), on: loop).whenComplete { result in
            self.box.value.snapshotInFlight = false
            switch result {
            case .success:
                self.logger.info("snapshot taken", metadata: ["raft.index": "\(index.rawValue)", "store.keys": "\(keys)"])
            case .failure(let error):
                self.logger.error("snapshot failed; the log keeps growing until one succeeds", metadata: ["error": "\(error)"])
            }
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
    var store: KeyValueStore
    var applied: LogIndex
    var pendingWrites: [UInt64: EventLoopPromise<StoreResult>] = [:]
    var pendingReads: [UInt64: (promise: EventLoopPromise<Void>, index: LogIndex?)] = [:]
    var waitingForApply: [(index: LogIndex, promise: EventLoopPromise<Void>)] = []
    var ticker: RepeatedTask?
    var lastTick: NIODeadline = .now()
    var drainScheduled = false
    var stopped = false
    /// A `Ready`'s write is under way on the writer thread.
    var writeInFlight = false
    var snapshotInFlight = false
    /// Started rejoining after data loss and not yet seen caught up.
    var rejoining: Bool
    /// Voters whose `ClusterKey.raftMember` key this leader wrote or found.
    var markedMembers: Set<NodeID> = []
    /// Told of every role or leader change (the agent's HA loop).
    var roleObserver: (@Sendable (SoftState) -> Void)?
    private var requestCounter: UInt64 = 0
    private let requestPrefix: UInt64

    init(config: RuntimeConfig, storage: MemoryStorage) throws {
        raft = try RaftNode(config: config.raft, storage: storage)
        rejoining = config.raft.rejoinAfterDataLoss
        let snap = storage.latestSnapshot
        store = try KeyValueStore(snapshot: snap.data)
        applied = snap.metadata.index
        // Request ids are random 64-bit values per process start, then counted up: a reply
        // could be matched to the wrong request only if another node's or an earlier
        // incarnation's sequence overlapped ours, about 2^-64 per proposal in flight.
        requestPrefix = UInt64.random(in: 0...UInt64.max)
    }

    func nextRequestID() -> UInt64 {
        requestCounter &+= 1
        return requestPrefix &+ requestCounter
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
