import Foundation
import ArgumentParser
import RaftSim

/// `pgha sim`: run the Raft fault simulator for one seed or a sweep of seeds.
struct SimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run RaftCore in the deterministic fault simulator and check its safety properties.",
        discussion: """
        Each seed runs a cluster through partitions, message loss, duplication and delay, \
        crashes that lose unpersisted data, pauses, membership changes, leadership transfers \
        and snapshots, with clients doing puts, gets and compare-and-sets. After every time \
        unit it checks Election Safety, Leader Append-Only, Log Matching, Leader Completeness, \
        State Machine Safety, commit monotonicity and that no two leader leases overlap; after \
        the faults stop, that a leader emerges and a write commits; at the end, that the client \
        history is linearizable. A failure prints the property, the time and a replay command.

        Examples:
          pgha sim --seed 42 --verbose
          pgha sim --seeds 300 --nodes 5
          pgha sim --hunt-planted-bugs --seeds 200 --nodes 5 --profile harsh
        """
    )

    @Option(help: "Run exactly this seed.") var seed: UInt64?
    @Option(help: "Run this many seeds, starting at --first-seed.") var seeds: Int = 1
    @Option(help: "First seed of a sweep.") var firstSeed: UInt64 = 1
    @Option(help: "Voters at the start (a spare node is added for membership changes).") var nodes: Int = 3
    @Option(help: "Time units with faults (10 units = one Raft tick).") var steps: Int = 3_000
    @Option(help: "Fault-free time units at the end, for the liveness check.") var healSteps: Int = 2_000
    @Option(help: "Fault profile: none, standard or harsh.") var profile: String = "standard"
    @Option(help: "Concurrent clients.") var clients: Int = 3
    @Option(name: .customLong("bug"), help: "Switch on a planted bug (repeatable): \(SimulationOptions.plantedBugCatalog.joined(separator: ", ")).")
    var bugs: [String] = []
    @Flag(help: "For each planted bug (or each --bug given), find the first failing seed within --seeds seeds; fails if one is not caught.") var huntPlantedBugs = false
    @Option(help: "Replay a fuzzer input (a file RaftFuzz wrote with RAFT_FUZZ_TARGET=sim) as a fault schedule.")
    var fuzzInput: String?
    @Flag(help: "Skip the linearizability check.") var noLinearizability = false
    @Flag(help: "Print a line for every seed and the trace of a failure.") var verbose = false
    @Flag(help: "Print every traced event as it happens.") var trace = false
    @Flag(help: "Simulate whole HA clusters (Raft, the store, the HA decision and a Postgres model) instead of Raft alone.")
    var ha = false
    @Option(help: "--ha: synchronous_mode, off, on or quorum.") var mode: String = "on"
    @Option(help: "--ha: simulated milliseconds with faults.") var faultMs: Int = 20_000
    @Option(help: "--ha: fault-free milliseconds within which the cluster must be healthy again.") var healMs: Int = 30_000
    @Option(help: "--ha: each host's clock runs at a rate within 1 ± this.") var drift: Double = 0.02
    @Option(help: "--ha: faults per simulated second.") var faultRate: Double = 0.6
    @Flag(help: "--ha: no random faults; crash the primary's host once healthy and report the write unavailability.")
    var failoverProbe = false
    @Flag(help: "--ha: report Progress (liveness) violations but exit 0 if no safety property failed (open findings).")
    var reportProgressOnly = false

    func validate() throws {
        if ha {
            try validateHA()
            return
        }
        guard FaultProfile.named(profile) != nil else {
            throw ValidationError("unknown --profile '\(profile)': use none, standard or harsh")
        }
        guard (3...9).contains(nodes) else { throw ValidationError("--nodes must be between 3 and 9, got \(nodes)") }
        guard steps > 0, healSteps >= 0, seeds > 0, clients > 0 else {
            throw ValidationError("--steps, --seeds and --clients must be positive, --heal-steps not negative")
        }
        for b in bugs where !SimulationOptions.plantedBugCatalog.contains(b) {
            throw ValidationError("unknown --bug '\(b)': choose from \(SimulationOptions.plantedBugCatalog.joined(separator: ", "))")
        }
    }

    func options(seed: UInt64, bugs: [String]) -> SimulationOptions {
        var o = SimulationOptions(seed: seed)
        o.nodes = nodes
        o.steps = steps
        o.healSteps = healSteps
        o.faults = FaultProfile.named(profile)!
        o.profileName = profile
        o.clients = clients
        o.checkLinearizability = !noLinearizability
        for b in bugs { _ = o.plantBug(named: b) }
        return o
    }

    func run() throws {
        if ha {
            try runHA()
            return
        }
        if huntPlantedBugs {
            try hunt()
            return
        }
        if let path = fuzzInput {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read --fuzz-input \(path)")
            }
            var o = FuzzedSchedule.options(from: Array(data), nodes: nodes)
            for b in bugs { _ = o.plantBug(named: b) }
            let result = Simulation.run(o, debugTrace: trace)
            print(result.report)
            if !result.passed { throw ExitCode(1) }
            return
        }
        let seedList: [UInt64] = seed.map { [$0] } ?? (0..<seeds).map { firstSeed + UInt64($0) }
        let clock = ContinuousClock()
        let start = clock.now
        var totalUnits = 0
        var failures = 0
        for s in seedList {
            let result = Simulation.run(options(seed: s, bugs: bugs), debugTrace: trace)
            totalUnits += result.stats.timeUnits
            if !result.passed {
                failures += 1
                print(result.report)
            } else if verbose || seedList.count == 1 {
                print(result.report)
            }
        }
        let seconds = (clock.now - start).seconds
        print(SweepSummary(seeds: seedList.count, failures: failures, timeUnits: totalUnits, seconds: seconds).line)
        if failures > 0 { throw ExitCode(1) }
    }

    func hunt() throws {
        try huntPlantedBugs(title: "planted bug", catalog: SimulationOptions.plantedBugCatalog, within: "") { seed, bugs in
            let r = Simulation.run(options(seed: seed, bugs: bugs))
            return (r.violation?.property, r.report)
        }
    }

    /// For each planted bug (or each `--bug` given), the first of `--seeds` seeds that fails
    /// with it; a catch counts only if the same seed passes without the bug (otherwise the
    /// seed shows a defect of its own, in the code or the harness). Fails if a bug is missed.
    func huntPlantedBugs(title: String, catalog: [String], within: String,
                         run: (UInt64, [String]) -> (violated: String?, report: String)) throws {
        print("\(title.padding(toLength: 28)) first failing seed   property violated")
        var missed: [String] = []
        var cleanFailures: [String] = []
        for name in bugs.isEmpty ? catalog : bugs {
            var found: (UInt64, String)?
            for i in 0..<seeds {
                let s = firstSeed + UInt64(i)
                let result = run(s, [name])
                if let v = result.violated {
                    found = (s, v)
                    if verbose { print(result.report) }
                    break
                }
            }
            let pad = name.padding(toLength: 28)
            if let (s, p) = found {
                print("\(pad) \(String(s).padding(toLength: 20)) \(p)")
                let clean = run(s, [])
                if clean.violated != nil {
                    print("  but seed \(s) fails without the bug too:\n\(clean.report)")
                    cleanFailures.append(name)
                }
            } else {
                print("\(pad) none in \(seeds) seeds\(within)")
                missed.append(name)
            }
        }
        if !missed.isEmpty || !cleanFailures.isEmpty { throw ExitCode(1) }
    }
}

/// One line summing up a sweep.
struct SweepSummary {
    var seeds: Int
    var failures: Int
    var timeUnits: Int
    var seconds: Double

    var line: String {
        let steps = seconds > 0 ? Double(timeUnits) / seconds : 0
        let perSeed = seconds > 0 ? Double(seeds) / seconds : 0
        return "\(seeds - failures) passed, \(failures) failed: \(seeds) seeds, \(timeUnits) steps in \(format(seconds)) s (\(Int(steps)) steps/s, \(format(perSeed)) seeds/s)"
    }

    private func format(_ x: Double) -> String {
        let r = (x * 100).rounded() / 100
        return "\(r)"
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}

extension String {
    func padding(toLength n: Int) -> String {
        count >= n ? self : self + String(repeating: " ", count: n - count)
    }
}
