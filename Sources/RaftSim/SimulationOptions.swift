import RaftCore

/// Everything that determines a simulation run. Two runs with equal options are identical.
public struct SimulationOptions: Sendable {
    public var seed: UInt64
    /// Voters at the start; `Simulation.spares` more nodes start outside the cluster as
    /// spares that membership changes can add.
    public var nodes: Int = 3
    /// Time units with faults. Ten units make one Raft tick.
    public var steps: Int = 3_000
    /// Fault-free time units at the end, in which a leader must emerge and a write commit.
    public var healSteps: Int = 2_000
    public var faults: FaultProfile = .standard
    /// The name of `faults` for the reproducer line.
    public var profileName: String = "standard"
    public var clients: Int = 3
    public var keys: Int = 4
    /// Per client and time unit: the chance to start an operation when idle.
    public var operationRate: Double = 0.05
    public var checkLinearizability = true
    /// When set, these faults happen at their times and no random faults are injected.
    public var schedule: [ScheduledFault]?
    /// Names of the planted bugs switched on (see `PlantedBugs.all`).
    public private(set) var plantedBugNames: [String] = []
    package var plantedBugs: PlantedBugs = []

    public init(seed: UInt64) { self.seed = seed }

    /// Switches on planted bugs by name; returns false for an unknown name.
    public mutating func plantBug(named name: String) -> Bool {
        guard let bug = PlantedBugs.all.first(where: { $0.0 == name }) else { return false }
        plantedBugs.insert(bug.1)
        plantedBugNames.append(name)
        return true
    }

    /// The names `plantBug(named:)` accepts.
    public static var plantedBugCatalog: [String] { PlantedBugs.all.map(\.0) }

    /// The command that replays exactly this run.
    public var reproducer: String {
        var s = "pgha sim --seed \(seed) --nodes \(nodes) --steps \(steps) --heal-steps \(healSteps) --profile \(profileName)"
        for b in plantedBugNames { s += " --bug \(b)" }
        if clients != 3 { s += " --clients \(clients)" }
        if schedule != nil { s += " (fault schedule from a fuzzer input: replay it with pgha sim --fuzz-input FILE)" }
        return s
    }
}

/// A fault at a given time, for schedules built by hand or from fuzzer input.
public struct ScheduledFault: Hashable, Sendable {
    public var at: Int
    public var fault: Fault
    public init(at: Int, fault: Fault) {
        self.at = at
        self.fault = fault
    }
}

/// Counts from one run.
public struct SimulationStats: Hashable, Sendable {
    public var timeUnits = 0
    public var messagesSent = 0
    public var messagesDropped = 0
    public var messagesDuplicated = 0
    public var leadersElected = 0
    public var maxTerm: UInt64 = 0
    public var maxCommit: UInt64 = 0
    public var operationsOK = 0
    public var operationsUnknown = 0
    public var crashes = 0
    public var partitions = 0
    public var pauses = 0
    public var snapshotsTaken = 0
    public var snapshotsInstalled = 0
    public var membershipChanges = 0
    public var transfers = 0
    public var messagesReplayed = 0
    public var connectionResets = 0
    public var electionNudges = 0
    public var disksLost = 0
    public var slowPersists = 0
    public var linearizability = "not checked"
}

/// The outcome of a run: the first violation (if any), statistics, the last events, and the
/// command that replays it.
public struct SimulationResult: Sendable {
    public var options: SimulationOptions
    public var violation: Violation?
    public var stats: SimulationStats
    /// The last events before the end (or the violation), oldest first.
    public var trace: [String]

    public var passed: Bool { violation == nil }

    /// A human-readable report; for a failure it names the property, the time, the replay
    /// command and the last events.
    public var report: String {
        var lines: [String] = []
        if let v = violation {
            lines.append("FAIL seed \(options.seed): \(v)")
            lines.append("replay: \(options.reproducer)")
            lines.append("last events:")
            lines += trace.map { "  \($0)" }
        } else {
            lines.append("ok seed \(options.seed): \(stats.leadersElected) leaders, term \(stats.maxTerm), commit \(stats.maxCommit), ops \(stats.operationsOK) ok / \(stats.operationsUnknown) unknown, \(stats.crashes) crashes, \(stats.partitions) partitions, \(stats.snapshotsInstalled) snapshots installed, linearizability: \(stats.linearizability)")
        }
        return lines.joined(separator: "\n")
    }
}
