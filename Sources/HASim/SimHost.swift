import ClusterStore
import HACore
import RaftCore

/// One simulated database host: the agent process (the real `RaftNode`, the real store state
/// machine, the real `HANode`, and the lease fence's timer), the fence guard (a process of its
/// own), a monotonic clock that may run fast or slow, and the Postgres model.
struct SimHost {
    let slot: Int
    let name: String
    var tags: Tags

    // MARK: Clock

    /// Monotonic clock rate (local milliseconds per global millisecond).
    let rate: Double
    /// Wall clock offset from global time (NTP keeps it small).
    let wallOffset: Int

    func local(_ global: Int) -> Double { Double(global) * rate }
    func instant(_ global: Int) -> Instant { Instant(milliseconds: UInt64(local(global))) }
    /// Global milliseconds until `localMs` of this host's clock have passed.
    func globalDelay(_ localMs: Double) -> Int { max(1, Int((localMs / rate).rounded(.up))) }
    func wallClock(_ global: Int) -> UInt64 { UInt64(max(0, 1_800_000_000_000 + global + wallOffset)) }

    // MARK: Host and process state

    var hostUp = true
    var pausedUntil: Int?
    /// The agent process (Raft, HA loop, lease fence) is stopped (SIGSTOP) until then.
    var agentFrozenUntil: Int?
    /// Increments when the agent process restarts, so its stale events are dropped.
    var agentEpoch = 0

    // MARK: Raft and the store (in the agent process)

    let storage: MemoryStorage
    var raftConfig: RaftConfig
    var raft: RaftNode?
    var store = KeyValueStore()
    /// Local time of the last tick, for the lease's deadline (`RaftRuntime.instant(ofTick:)`).
    var lastTickLocal: Double = 0
    var lastRole: Role = .follower
    var lastTerm: Term = .zero

    // MARK: Agent

    var ha = HANode()
    var cycleRunning = false
    var wakePending = false
    var lastView = ClusterView()
    var statusRound: StatusRound?
    var startedAsPrimary = false
    var activity: PostgresRunState?
    var lastReported: MemberStatus?
    var lastReportAt: Double?
    var reportInFlight = false
    var nextRequest: UInt64 = 1
    /// Store requests this host made, by request id.
    var pendingStore: [UInt64: StoreWaiter] = [:]
    /// Proposals this host (as leader) made for other hosts: request id → requester.
    var proposedFor: [UInt64: Int] = [:]
    /// A status round being gathered.
    var gathering: (id: Int, term: UInt64, statuses: [String: MemberStatus])?
    /// The decision being carried out.
    var plan: Plan?
    /// What the plan's current step waited for finished while the agent was stopped: its outcome.
    var deferredResume: Bool?
    /// Quick lease re-checks made in a term (as the agent does for a new leader).
    var leaseRechecks: (term: UInt64, count: Int) = (0, 0)
    /// The last `wait` reason traced (as the agent logs it on change).
    var lastWait: String?

    // MARK: Lease fence (a timer in the agent process) and the fence guard (its own process)

    var fenceArmedTerm: Term?
    /// The guard is armed (for the postmaster, or for the data directory before a start).
    var guardArmed = false
    /// The guard's deadline (local ms), while armed with a pid.
    var guardDeadline: Double?
    var guardGeneration = 0

    // MARK: Postgres

    var pg = SimPostgres()

    init(slot: Int, tags: Tags, rate: Double, wallOffset: Int, raftConfig: RaftConfig, storage: MemoryStorage) {
        self.slot = slot
        self.name = "pg\(slot)"
        self.tags = tags
        self.rate = rate
        self.wallOffset = wallOffset
        self.raftConfig = raftConfig
        self.storage = storage
    }

    /// The agent process runs now (the host is up and neither it nor the agent is stopped).
    /// A pause or freeze lasts until its `resume` or `thaw` event has run (not merely until its
    /// time), so nothing of the host runs at that instant before the guard and the fence looked.
    func agentRuns(at time: Int) -> Bool {
        hostUp && pausedUntil == nil && agentFrozenUntil == nil && raft != nil
    }

    /// The host's processes run now (Postgres and the guard).
    func hostRuns(at time: Int) -> Bool { hostUp && pausedUntil == nil }

    /// The lease as the runtime hands it out: its term and local deadline.
    var lease: (term: Term, deadline: Double)? {
        guard let raft, let l = raft.leaderLease else { return nil }
        let delta = Double(Int64(bitPattern: l.expiresAtTick &- raft.localTick))
        return (l.term, lastTickLocal + delta * Double(HASimulation.tickMs))
    }

    func holdsLease(at time: Int) -> Bool {
        guard let l = lease else { return false }
        return local(time) < l.deadline
    }

    mutating func newRequestID() -> UInt64 {
        defer { nextRequest += 1 }
        return UInt64(slot) << 48 | nextRequest
    }
}

/// What a store request was for.
enum StoreWaiter: Hashable {
    /// The periodic member report (and the primary's position with it).
    case report(MemberStatus)
    case status
    /// A write the decision waits for.
    case blocking
}

/// The actions of one decision being carried out, and where the current one stands.
struct Plan {
    var actions: [HAAction]
    var index: Int
    var input: HAInput
    /// The phase of a multi-step action (a promotion: fence armed, promoting, history, ...).
    var phase = 0
    /// What the current step waits for.
    var waiting: Wait?
    /// Whether what the current step waited for succeeded.
    var lastOK = true
    var attempts = 0

    enum Wait: Hashable {
        case postgres(operation: Int)
        case store(UInt64)
        case statusRound(Int)
    }
}
