/// How hostile a simulated world is. Probabilities are per message (network) or per
/// simulated time unit (events); a tick is `Simulation.ticksEvery` units.
public struct FaultProfile: Sendable, Hashable {
    /// A message is lost.
    public var drop: Double = 0.02
    /// A message is delivered twice.
    public var duplicate: Double = 0.02
    /// Normal one-way delay, in time units; random delays also reorder messages.
    public var minDelay: Int = 1
    public var maxDelay: Int = 8
    /// A message is held back for a long time (tens of ticks): stale messages arriving late.
    public var longDelay: Double = 0.005
    /// Per time unit: a new partition starts (if none is active).
    public var partition: Double = 0.002
    /// Partition length range, in time units.
    public var partitionLength: ClosedRange<Int> = 100...800
    /// Per time unit: a running node crashes, losing whatever it had not persisted.
    public var crash: Double = 0.0008
    /// A crash happens in the middle of handling a Ready: after sending the messages that
    /// may go early, before persisting.
    public var crashMidReady: Double = 0.3
    /// Downtime after a crash, in time units.
    public var downtime: ClosedRange<Int> = 20...600
    /// Per time unit: a node pauses (a long GC, a stalled disk): no ticks, no messages.
    public var pause: Double = 0.0005
    public var pauseLength: ClosedRange<Int> = 20...300
    /// Per time unit: the leader proposes a membership change.
    public var membershipChange: Double = 0.0015
    /// Per time unit: the leader starts a leadership transfer.
    public var transfer: Double = 0.001
    /// Per time unit: the clients go quiet for a while (an idle cluster, where logs are even
    /// and a node cut off from the leader can still have an up-to-date log).
    public var quiet: Double = 0.002
    public var quietLength: ClosedRange<Int> = 100...600
    /// A node takes a snapshot and compacts its log after this many applied entries.
    public var snapshotEvery: Int = 40
    /// A *response* (append, heartbeat, vote and pre-vote answers) is held back for long:
    /// answers from an earlier round or term arriving after the world moved on.
    public var responseLongDelay: Double = 0.01
    public var responseDelayRange: ClosedRange<Int> = 20...500
    /// Per time unit: one message sent earlier (up to a few hundred messages back) is
    /// delivered again now — a stale message from an earlier term turning up late.
    public var replayOld: Double = 0.005
    /// Per time unit: a connection between the leader and a follower resets: everything in
    /// flight on it, both ways, is lost at once (whole in-flight windows).
    public var connectionReset: Double = 0.001
    /// Per time unit: a follower's election timer fires early (it campaigns now), so
    /// elections race with a leader that holds a lease.
    public var electionNudge: Double = 0.002
    /// Per time unit: a node loses its disk (restarts empty) or finds a damaged record (and,
    /// as `DiskStorage` does, refuses to start): a voter is replaced through membership, a
    /// learner comes back empty under the same id.
    public var diskLoss: Double = 0.0002
    /// Persistence is asynchronous: a `Ready`'s write takes this many time units with
    /// probability `slowPersist` (else it completes within the unit). The node keeps ticking
    /// and stepping meanwhile and sends heartbeats through `takeMessagesToSendNow`.
    public var slowPersist: Double = 0.2
    public var persistLength: ClosedRange<Int> = 1...40

    public init() {}

    /// No faults at all: a reliable, fast network and no crashes.
    public static var faultFree: FaultProfile {
        var p = FaultProfile()
        p.drop = 0; p.duplicate = 0; p.longDelay = 0; p.partition = 0; p.crash = 0
        p.pause = 0; p.membershipChange = 0; p.transfer = 0; p.quiet = 0
        p.responseLongDelay = 0; p.replayOld = 0; p.connectionReset = 0; p.electionNudge = 0
        p.diskLoss = 0; p.slowPersist = 0
        return p
    }

    /// The default mix.
    public static var standard: FaultProfile {
        var p = FaultProfile()
        p.membershipChange = 0.003
        p.partitionLength = 20...800
        return p
    }

    /// More of everything: the profile the soak and the planted-bug hunts use.
    public static var harsh: FaultProfile {
        var p = FaultProfile()
        p.drop = 0.05; p.duplicate = 0.05; p.longDelay = 0.01; p.partition = 0.004
        p.crash = 0.002; p.crashMidReady = 0.5; p.pause = 0.001; p.membershipChange = 0.006; p.transfer = 0.002
        p.snapshotEvery = 20
        p.partitionLength = 20...800
        p.responseLongDelay = 0.03; p.replayOld = 0.02; p.connectionReset = 0.003; p.electionNudge = 0.004
        p.diskLoss = 0.0004; p.slowPersist = 0.3
        return p
    }

    /// The profiles by the names the command line uses.
    public static func named(_ name: String) -> FaultProfile? {
        switch name {
        case "none": return .faultFree
        case "standard": return .standard
        case "harsh": return .harsh
        default: return nil
        }
    }
}
