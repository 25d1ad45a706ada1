import Testing
@testable import RaftSim
import RaftCore

@Suite struct SimulationTests {
    func options(seed: UInt64, nodes: Int = 3, profile: String = "harsh") -> SimulationOptions {
        var o = SimulationOptions(seed: seed)
        o.nodes = nodes
        o.faults = FaultProfile.named(profile)!
        o.profileName = profile
        return o
    }

    @Test func aSeedReplaysBitForBit() {
        let a = Simulation.run(options(seed: 11))
        let b = Simulation.run(options(seed: 11))
        #expect(a.stats == b.stats)
        #expect(a.trace == b.trace)
        let c = Simulation.run(options(seed: 12))
        #expect(a.trace != c.trace, "different seeds should give different runs")
    }

    @Test func aFaultFreeRunElectsOnceAndEveryOperationCompletes() {
        let r = Simulation.run(options(seed: 1, profile: "none"))
        #expect(r.passed, "\(r.report)")
        #expect(r.stats.leadersElected == 1)
        #expect(r.stats.operationsUnknown == 0)
        #expect(r.stats.operationsOK > 100)
        #expect(r.stats.linearizability.hasPrefix("ok"))
    }

    @Test(arguments: [3, 5])
    func harshSweepPasses(nodes: Int) {
        for seed: UInt64 in 1...8 {
            let r = Simulation.run(options(seed: seed, nodes: nodes))
            #expect(r.passed, "\(r.report)")
            #expect(r.stats.crashes + r.stats.partitions + r.stats.pauses > 0, "the harsh profile must inject faults")
        }
    }

    /// The harness has teeth: with each planted bug switched on, the seed recorded by
    /// `pgha sim --hunt-planted-bugs --nodes 5 --profile harsh` fails with the expected
    /// property, and the same seed passes on the unmodified core. (CI also runs the hunt
    /// itself over a bounded range of seeds.)
    @Test(arguments: plantedBugSeeds)
    func plantedBugIsCaught(bug: String, seed: UInt64, property: String) {
        var o = options(seed: seed, nodes: 5)
        let planted = o.plantBug(named: bug)
        #expect(planted)
        let buggy = Simulation.run(o)
        #expect(buggy.violation?.property == property, "\(bug): \(buggy.report)")
        let clean = Simulation.run(options(seed: seed, nodes: 5))
        #expect(clean.passed, "\(clean.report)")
    }

    @Test func failureReportNamesPropertyAndReplayCommand() throws {
        let (bug, seed, _) = plantedBugSeeds[0]
        var o = options(seed: seed, nodes: 5)
        _ = o.plantBug(named: bug)
        let r = Simulation.run(o)
        let v = try #require(r.violation)
        #expect(r.report.contains(v.property))
        #expect(r.report.contains("pgha sim --seed \(seed) --nodes 5"))
        #expect(r.report.contains("--bug \(bug)"))
        #expect(!r.trace.isEmpty)
    }

    @Test func fuzzedSchedulesAreAlwaysValidAndDeterministic() {
        var rng = SimRandom(seed: 99)
        for n in [0, 3, 8, 9, 40, 200] {
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let o = FuzzedSchedule.options(from: bytes)
            #expect(o.schedule?.count == max(0, (n - 8) / 4))
            let r1 = Simulation.run(o)
            let r2 = Simulation.run(FuzzedSchedule.options(from: bytes))
            #expect(r1.passed, "\(r1.report)")
            #expect(r1.trace == r2.trace)
        }
    }

    @Test func scheduledLeaderCrashesAndPartitionsAreSurvived() {
        var o = options(seed: 5, profile: "none")
        o.schedule = [
            ScheduledFault(at: 400, fault: .crash(1, midReady: true)),
            ScheduledFault(at: 420, fault: .crash(2, midReady: false)),
            ScheduledFault(at: 900, fault: .split([1, 2], [3, 4], length: 400)),
            ScheduledFault(at: 1500, fault: .pause(3, length: 200)),
            ScheduledFault(at: 1800, fault: .cutLink(3, 4, length: 300)),
            ScheduledFault(at: 2000, fault: .membershipChange),
        ]
        let r = Simulation.run(o)
        #expect(r.passed, "\(r.report)")
        #expect(r.stats.crashes == 2)
    }
}

/// First failing seeds found by `pgha sim --hunt-planted-bugs --seeds 2000 --nodes 5 --profile
/// harsh` (3,000 time units with faults, 2,000 without), and the property each one breaks.
/// `commit-old-term` is absent: random schedules did not produce a Figure 8 sequence in 2,000
/// seeds in any configuration; `ReplicationTests.figure8OldTermEntryIsNotCommittedByCounting`
/// shows its effect on the exact schedule.
let plantedBugSeeds: [(String, UInt64, String)] = [
    ("vote-without-log-check", 1, "Leader Completeness"),
    ("append-without-truncate", 3, "State Machine Safety"),
    ("reply-before-persist", 1, "Durable Promises"),
    ("read-without-quorum", 20, "Linearizability"),
    ("vote-ignoring-lease", 1, "Lease Refusal Window"),
    ("stickiness-lost-on-higher-term", 864, "Lease Refusal Window"),
    ("inflight-window-never-drains", 20, "Liveness"),
    ("regressed-follower-ignored", 32, "Liveness"),
    ("stale-time-after-stall", 3, "Stale Lease"),
]
