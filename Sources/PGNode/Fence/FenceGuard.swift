/// The fence guard's decisions, as a value-type state machine without processes or clocks:
/// `pgha guard` feeds it what it read and the time, and performs the effects it returns.
///
/// It is either disarmed or armed with a postmaster pid and a `CLOCK_MONOTONIC` deadline.
/// Guarantees:
/// - **Fence on time.** Whatever the input, the first `step` at or after an armed deadline
///   fences before it applies the input: a renewal that arrives late (even one that was written
///   in time but read late) never rescues a lapsed deadline. The guard then is disarmed until the
///   next `arm`. `nextWakeup(after:)` names the deadline, so a caller that wakes then fences on time.
/// - **The deadline is authoritative.** `arm` and `renew` take the deadline they carry, earlier
///   or later than the current one; a deadline already past fences at once.
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

    /// A disarmed guard. `escalationGrace` is the time from SIGQUIT to SIGKILL.
    public init(escalationGrace: Duration = .seconds(1), livenessPollInterval: Duration = .milliseconds(20)) {
        self.escalationGrace = escalationGrace
        self.livenessPollInterval = livenessPollInterval
    }

    /// The pids the caller should check for exit before each step (fenced, not yet gone).
    public var watchedPIDs: [Int32] { escalations.map(\.pid) }

    /// When the caller must call `step(.tick, at:)` at the latest, if nothing else happens
    /// first; `nil` means only input can change anything.
    public func nextWakeup(after now: MonotonicInstant) -> MonotonicInstant? {
        if exited { return nil }
        var candidates: [MonotonicInstant] = escalations.map(\.killAt)
        if case .armed(_, let deadline) = phase { candidates.append(deadline) }
        if !escalations.isEmpty { candidates.append(now.advanced(by: livenessPollInterval)) }
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
            phase = .armed(pid: pid, deadline: deadline)
            effects.append(.log("armed for postmaster \(pid), deadline in \(Self.describe(deadline.duration(since: now)))"))
            expire(at: now, into: &effects)
        case .command(.renew(let deadline)):
            guard case .armed(let pid, _) = phase else {
                effects.append(.log("renew ignored: not armed (the deadline passed, or no arm was received)"))
                break
            }
            phase = .armed(pid: pid, deadline: deadline)
            expire(at: now, into: &effects)
        case .command(.disarm):
            if case .armed(let pid, _) = phase {
                effects.append(.log("disarmed; postmaster \(pid) is no longer watched"))
            }
            phase = .disarmed
        case .malformed(let error):
            effects.append(.log("ignored a malformed line: \(error)"))
        case .endOfInput:
            inputEnded = true
            if case .armed(let pid, let deadline) = phase {
                effects.append(.log("input closed while armed (deadline in \(Self.describe(deadline.duration(since: now)))): "
                    + "the agent died or let go; fencing postmaster \(pid) at once"))
                fence(pid: pid, at: now, into: &effects)
            } else {
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
        if inputEnded && escalations.isEmpty {
            effects.append(.log("exiting: input closed and nothing left to fence"))
            effects.append(.exit(status: 0))
            exited = true
        }
        return effects
    }

    private mutating func expire(at now: MonotonicInstant, into effects: inout [Effect]) {
        guard case .armed(let pid, let deadline) = phase, now >= deadline else { return }
        effects.append(.log("deadline passed \(Self.describe(now.duration(since: deadline))) ago unrenewed: "
            + "fencing postmaster \(pid)"))
        fence(pid: pid, at: now, into: &effects)
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
