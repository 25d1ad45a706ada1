@testable import HACore

/// A small seeded generator (SplitMix64) so random tests replay exactly.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func pick<T>(_ xs: [T]) -> T { xs.randomElement(using: &self)! }
    mutating func maybe<T>(_ p: Double = 0.5, _ make: (inout SplitMix64) -> T) -> T? { chance(p) ? make(&self) : nil }
}

/// Random `HANode` inputs over a small vocabulary, so interesting collisions (same term,
/// same names, timelines around the history's latest) happen often.
struct HAInputGenerator {
    var rng: SplitMix64
    var now: UInt64 = 1_000_000
    var term: UInt64 = 1

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func tags() -> Tags {
        rng.pick([Tags(), Tags(), Tags(), Tags(noFailover: true), Tags(failoverPriority: 0), Tags(failoverPriority: 3)])
    }

    mutating func member(_ name: String) -> MemberStatus {
        Fx.member(name, role: rng.pick([.replica, .replica, .primary, .uninitialized]),
                  state: rng.pick([.running, .running, .stopped, .crashed, .starting, .rewinding]),
                  sysid: rng.pick([Fx.sysid, Fx.sysid, Fx.sysid, Fx.otherSysid, nil]),
                  timeline: rng.maybe(0.9) { UInt32.random(in: 1...4, using: &$0) },
                  lsn: rng.maybe(0.9) { UInt64.random(in: 0...3_000_000, using: &$0) },
                  tags: tags(), following: rng.maybe { $0.pick(["a", "b", "c"]) })
    }

    mutating func local() -> LocalPostgres {
        let states: [ControlData.ClusterState] = [.starting, .shutDown, .shutDownInRecovery, .shuttingDown, .inCrashRecovery,
                                                  .inArchiveRecovery, .inProduction, .unknown]
        let dir: DataDirectoryState
        switch UInt8.random(in: 0..<10, using: &rng) {
        case 0, 1: dir = .empty
        case 2: dir = .unusable("garbage")
        default:
            dir = .initialized(ControlData(systemIdentifier: rng.pick([Fx.sysid, Fx.sysid, Fx.sysid, Fx.otherSysid]),
                                           timeline: UInt32.random(in: 1...4, using: &rng), state: rng.pick(states)))
        }
        let process: PostgresProcess = rng.pick([.stopped, .running, .running, .running,
                                                 .starting(since: Instant(milliseconds: now - 100)),
                                                 .crashed(at: Instant(milliseconds: now - 50))])
        var running: RunningPostgres?
        if process == .running, rng.chance(0.9) {
            // LSNs around the history's fork points (0, 1000, 2000), so diverged standbys occur.
            running = RunningPostgres(inRecovery: rng.chance(0.5), timeline: UInt32.random(in: 1...4, using: &rng),
                                      receivedLSN: rng.maybe(0.8) { LSN(UInt64.random(in: 0...3_000, using: &$0)) },
                                      replayedLSN: rng.maybe(0.8) { LSN(UInt64.random(in: 0...3_000, using: &$0)) },
                                      streaming: rng.chance(0.5),
                                      following: rng.maybe { $0.pick(["a", "b", "c"]) })
        }
        // What the executor last started it as (it knows even while the postmaster is starting).
        return LocalPostgres(dataDirectory: dir, process: process, running: running, startedAsPrimary: rng.chance(0.5))
    }

    mutating func config() -> DynamicConfig {
        var c = DynamicConfig()
        c.usePgRewind = rng.chance(0.8)
        c.rebuildOnRewindFailure = rng.chance(0.8)
        c.primaryStartTimeoutMs = rng.pick([0, 1_000, 300_000])
        c.transferTimeoutMs = rng.pick([0, 500, 3_000])
        c.maximumLagOnFailover = rng.pick([0, 1_048_576, UInt64.max])
        return c
    }

    /// The next input of a run: time moves forward a little, the term sometimes.
    mutating func next(me: String = "a") -> HAInput {
        now += UInt64.random(in: 0...2_000, using: &rng)
        if rng.chance(0.1) { term += 1 }
        let isLeader = rng.chance(0.6)
        let lease: Instant? = rng.pick([nil, Instant(milliseconds: now - 1), Instant(milliseconds: now),
                                        Instant(milliseconds: now + 1), Instant(milliseconds: now + 600)])
        let leader: String? = isLeader ? me : rng.maybe(0.8) { $0.pick(["a", "b", "c"]) }
        var members: [String: MemberStatus] = [:]
        for name in ["a", "b", "c", "d"] where rng.chance(0.75) { members[name] = member(name) }
        let history = (0..<Int.random(in: 0...3, using: &rng)).map { i in
            HistoryRow(timeline: UInt32(i + 2), lsn: LSN(UInt64(i) * 1_000), atUnixMs: 0, reason: "failover",
                       oldPrimary: nil, newPrimary: rng.pick(["a", "b", "c"]))
        }
        let cluster = ClusterView(systemIdentifier: rng.chance(0.85) ? Fx.sysid : nil, members: members,
                                  lastPrimaryLSN: rng.maybe { LSN(UInt64.random(in: 0...3_000_000, using: &$0)) },
                                  history: history, config: config())
        var round: StatusRound?
        if rng.chance(0.6) {
            var statuses: [String: MemberStatus] = [:]
            for name in ["a", "b", "c", "d"] where rng.chance(0.7) { statuses[name] = member(name) }
            round = StatusRound(term: rng.chance(0.8) ? term : term - 1, statuses: statuses,
                                at: Instant(milliseconds: now - rng.pick([0, 100, 5_000, 5_001, 20_000])))
        }
        return HAInput(now: Instant(milliseconds: now), me: me, tags: tags(),
                       raft: RaftView(isLeader: isLeader, term: term, leader: leader, leaseDeadline: lease,
                                      voters: rng.chance(0.9) ? Fx.voters : [:]),
                       cluster: cluster, local: local(), statusRound: round)
    }

    /// Sometimes, an outcome to feed back after a decision.
    mutating func outcome() -> HAOutcome? {
        guard rng.chance(0.2) else { return nil }
        let at = Instant(milliseconds: now)
        return rng.pick([.rewindFailed(at: at, reason: "r"), .rebuildFailed(at: at, reason: "b"), .startFailed(at: at, reason: "s"),
                         .promoteFailed(at: at, reason: "p"), .bootstrapFailed(at: at, reason: "i"), .repaired])
    }
}
