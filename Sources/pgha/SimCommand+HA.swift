import ArgumentParser
import HACore
import HASim

/// `pgha sim --ha`: the HA simulator, one seed or a sweep, the planted-bug hunt, and the
/// failover probe's distribution.
extension SimCommand {
    func validateHA() throws {
        guard SynchronousMode(rawValue: mode) != nil else { throw ValidationError("unknown --mode '\(mode)': use off, on or quorum") }
        guard (3...7).contains(nodes) else { throw ValidationError("--nodes must be between 3 and 7 with --ha, got \(nodes)") }
        guard faultMs >= 0, healMs > 0, seeds > 0 else { throw ValidationError("--fault-ms must not be negative, --heal-ms and --seeds positive") }
        guard (0..<0.5).contains(drift) else { throw ValidationError("--drift must be in 0..<0.5, got \(drift)") }
        for b in bugs where !HASimOptions.plantedBugCatalog.contains(b) {
            throw ValidationError("unknown --bug '\(b)' for --ha: choose from \(HASimOptions.plantedBugCatalog.joined(separator: ", "))")
        }
    }

    func haOptions(seed: UInt64, bugs: [String]) -> HASimOptions {
        var o = HASimOptions(seed: seed)
        o.nodes = nodes
        o.mode = SynchronousMode(rawValue: mode)!
        o.faultMs = faultMs
        o.healMs = healMs
        o.clockDrift = drift
        o.faultRate = faultRate
        o.failoverProbe = failoverProbe
        for b in bugs { _ = o.plantBug(named: b) }
        return o
    }

    func runHA() throws {
        if huntPlantedBugs {
            try huntHA()
            return
        }
        let seedList: [UInt64] = seed.map { [$0] } ?? (0..<seeds).map { firstSeed + UInt64($0) }
        let clock = ContinuousClock()
        let start = clock.now
        var failures = 0, safetyFailures = 0, simulated = 0, failovers: [Int] = [], healed: [Int] = []
        for s in seedList {
            let result = HASimulation.run(haOptions(seed: s, bugs: bugs), debugTrace: trace)
            simulated += result.stats.simulatedMs
            if let f = result.stats.failoverMs { failovers.append(f) }
            if let h = result.stats.healedAfterMs { healed.append(h) }
            if !result.passed {
                failures += 1
                if result.violation?.property != "Progress" { safetyFailures += 1 }
                print(result.report)
            } else if verbose || seedList.count == 1 {
                print(result.report)
            }
        }
        let seconds = (clock.now - start).seconds
        let perSeed = seconds > 0 ? Double(seedList.count) / seconds : 0
        print("\(seedList.count - failures) passed, \(failures) failed: \(seedList.count) seeds (\(mode), \(nodes) nodes), "
              + "\(simulated / 1000) simulated s in \(rounded(seconds)) s (\(rounded(perSeed)) seeds/s)")
        if !healed.isEmpty { print("healthy after the faults: \(Distribution(healed).line) ms") }
        if !failovers.isEmpty { print("write unavailability after a crash of the primary's host: \(Distribution(failovers).line) ms") }
        if safetyFailures > 0 || (failures > 0 && !reportProgressOnly) { throw ExitCode(1) }
        if failures > 0 { print("(only Progress violations: reported, not failed, with --report-progress-only)") }
    }

    func huntHA() throws {
        try huntPlantedBugs(title: "planted HA bug", catalog: HASimOptions.plantedBugCatalog, within: " (\(mode), \(nodes) nodes)") { seed, bugs in
            let r = HASimulation.run(haOptions(seed: seed, bugs: bugs))
            return (r.violation?.property, r.report)
        }
    }

    private func rounded(_ x: Double) -> Double { (x * 100).rounded() / 100 }
}

/// Median, p90, p99 and max of a sample.
struct Distribution {
    var sorted: [Int]
    init(_ values: [Int]) { sorted = values.sorted() }

    func percentile(_ p: Double) -> Int {
        sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }

    var line: String {
        "median \(percentile(0.5)), p90 \(percentile(0.9)), p99 \(percentile(0.99)), max \(sorted.last!) (\(sorted.count) runs)"
    }
}
