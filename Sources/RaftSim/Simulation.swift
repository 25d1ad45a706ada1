import RaftCore

/// A deterministic simulation of a Raft cluster running the real `RaftNode` over a faulty
/// network with a virtual clock, checking safety after every time unit, liveness after the
/// faults stop, and linearizability of the client history at the end.
///
/// Time advances in units; every node ticks once every `ticksEvery` units at its own phase.
/// All randomness comes from one `SimRandom` seeded from `options.seed`, and no iteration
/// depends on hash order, so a seed replays bit for bit.
public struct Simulation {
    public static let ticksEvery = 10
    /// Nodes beyond the initial voters, outside the cluster at first: membership changes add
    /// them (several learners at once are possible) and replace voters that lost their disk.
    public static let spares = 2

    public let options: SimulationOptions
    var random: SimRandom
    var time = 0
    var nodes: [SimNode] = []
    var network: SimNetwork
    var agenda = EventQueue<Fault>()
    var checker = SafetyChecker()
    var history = KVHistory()
    var historyClock: UInt64 = 0
    var clients: [SimClient] = []
    var nextTag: UInt64 = 1
    var trace: [String] = []
    var stats = SimulationStats()
    var violation: Violation?
    var healing = false
    /// The key of the write offered after the faults stop (nothing else writes it).
    static let probeKey = "liveness-probe"
    var scheduleIndex = 0
    var quietUntil = 0
    /// Entries between snapshots on every node, drawn per run: frequent snapshots exercise
    /// InstallSnapshot; rare ones make a follower catch up from the log alone (and a leader
    /// that cannot repair a follower's log has no snapshot to hide behind).
    var snapshotEvery = 40
    /// Print every traced event as it happens (for debugging a seed).
    public var debugTrace = false

    public init(options: SimulationOptions) {
        self.options = options
        random = SimRandom(seed: options.seed)
        network = SimNetwork(profile: options.faults)
        let voters = Set((1...options.nodes).map { NodeID(UInt64($0)) })
        // Small append limits split catch-up into many messages (one entry always fits).
        let maxBytes = random.pick([64, 256, 4096, 1 << 20])
        // Small windows fill up quickly, so lost windows and their recovery are exercised.
        let maxInflight = random.pick([1, 2, 4, 16, 256])
        snapshotEvery = random.pick([options.faults.snapshotEvery, options.faults.snapshotEvery * 3, 1_000_000])
        for slot in 1...(options.nodes + Self.spares) {
            var config = RaftConfig(id: NodeID(UInt64(slot)), randomSeed: random.next())
            config.maxBytesPerMessage = maxBytes
            config.maxInflightMessages = maxInflight
            config.plantedBugs = options.plantedBugs
            let storage = slot <= options.nodes ? MemoryStorage(membership: Membership(voters: voters)) : MemoryStorage()
            var node = SimNode(slot: slot, config: config, storage: storage,
                               tickPhase: random.int(in: 0...(Self.ticksEvery - 1)))
            try! node.start(at: 0)
            nodes.append(node)
        }
        clients = (0..<options.clients).map { SimClient(id: $0, leaderGuess: 1 + $0 % options.nodes) }
    }

    /// Runs one simulation to the end, or to the first violation.
    public static func run(_ options: SimulationOptions, debugTrace: Bool = false) -> SimulationResult {
        var sim = Simulation(options: options)
        sim.debugTrace = debugTrace
        return sim.run()
    }

    /// Runs the simulation to the end, or to the first violation.
    public mutating func run() -> SimulationResult {
        let end = options.steps + options.healSteps
        while time < end && violation == nil {
            time += 1
            if time == options.steps + 1 { startHealing() }
            step()
        }
        if violation == nil { checkLiveness() }
        history.finish(at: nextHistoryTime())
        if violation == nil && options.checkLinearizability {
            let result = LinearizabilityChecker(maxStatesPerKey: 2_000_000).check(history)
            stats.linearizability = result.isLinearizable ? "ok (\(history.count) ops)" : "\(result)"
            if !result.isLinearizable, case .notLinearizable = result {
                violation = Violation(property: "Linearizability", time: time, detail: result.description)
            }
        }
        stats.timeUnits = time
        stats.messagesSent = network.sent
        stats.messagesDropped = network.dropped
        stats.messagesDuplicated = network.duplicated
        stats.messagesReplayed = network.replayed
        stats.connectionResets = network.resets
        stats.leadersElected = checker.leadersElected
        stats.maxCommit = checker.maxApplied.rawValue
        for n in nodes { if let r = n.raft { stats.maxTerm = max(stats.maxTerm, r.currentTerm.rawValue) } }
        return SimulationResult(options: options, violation: violation, stats: stats, trace: trace)
    }

    mutating func step() {
        runAgenda()
        if !healing { injectFaults() }
        replaceNodesThatLostTheirDisk()
        deliverMessages()
        tickNodes()
        if healing {
            if options.faults.diskLoss > 0 { loseALearnersDiskWhileHealing() }
            driveProbe()
        }
        runClients()
        for i in nodes.indices { processReady(i) }
        checkInvariants()
    }

    // MARK: Time and messages

    mutating func deliverMessages() {
        while let m = network.nextDue(time) {
            let i = Int(m.to.rawValue) - 1
            guard nodes.indices.contains(i), nodes[i].isUp else { continue }
            if let until = nodes[i].pausedUntil, time < until {
                // A paused process reads its socket when it wakes up.
                network.requeue(m, at: until + random.int(in: 0...2))
                continue
            }
            if case .append = m.body, m.term < nodes[i].raft!.currentTerm {
                // Event check: an append of a lower term than the receiver's must not change
                // its log (the bug acts here, long before an outcome shows it).
                let before = (nodes[i].raft!.lastIndex, nodes[i].raft!.lastTerm)
                nodes[i].raft!.step(m)
                let after = (nodes[i].raft!.lastIndex, nodes[i].raft!.lastTerm)
                if before != after {
                    fail(Violation(property: "Stale Append", time: time,
                                   detail: "node \(i + 1) at term \(nodes[i].raft!.currentTerm.rawValue) changed its log from an append of term \(m.term.rawValue)"))
                }
                continue
            }
            nodes[i].raft!.step(m)
        }
    }

    mutating func tickNodes() {
        for i in nodes.indices where nodes[i].isUp && !nodes[i].isPaused(at: time) {
            if (time + nodes[i].tickPhase) % Self.ticksEvery == 0 {
                nodes[i].raft!.tick()
                if options.plantedBugs.contains(.staleTimeAfterStall) {
                    // The planted runtime bug delivers the ticks a stall missed only here.
                    let due = nodes[i].trueTicks(at: time, every: Self.ticksEvery)
                    while nodes[i].raft!.localTick < due { nodes[i].raft!.tick() }
                }
            }
        }
    }

    /// A paused node that wakes up first catches up on the ticks it missed: a real runtime
    /// reads a monotonic clock, so a stall does not stretch its lease.
    mutating func resume(_ i: Int) {
        nodes[i].pausedUntil = nil
        guard nodes[i].isUp else { return }
        if options.plantedBugs.contains(.staleTimeAfterStall) {
            note("resume \(i + 1) (missed ticks delivered at its next timer)")
            return
        }
        let due = nodes[i].trueTicks(at: time, every: Self.ticksEvery)
        while nodes[i].raft!.localTick < due { nodes[i].raft!.tick() }
        note("resume \(i + 1)")
    }

    func nextHistoryTime() -> UInt64 { historyClock + 1 }

    mutating func historyTime() -> UInt64 {
        historyClock += 1
        return historyClock
    }

    mutating func note(_ event: String) {
        trace.append("t=\(time) \(event)")
        if trace.count > 60 { trace.removeFirst(trace.count - 60) }
        if debugTrace { print("t=\(time) \(event)") }
    }

    mutating func fail(_ v: Violation) {
        if violation == nil {
            violation = v
            for n in nodes {
                note("state of \(n.slot): \(n.raft.map { "\($0.status)" } ?? "crashed")")
                if let r = n.raft, r.currentRole == .leader {
                    for (id, p) in r.status.followers.sorted(by: { $0.key < $1.key }) {
                        note("  leader \(n.slot) sees \(id): match=\(p.match.rawValue) next=\(p.next.rawValue) \(p.state) active=\(p.recentActive)")
                    }
                }
            }
        }
    }
}

/// A simulated client: at most one operation outstanding.
struct SimClient {
    var id: Int
    var leaderGuess: NodeSlot
    var waiting: (op: OperationID, tag: UInt64, deadline: Int)?
    var lastSeen: [String: String] = [:]
    var counter = 0
}
