import HACore

/// Everything that determines one run of the HA simulator. Two runs with equal options are
/// identical, event for event.
public struct HASimOptions: Sendable {
    public var seed: UInt64
    /// Hosts (3 or 5), each running Raft, the store, the HA decision and a Postgres model.
    public var nodes: Int = 3
    public var mode: SynchronousMode = .on
    /// Simulated milliseconds with faults (after the cluster first became healthy).
    public var faultMs: Int = 20_000
    /// Fault-free milliseconds at the end: the cluster must be healthy again within them.
    public var healMs: Int = 30_000
    /// Each host's monotonic clock runs at a rate drawn from `1 ± clockDrift`.
    public var clockDrift: Double = 0.02
    /// Faults per simulated second, on average.
    public var faultRate: Double = 0.6
    /// Instead of random faults: once healthy, crash the primary's host and measure how long
    /// writes are unavailable (the failover benchmark's fault, in simulation).
    public var failoverProbe = false
    /// Names of the planted bugs switched on (see `HAPlantedBugs.all`).
    public private(set) var plantedBugNames: [String] = []
    package var plantedBugs: HAPlantedBugs = []

    public init(seed: UInt64) { self.seed = seed }

    /// Switches on a planted bug by name; false for an unknown name.
    public mutating func plantBug(named name: String) -> Bool {
        guard let bug = HAPlantedBugs.all.first(where: { $0.0 == name }) else { return false }
        plantedBugs.insert(bug.1)
        plantedBugNames.append(name)
        return true
    }

    /// The names `plantBug(named:)` accepts.
    public static var plantedBugCatalog: [String] { HAPlantedBugs.all.map(\.0) }

    /// The command that replays exactly this run.
    public var reproducer: String {
        var s = "pgha sim --ha --mode \(mode.rawValue) --nodes \(nodes) --seed \(seed)"
        if faultMs != 20_000 { s += " --fault-ms \(faultMs)" }
        if healMs != 30_000 { s += " --heal-ms \(healMs)" }
        if clockDrift != 0.02 { s += " --drift \(clockDrift)" }
        if faultRate != 0.6 { s += " --fault-rate \(faultRate)" }
        if failoverProbe { s += " --failover-probe" }
        for b in plantedBugNames { s += " --bug \(b)" }
        return s
    }
}

/// Counts and measurements of one run.
public struct HASimStats: Hashable, Sendable {
    public var simulatedMs = 0
    public var events = 0
    public var commitsAcknowledged = 0
    public var commitsUnknown = 0
    public var promotions = 0
    public var fences = 0
    public var guardFences = 0
    public var rewinds = 0
    public var rebuilds = 0
    public var hostCrashes = 0
    public var postgresCrashes = 0
    public var partitions = 0
    public var pauses = 0
    public var agentFreezes = 0
    public var replicationCuts = 0
    public var slowPromotions = 0
    public var maxTerm: UInt64 = 0
    /// Asynchronous mode: acknowledged commits missing from the final primary, and their bytes.
    public var lostCommits = 0
    public var lostBytes: UInt64 = 0
    /// The most WAL a deposed primary acknowledged beyond the last position it recorded in the
    /// store (what the lag rule cannot see: one report period and one lease).
    public var maxUnrecordedBytes: UInt64 = 0
    /// Milliseconds from the end of the faults to a healthy cluster.
    public var healedAfterMs: Int?
    /// Failover probe: milliseconds from the crash of the primary's host to the first commit
    /// acknowledged by the new primary.
    public var failoverMs: Int?
}

/// The outcome of a run: the first violated property (if any), statistics, the last events,
/// and the command that replays it.
public struct HASimResult: Sendable {
    public var options: HASimOptions
    public var violation: HAViolation?
    public var stats: HASimStats
    /// The last events before the end (or the violation), oldest first.
    public var trace: [String]

    public var passed: Bool { violation == nil }

    /// One line for a pass; for a failure the property, the replay command and the event tail.
    public var report: String {
        if let v = violation {
            return (["FAIL seed \(options.seed): \(v)", "replay: \(options.reproducer)", "last events:"]
                + trace.map { "  \($0)" }).joined(separator: "\n")
        }
        let s = stats
        var line = "ok seed \(options.seed) (\(options.mode.rawValue), \(options.nodes) nodes): \(s.commitsAcknowledged) commits, "
            + "\(s.promotions) promotions, \(s.fences) fences (\(s.guardFences) by the guard), \(s.rewinds) rewinds, "
            + "\(s.rebuilds) base backups, \(s.hostCrashes) host crashes, \(s.postgresCrashes) Postgres crashes, "
            + "\(s.partitions) partitions, \(s.pauses) pauses, \(s.agentFreezes) agent freezes, term \(s.maxTerm)"
        if options.mode == .off { line += ", lost \(s.lostCommits) commits / \(s.lostBytes) bytes" }
        if let h = s.healedAfterMs { line += ", healthy \(h) ms after the faults" }
        if let f = s.failoverMs { line += ", failover \(f) ms" }
        return line
    }
}

/// A violated property, with when and what.
public struct HAViolation: Hashable, Sendable, CustomStringConvertible {
    public var property: String
    /// Simulated milliseconds.
    public var time: Int
    public var detail: String
    public var description: String { "\(property) violated at t=\(time)ms: \(detail)" }
}
