import ClusterStore
import HACore
import RaftCore
import RaftSim

/// A deterministic simulation of whole pgha clusters: every host runs the real `RaftNode`, the
/// real cluster-store state machine (`KeyValueStore`, `ClusterState`) and the real HA decision
/// (`HANode`), with production's timers — Raft ticks every 100 ms, the HA loop every 250 ms, the
/// lease checked every 20 ms on a timer of its own, the fence guard at the lease's deadline —
/// over a simulated network and a Postgres model (`SimPostgres`). Only the executor differs: it
/// drives the model instead of a real Postgres.
///
/// Time is global and discrete (milliseconds); each host's monotonic clock runs at its own rate.
/// Every random choice comes from one `SimRandom` seeded from the options, and no iteration
/// depends on hash order, so a seed replays event for event.
///
/// Checked on the global clock (see `HASimulation+Checks`): one writer, no lost acknowledged
/// commit in `on`/`quorum`, bounded loss in `off`, progress after the faults, `nofailover`
/// never promoted, the `sync` claim true at every instant, and the best candidate promoted.
public struct HASimulation {
    static let tickMs = 100
    static let loopMs = 250
    static let reportMs = 1_000
    static let statusRoundMs = 400
    static let fenceIntervalMs = 20
    static let walTickMs = 10
    static let requestTimeoutMs = 5_000
    /// A replication connection that hears nothing for this long is dropped (Postgres'
    /// `wal_receiver_timeout` / `wal_sender_timeout` defaults).
    static let replicationTimeoutMs = 60_000
    /// `wal_retrieve_retry_interval` as pgha sets it.
    static let receiverRetryMs = 500
    static let clients = 2
    /// The system identifier `initdb` gives in the simulation.
    static let systemIdentifier: UInt64 = 7_400_000_000_000_000_001

    public let options: HASimOptions
    var random: SimRandom
    var time = 0
    var queue = EventQueue<Event>()
    var hosts: [SimHost] = []
    var names: [Int: String] = [:]
    var config = DynamicConfig()
    var network = HANetwork()
    var clients: [SimClientState] = []
    var nextOperation: UInt64 = 1
    var trace: [String] = []
    /// Decodes the hosts' store items into views (shared: see `cycle`).
    var reader = ClusterState.Reader()
    var stats = HASimStats()
    var violation: HAViolation?
    var phase: RunPhase = .startup
    var healthySince: Int?
    var healStart = 0
    var faultsStart = 0
    /// Every acknowledged commit: operation id → (host, WAL index, global time).
    var acknowledged: [UInt64: Acknowledgement] = [:]
    var ackOrder: [UInt64] = []
    /// The host that accepts writes now, if any (check 1 keeps it to one).
    var writer: Int?
    /// The newest `sync` value any host applied, by Raft index (the committed claim).
    var committedSync: (index: UInt64, value: SyncState?) = (0, nil)
    /// The newest `status` value (the primary's recorded position), by Raft index.
    var committedStatus: (index: UInt64, value: PrimaryPosition?) = (0, nil)
    /// Per host: the WAL index of the newest commit it acknowledged as primary (reset when its
    /// WAL is rewound or replaced).
    var ackedIndex: [Int: Int] = [:]
    var probe: (crashedAt: Int, host: Int)?
    var pgSerial = 0
    var roundSerial = 0
    /// Print every traced event as it happens.
    public var debugTrace = false

    enum RunPhase { case startup, faults, healing, done }

    struct Acknowledgement: Hashable {
        var host: Int
        var index: Int
        var record: WALRecord
        var time: Int
    }

    public init(options: HASimOptions) {
        self.options = options
        random = SimRandom(seed: options.seed)
        config.synchronousMode = options.mode
        config.synchronousModeStrict = random.chance(0.3)
        config.synchronousNodeCount = options.mode == .quorum && options.nodes == 5 ? random.pick([1, 2]) : 1
        config.maximumLagOnFailover = UInt64(random.pick([16_384, 65_536, 1_048_576]))
        let voters = Set((1...options.nodes).map { NodeID(UInt64($0)) })
        let noFailover = random.chance(0.3) ? random.int(in: 1...options.nodes) : nil
        for slot in 1...options.nodes {
            var rc = RaftConfig(id: NodeID(UInt64(slot)), randomSeed: random.next())
            rc.mayCampaign = true
            let storage = MemoryStorage(membership: Membership(voters: voters))
            let drift = options.clockDrift
            let rate = 1 + (Double(random.int(in: -1000...1000)) / 1000) * drift
            var tags = Tags()
            if slot == noFailover { tags.noFailover = true }
            var host = SimHost(slot: slot, tags: tags, rate: rate, wallOffset: random.int(in: -20...20), raftConfig: rc, storage: storage)
            host.ha.plantedBugs = options.plantedBugs
            hosts.append(host)
            names[slot - 1] = host.name
        }
        clients = (0..<Self.clients).map { SimClientState(id: $0) }
    }

    /// Runs one simulation to the end, or to the first violation.
    public static func run(_ options: HASimOptions, debugTrace: Bool = false) -> HASimResult {
        var sim = HASimulation(options: options)
        sim.debugTrace = debugTrace
        return sim.run()
    }

    public mutating func run() -> HASimResult {
        for i in hosts.indices { startAgent(i) }
        for i in hosts.indices { queue.push(.walTick(i), at: random.int(in: 1...Self.walTickMs)) }
        for c in clients.indices { queue.push(.clientTick(c), at: 100 + random.int(in: 0...50)) }
        queue.push(.control, at: 100)
        let limit = 60_000 + options.faultMs + options.healMs + 10_000
        while violation == nil, phase != .done, let at = queue.nextAt, at <= limit {
            time = at
            guard let event = queue.popDue(at) else { break }
            stats.events += 1
            dispatch(event)
            checkWriters()
        }
        if violation == nil && phase != .done {
            fail("Progress", "the run did not finish (phase \(phase)) by t=\(limit)ms")
        }
        stats.simulatedMs = time
        for h in hosts { if let r = h.raft { stats.maxTerm = max(stats.maxTerm, r.currentTerm.rawValue) } }
        return HASimResult(options: options, violation: violation, stats: stats, trace: trace)
    }

    // MARK: Events

    enum Event {
        case tick(Int, epoch: Int)
        case loop(Int, epoch: Int)
        case cycle(Int, epoch: Int)
        case fenceTick(Int, epoch: Int)
        case guardCheck(Int, generation: Int)
        case walTick(Int)
        case postgresDone(Int, epoch: Int, operation: Int)
        case roundDeadline(Int, epoch: Int, round: Int)
        case storeTimeout(Int, epoch: Int, request: UInt64)
        case deliver(Envelope)
        case clientTick(Int)
        case clientConnect(Int, attempt: Int)
        case clientTimeout(Int, operation: UInt64)
        case resume(Int)
        case thaw(Int)
        case endFault(FaultEnd)
        case control
    }

    mutating func dispatch(_ event: Event) {
        switch event {
        case .tick(let h, let epoch):
            guard agentEvent(h, epoch, event) else { return }
            tick(h)
            queue.push(.tick(h, epoch: epoch), at: time + hosts[h].globalDelay(Double(Self.tickMs)))
        case .loop(let h, let epoch):
            guard agentEvent(h, epoch, event) else { return }
            wake(h)
            queue.push(.loop(h, epoch: epoch), at: time + hosts[h].globalDelay(Double(Self.loopMs)))
        case .cycle(let h, let epoch):
            guard agentEvent(h, epoch, event) else { return }
            cycle(h)
        case .fenceTick(let h, let epoch):
            guard agentEvent(h, epoch, event) else { return }
            fenceCheck(h)
            queue.push(.fenceTick(h, epoch: epoch), at: time + hosts[h].globalDelay(Double(Self.fenceIntervalMs)))
        case .guardCheck(let h, let generation):
            guard hosts[h].hostUp, generation == hosts[h].guardGeneration else { return }
            if let until = hosts[h].pausedUntil { queue.push(event, at: max(until, time)); return }
            guardCheck(h)
        case .walTick(let h):
            queue.push(.walTick(h), at: time + Self.walTickMs)
            guard hosts[h].hostRuns(at: time) else { return }
            walReceive(h)
            releaseCommits(h)
        case .postgresDone(let h, let epoch, let op):
            guard hosts[h].hostUp, hosts[h].pg.epoch == epoch, hosts[h].pg.operation?.id == op else { return }
            if let until = hosts[h].pausedUntil { queue.push(event, at: max(until, time)); return }
            finishPostgresOperation(h)
        case .roundDeadline(let h, let epoch, let round):
            guard agentEvent(h, epoch, event) else { return }
            finishRound(h, round)
        case .storeTimeout(let h, let epoch, let request):
            guard agentEvent(h, epoch, event) else { return }
            storeCompleted(h, request, ok: false)
        case .deliver(let envelope):
            deliver(envelope)
        case .clientTick(let c):
            clientTick(c)
        case .clientConnect(let c, let attempt):
            clientConnect(c, attempt)
        case .clientTimeout(let c, let op):
            clientTimedOut(c, op)
        case .resume(let h):
            resumeHost(h)
        case .thaw(let h):
            thawAgent(h)
        case .endFault(let end):
            endFault(end)
        case .control:
            control()
            queue.push(.control, at: time + 100)
        }
    }

    /// Whether an event of `h`'s agent process runs now: stale (an earlier incarnation) or on a
    /// crashed host it is dropped; on a paused host or a frozen agent it waits.
    mutating func agentEvent(_ h: Int, _ epoch: Int, _ event: Event) -> Bool {
        let host = hosts[h]
        guard host.hostUp, host.raft != nil, epoch == host.agentEpoch else { return false }
        if let until = host.pausedUntil { queue.push(event, at: max(until, time)); return false }
        if let until = host.agentFrozenUntil { queue.push(event, at: max(until, time)); return false }
        return true
    }

    // MARK: Trace and failures

    mutating func note(_ text: String) {
        let line = "t=\(time) \(text)"
        trace.append(line)
        if trace.count > 80 { trace.removeFirst(trace.count - 80) }
        if debugTrace { print(line) }
    }

    mutating func fail(_ property: String, _ detail: String) {
        guard violation == nil else { return }
        violation = HAViolation(property: property, time: time, detail: detail)
        for h in hosts {
            let r = h.raft.map { "\($0.currentRole) term \($0.currentTerm.rawValue)" } ?? "down"
            note("state of \(h.name): raft \(r); postgres \(h.pg.process) \(h.pg.inRecovery ? "standby" : "primary") tl \(h.pg.timeline) end \(h.pg.lastEnd) records \(h.pg.wal.count) upstream \(h.pg.upstream.map { "\($0 + 1)" } ?? "-") ssn '\(h.pg.synchronousStandbyNames)'"
                 + (h.plan.map { p in "; plan at \(p.index < p.actions.count ? "\(p.actions[p.index])" : "end") waiting for \(p.waiting.map { "\($0)" } ?? "nothing")" } ?? "; no plan"))
        }
        note("sync claim: \(committedSync.value.map { "\($0.leader) \($0.members) q\($0.quorum)" } ?? "none")")
    }

    /// `pg1`, `pg2`, … for host indices.
    func hostName(_ h: Int) -> String { hosts[h].name }
    func index(of name: String) -> Int? { hosts.firstIndex { $0.name == name } }
}

/// A client of the cluster: it connects through a multi-host connection string (the first host
/// that accepts writes) and commits one transaction at a time.
struct SimClientState {
    let id: Int
    var connectedTo: Int?
    var connecting = false
    var outstanding: (op: UInt64, host: Int, sentAt: Int)?
    init(id: Int) { self.id = id }
}
