/// The fence guard's decisions, as a value-type state machine without processes or clocks:
/// `pgha guard` feeds it what it read and the time, and performs the effects it returns.
///
/// It is disarmed, armed with a postmaster pid and a `CLOCK_MONOTONIC` deadline, or armed for the
/// data directory (`arm-datadir`: a primary is being started and its pid is not known yet; the
/// caller feeds `.dataDirectoryPostmaster` with the pid `postmaster.pid` names while
/// `watchesDataDirectory` is true).
/// Guarantees:
/// - **Fence on time.** Whatever the input, the first `step` at or after an armed deadline
///   fences before it applies the input: a renewal that arrives late (even one that was written
///   in time but read late) never rescues a lapsed deadline. The guard then is disarmed until the
///   next `arm`. `nextWakeup(after:)` names the deadline, so a caller that wakes then fences on time.
/// - **The deadline is authoritative.** `arm` and `renew` take the deadline they carry, earlier
///   or later than the current one; a deadline already past fences at once.
/// - **No gap before the pid is known.** Armed for the data directory, the first postmaster seen
///   there is watched as if armed for its pid; past the deadline, every postmaster seen there is
///   fenced — also one spawned after the deadline by an agent that was frozen in between — until
///   the next `arm`, `arm-datadir` or `disarm`.
/// - **A fenced postmaster dies.** Fencing sends SIGQUIT (Postgres's immediate shutdown); if the
///   process is still there `escalationGrace` later, SIGKILL. This holds whatever commands arrive
///   in between (a later `disarm` or `arm` does not cancel it); the caller reports
///   `.processGone` for the pids in `watchedPIDs` when they have exited, which ends the escalation.
/// - **End of input fences.** When the agent dies or closes the pipe, an armed guard fences at
///   once; the guard exits (status 0) when nothing is left to escalate.
/// - **Bad input is harmless.** A malformed line is logged and changes nothing.
///
/// Every `.signal` effect asks the caller to signal only if the pid still is the expected program
/// (so a reused pid is never signalled); the state machine cannot see processes.
public struct FenceGuard: Sendable {
    /// What the guard is watching.
    public enum Phase: Hashable, Sendable {
        case disarmed
        case armed(pid: Int32, deadline: MonotonicInstant)
        /// Watching the data directory for the postmaster being started, until `deadline`.
        case armedForDataDirectory(deadline: MonotonicInstant)
        /// The data-directory deadline passed: every postmaster seen there is fenced.
        case fencingDataDirectory
    }

    /// The signals a fence sends.
    public enum Signal: Hashable, Sendable {
        /// SIGQUIT: Postgres's immediate shutdown (every backend exits at once, no checkpoint).
        case quit
        /// SIGKILL, when SIGQUIT did not end the postmaster within the grace period.
        case kill
    }

    /// Something for the caller to do.
    public enum Effect: Hashable, Sendable {
        /// Send `signal` to `pid`, provided it still is the expected program.
        case signal(pid: Int32, Signal)
        /// Write a line to the guard's log (the caller adds a timestamp).
        case log(String)
        /// Exit the process with this status.
        case exit(status: Int32)
    }

    /// What happened.
    public enum Input: Hashable, Sendable {
        /// A well-formed line from the agent.
        case command(FenceGuardCommand)
        /// A line that was not a command.
        case malformed(FenceGuardCommandError)
        /// The agent closed the pipe or died.
        case endOfInput
        /// Nothing but time passed.
        case tick
        /// A pid in `watchedPIDs` has exited (or is no longer the expected program).
        case processGone(pid: Int32)
        /// The data directory's `postmaster.pid` names this live postmaster.
        case dataDirectoryPostmaster(pid: Int32)
    }

    /// A postmaster that was sent SIGQUIT and has not been seen gone yet.
    public struct Escalation: Hashable, Sendable {
        /// The fenced postmaster.
        public var pid: Int32
        /// When it was sent SIGQUIT.
        public var fencedAt: MonotonicInstant
        /// When it gets SIGKILL if it is still there.
        public var killAt: MonotonicInstant
    }

    /// How long a fenced postmaster may take to exit after SIGQUIT before it gets SIGKILL.
    public let escalationGrace: Duration
    /// How often the caller checks whether fenced pids are gone, while any are.
    public let livenessPollInterval: Duration

    /// Disarmed, or armed with a pid and deadline.
    public private(set) var phase: Phase = .disarmed
    /// Fenced postmasters not yet seen gone, each with its SIGKILL time.
    public private(set) var escalations: [Escalation] = []
    /// Whether the agent's end of the pipe has closed.
    public private(set) var inputEnded = false
    /// Whether `.exit` was returned; every later step returns nothing.
    public private(set) var exited = false
    /// When input ended, if it did.
    private var inputEndedAt: MonotonicInstant?
    /// Postmasters fenced while `.fencingDataDirectory` (each is fenced once).
    private var fencedInDataDirectory: Set<Int32> = []

    /// A disarmed guard. `escalationGrace` is the time from SIGQUIT to SIGKILL.
    public init(escalationGrace: Duration = .seconds(1), livenessPollInterval: Duration = .milliseconds(20)) {
        self.escalationGrace = escalationGrace
        self.livenessPollInterval = livenessPollInterval
    }

    /// The pids the caller should check for exit before each step (fenced, not yet gone).
    public var watchedPIDs: [Int32] { escalations.map(\.pid) }

    /// Whether the caller should read the data directory's `postmaster.pid` and feed a live
    /// postmaster it names as `.dataDirectoryPostmaster` (every `livenessPollInterval`).
    public var watchesDataDirectory: Bool {
        switch phase {
        case .armedForDataDirectory, .fencingDataDirectory: true
        case .disarmed, .armed: false
        }
    }

    /// When the caller must call `step(.tick, at:)` at the latest, if nothing else happens
    /// first; `nil` means only input can change anything.
    public func nextWakeup(after now: MonotonicInstant) -> MonotonicInstant? {
        if exited { return nil }
        var candidates: [MonotonicInstant] = escalations.map(\.killAt)
        switch phase {
        case .armed(_, let deadline), .armedForDataDirectory(let deadline): candidates.append(deadline)
        case .disarmed, .fencingDataDirectory: break
        }
        if !escalations.isEmpty || watchesDataDirectory { candidates.append(now.advanced(by: livenessPollInterval)) }
        return candidates.min()
    }

    /// Applies one input at `now` and returns the effects to perform, in order.
    public mutating func step(_ input: Input, at now: MonotonicInstant) -> [Effect] {
        if exited { return [] }
        var effects: [Effect] = []
        expire(at: now, into: &effects)
        escalate(at: now, into: &effects)
        switch input {
        case .command(.arm(let pid, let deadline)):
            if case .armed(let old, _) = phase, old != pid {
                effects.append(.log("re-armed for postmaster \(pid) (was \(old), which is no longer watched)"))
            }
            setPhase(.armed(pid: pid, deadline: deadline))
            effects.append(.log("armed for postmaster \(pid), deadline in \(Self.describe(deadline.duration(since: now)))"))
            expire(at: now, into: &effects)
        case .command(.armDataDirectory(let deadline)):
            setPhase(.armedForDataDirectory(deadline: deadline))
            effects.append(.log("armed for the postmaster being started in the data directory, "
                + "deadline in \(Self.describe(deadline.duration(since: now)))"))
            expire(at: now, into: &effects)
        case .command(.renew(let deadline)):
            switch phase {
            case .armed(let pid, _): phase = .armed(pid: pid, deadline: deadline)
            case .armedForDataDirectory: phase = .armedForDataDirectory(deadline: deadline)
            case .disarmed, .fencingDataDirectory:
                effects.append(.log("renew ignored: not armed (the deadline passed, or no arm was received)"))
            }
            expire(at: now, into: &effects)
        case .command(.disarm):
            switch phase {
            case .armed(let pid, _): effects.append(.log("disarmed; postmaster \(pid) is no longer watched"))
            case .armedForDataDirectory, .fencingDataDirectory: effects.append(.log("disarmed; the data directory is no longer watched"))
            case .disarmed: break
            }
            setPhase(.disarmed)
        case .dataDirectoryPostmaster(let pid):
            switch phase {
            case .armedForDataDirectory(let deadline):
                phase = .armed(pid: pid, deadline: deadline)
                effects.append(.log("the data directory's postmaster is \(pid); watching it"))
            case .fencingDataDirectory where !fencedInDataDirectory.contains(pid):
                effects.append(.log("postmaster \(pid) runs in the data directory after the deadline passed: fencing it"))
                fencedInDataDirectory.insert(pid)
                fence(pid: pid, at: now, into: &effects)
                phase = .fencingDataDirectory
            case .fencingDataDirectory, .armed, .disarmed:
                break
            }
        case .malformed(let error):
            effects.append(.log("ignored a malformed line: \(error)"))
        case .endOfInput:
            inputEnded = true
            inputEndedAt = now
            switch phase {
            case .armed(let pid, let deadline):
                effects.append(.log("input closed while armed (deadline in \(Self.describe(deadline.duration(since: now)))): "
                    + "the agent died or let go; fencing postmaster \(pid) at once"))
                fence(pid: pid, at: now, into: &effects)
            case .armedForDataDirectory, .fencingDataDirectory:
                effects.append(.log("input closed while watching the data directory: the agent died or let go; "
                    + "fencing any postmaster there for \(Self.describe(escalationGrace))"))
                phase = .fencingDataDirectory
            case .disarmed:
                effects.append(.log("input closed while disarmed"))
            }
        case .tick:
            break
        case .processGone(let pid):
            for e in escalations where e.pid == pid {
                effects.append(.log("postmaster \(pid) is gone, \(Self.describe(now.duration(since: e.fencedAt))) after it was fenced"))
            }
            escalations.removeAll { $0.pid == pid }
        }
        let stillWatching = phase == .fencingDataDirectory && inputEndedAt.map { now < $0.advanced(by: escalationGrace) } ?? false
        if inputEnded && escalations.isEmpty && !stillWatching {
            effects.append(.log("exiting: input closed and nothing left to fence"))
            effects.append(.exit(status: 0))
            exited = true
        }
        return effects
    }

    private mutating func expire(at now: MonotonicInstant, into effects: inout [Effect]) {
        switch phase {
        case .armed(let pid, let deadline) where now >= deadline:
            effects.append(.log("deadline passed \(Self.describe(now.duration(since: deadline))) ago unrenewed: "
                + "fencing postmaster \(pid)"))
            fence(pid: pid, at: now, into: &effects)
        case .armedForDataDirectory(let deadline) where now >= deadline:
            effects.append(.log("deadline passed \(Self.describe(now.duration(since: deadline))) ago unrenewed before the "
                + "postmaster's pid was known: fencing every postmaster in the data directory until the agent arms again"))
            setPhase(.fencingDataDirectory)
        default:
            break
        }
    }

    /// Changes the phase; leaving `.fencingDataDirectory` forgets which postmasters it fenced.
    private mutating func setPhase(_ next: Phase) {
        if next != .fencingDataDirectory { fencedInDataDirectory = [] }
        phase = next
    }

    private mutating func fence(pid: Int32, at now: MonotonicInstant, into effects: inout [Effect]) {
        phase = .disarmed
        effects.append(.signal(pid: pid, .quit))
        escalations.removeAll { $0.pid == pid }
        escalations.append(Escalation(pid: pid, fencedAt: now, killAt: now.advanced(by: escalationGrace)))
    }

    private mutating func escalate(at now: MonotonicInstant, into effects: inout [Effect]) {
        let due = escalations.filter { $0.killAt <= now }
        guard !due.isEmpty else { return }
        escalations.removeAll { $0.killAt <= now }
        for e in due {
            effects.append(.log("postmaster \(e.pid) still there \(Self.describe(now.duration(since: e.fencedAt))) "
                + "after SIGQUIT: sending SIGKILL"))
            effects.append(.signal(pid: e.pid, .kill))
        }
    }

    /// A duration for a log line, in milliseconds (negative: in the past).
    static func describe(_ d: Duration) -> String {
        let ms = d.milliseconds
        return ms.magnitude >= 10_000_000 ? "\(ms / 1000) s" : "\(ms) ms"
    }
}
