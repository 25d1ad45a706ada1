import Logging
import NIOConcurrencyHelpers
import NIOCore
import RaftCore

/// What the fence tells the out-of-process guards (the fence guard process, the watchdog
/// device) while it is armed. Each hook must return at once: they run on the fence's timer.
public struct FenceHooks: Sendable {
    /// Armed for the postmaster `pid` (nil: not known yet) until `deadline`. Returning false
    /// refuses the arming (a required watchdog is not usable): Postgres must not be primary.
    public var arm: @Sendable (_ pid: Int32?, _ deadline: NIODeadline) -> Bool
    /// The lease was renewed until `deadline`.
    public var renew: @Sendable (_ deadline: NIODeadline) -> Void
    /// Postgres no longer runs as primary (stopped or fenced).
    public var disarm: @Sendable () -> Void

    public init(arm: @escaping @Sendable (Int32?, NIODeadline) -> Bool = { _, _ in true },
                renew: @escaping @Sendable (NIODeadline) -> Void = { _ in },
                disarm: @escaping @Sendable () -> Void = {}) {
        self.arm = arm
        self.renew = renew
        self.disarm = disarm
    }
}

/// The one-writer rule, enforced on a timer of its own: while armed (the local Postgres runs as
/// primary), it checks the Raft leader lease every `interval` against the monotonic clock and
/// stops Postgres immediately (`fenceNow`, SIGQUIT to the postmaster) the moment the lease is
/// gone, has lapsed, or belongs to another term than the one it was armed in.
///
/// The arithmetic (default timings): the lease lasts 600 ms from the *send* of the heartbeat
/// round a quorum acknowledged; a follower that acknowledged refuses to vote for 1000 ms (the
/// minimum election timeout) counted from when it *received* that round, which is later. So the
/// earliest instant another node can be elected is at least 1000 − 600 = 400 ms after this lease
/// lapses. The fence checks every 20 ms (`interval`) and signals in well under a millisecond, so
/// Postgres is told to stop at most ~20 ms after the lapse — 380 ms before any other node could
/// promote. `LeaseFenceTests` checks these numbers.
///
/// The check compares the last known deadline with the clock on every tick; the fresh lease is
/// polled from the Raft loop without waiting for it, so a stalled Raft loop cannot hold the
/// fence up (the old deadline simply runs out). A frozen *agent* cannot fence at all: the fence
/// guard process (`FenceHooks`) covers that.
public final class LeaseFence: Sendable {
    /// How often the lease is checked.
    public let interval: TimeAmount
    private let loop: any EventLoop
    private let box: NIOLoopBoundBox<State>
    private let lease: @Sendable () -> EventLoopFuture<HeldLease?>
    private let fenceNow: @Sendable () -> Bool
    private let hooks: FenceHooks
    private let onFenced: @Sendable (String) -> Void
    private let logger: Logger
    private let fenceCount = NIOLockedValueBox(0)
    /// The deadline of the lease the armed fence last confirmed (nil while disarmed).
    private let confirmedDeadline = NIOLockedValueBox<NIODeadline?>(nil)

    final class State {
        /// The term the fence was armed in; nil: disarmed.
        var armedTerm: Term?
        var pid: Int32?
        var known: HeldLease?
        var polling = false
        var timer: RepeatedTask?
    }

    /// - Parameters:
    ///   - loop: an event loop that runs nothing slow (not the Raft loop, not Postgres work).
    ///   - lease: the current lease, from the Raft runtime (`RaftRuntime.leaderLeaseFuture`).
    ///   - fenceNow: stops Postgres at once; must not block.
    ///   - onFenced: told (on the fence loop) after the fence fired, with the reason.
    public init(loop: any EventLoop, interval: TimeAmount = .milliseconds(20),
                lease: @escaping @Sendable () -> EventLoopFuture<HeldLease?>,
                fenceNow: @escaping @Sendable () -> Bool, hooks: FenceHooks = FenceHooks(),
                logger: Logger, onFenced: @escaping @Sendable (String) -> Void = { _ in }) {
        self.loop = loop
        self.interval = interval
        self.lease = lease
        self.fenceNow = fenceNow
        self.hooks = hooks
        self.logger = logger
        self.onFenced = onFenced
        box = NIOLoopBoundBox.makeBoxSendingValue(State(), eventLoop: loop)
    }

    /// How many times the fence fired since start.
    public var fenced: Int { fenceCount.withLockedValue { $0 } }

    /// Whether the fence is armed and the lease it last confirmed (every `interval`) holds at
    /// `now`: the REST API's `/primary` check, answered without asking the Raft loop.
    public func guardsValidLease(at now: NIODeadline = .now()) -> Bool {
        confirmedDeadline.withLockedValue { $0 }.map { now < $0 } ?? false
    }

    /// Starts the timer.
    public func start() {
        loop.execute {
            let s = self.box.value
            guard s.timer == nil else { return }
            s.timer = self.loop.scheduleRepeatedTask(initialDelay: self.interval, delay: self.interval) { _ in self.tick() }
        }
    }

    /// Stops the timer (disarming first).
    public func stop() async {
        try? await loop.submit {
            self.disarmOnLoop()
            self.box.value.timer?.cancel()
            self.box.value.timer = nil
        }.get()
    }

    /// Arms the fence for a primary about to run (or running) under this node's current lease:
    /// fetches the lease fresh and arms only if it is valid now. Returns false (and stays
    /// disarmed) if this node holds no valid lease: the caller must then not start or promote a
    /// primary. Calling it again updates the postmaster's pid.
    ///
    /// With `term`, it also refuses a lease of any other term: the decision being carried out
    /// was made in `term` on what the store showed then, and a node that lost and regained
    /// leadership since (a promotion waits on the store and on `pre_promote`) holds a valid
    /// lease for a view it has not seen (found by the HA simulator, seed 8915).
    public func arm(pid: Int32?, term: UInt64? = nil) async -> Bool {
        guard let current = try? await lease().get(), current.isValid() else { return false }
        if let term, current.term.rawValue != term { return false }
        return (try? await loop.submit { () -> Bool in
            let s = self.box.value
            if s.known.map({ $0.term != current.term || $0.deadline < current.deadline }) ?? true { s.known = current }
            guard let known = s.known, known.term == current.term, known.isValid() else { return false }
            let newlyArmed = s.armedTerm != known.term || s.pid != pid
            if newlyArmed {
                guard self.hooks.arm(pid, known.deadline) else {
                    self.logger.error("lease fence refused to arm: a guard is not usable")
                    return false
                }
            }
            s.armedTerm = known.term
            s.pid = pid
            self.confirmedDeadline.withLockedValue { $0 = known.deadline }
            if newlyArmed {
                self.logger.info("lease fence armed", metadata: ["raft.term": "\(known.term.rawValue)",
                                                                 "postgres.pid": "\(pid.map { "\($0)" } ?? "-")"])
            }
            return true
        }.get()) ?? false
    }

    /// Disarms: Postgres no longer runs as primary.
    public func disarm() async {
        try? await loop.submit { self.disarmOnLoop() }.get()
    }

    /// Whether the fence is armed (for status and tests).
    public func isArmed() async -> Bool {
        (try? await loop.submit { self.box.value.armedTerm != nil }.get()) ?? false
    }

    private func disarmOnLoop() {
        let s = box.value
        confirmedDeadline.withLockedValue { $0 = nil }
        guard s.armedTerm != nil else { return }
        s.armedTerm = nil
        s.pid = nil
        hooks.disarm()
    }

    private func tick() {
        let s = box.value
        if s.armedTerm != nil && !s.polling {
            s.polling = true
            lease().hop(to: loop).whenComplete { result in
                let s = self.box.value
                s.polling = false
                switch result {
                case .success(let l): s.known = l
                case .failure: s.known = nil
                }
                self.check()
            }
        }
        check()
    }

    /// Fences if armed and the lease is not valid for the armed term right now.
    private func check() {
        let s = box.value
        guard let term = s.armedTerm else { return }
        let now = NIODeadline.now()
        if let known = s.known, known.term == term, known.isValid(at: now) {
            confirmedDeadline.withLockedValue { $0 = known.deadline }
            hooks.renew(known.deadline)
            return
        }
        let reason: String
        if let known = s.known {
            reason = known.term != term ? "the lease now belongs to term \(known.term.rawValue), not \(term.rawValue)"
                : "the lease lapsed \((now - known.deadline).nanoseconds / 1_000_000) ms ago"
        } else {
            reason = "this node holds no lease"
        }
        let signalled = fenceNow()
        fenceCount.withLockedValue { $0 += 1 }
        disarmOnLoop()
        logger.critical("fenced Postgres: stopped it immediately because it may no longer accept writes",
                        metadata: ["reason": "\(reason)", "raft.term": "\(term.rawValue)", "postgres.signalled": "\(signalled)"])
        onFenced(reason)
    }
}
