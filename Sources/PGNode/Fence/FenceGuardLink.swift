#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The agent's end of the fence guard: starts `pgha guard` as a child process and feeds it the
/// lease's deadline through a pipe on its stdin (`FenceGuardCommand` lines).
///
/// Guarantees:
/// - **Never blocks the caller.** `arm`, `renew` and `disarm` do one non-blocking `write()` of a
///   line shorter than `PIPE_BUF` (so it is written whole or not at all) under a lock that is
///   otherwise held only for as long; they are safe to call from the lease timer. Spawning and
///   restarting happen on a private queue.
/// - **Lost lines err on the side of fencing.** If a line cannot be written (the pipe is full
///   because the guard is stuck, or the guard is gone), the next command re-sends the whole state
///   (`arm` with the current pid and deadline, or `disarm`) instead of a bare `renew`. A lost
///   `renew` makes the guard fence at the old deadline; a lost `disarm` can at worst fence a
///   postmaster the agent was stopping anyway.
/// - **A dead guard is replaced.** When the guard exits or a write finds it gone, it is
///   restarted (at most once per `restartInterval`) with an error in the log, and re-armed with
///   the current state as soon as it runs — with the deadline as it stands, so a deadline that
///   passed meanwhile fences at once.
/// - **Deadlines are converted exactly**: `NIODeadline` to `CLOCK_MONOTONIC` via `MonotonicInstant`.
/// - The pipe's write end is close-on-exec, so no other child (a postmaster, a restarted guard)
///   inherits it: when the agent dies, the guard sees end of input at once and fences if armed.
///
/// `start()` sets SIGPIPE to ignored for the whole process (writes to a dead guard then fail with
/// EPIPE instead of killing the agent). `stop()` closes the pipe: a guard that is still armed then
/// fences its postmaster at once, as it would if the agent died. Call `disarm()` first for a clean
/// shutdown. The guard inherits the agent's stderr and logs there.
public final class FenceGuardLink: Sendable {
    private enum Desired: Equatable, Sendable {
        case disarmed
        case armed(pid: Int32, deadline: MonotonicInstant)
        case armedDataDirectory(deadline: MonotonicInstant)

        /// The command that restores this whole state in a guard (nil: a fresh guard has it).
        var command: FenceGuardCommand? {
            switch self {
            case .disarmed: nil
            case .armed(let pid, let deadline): .arm(pid: pid, deadline: deadline)
            case .armedDataDirectory(let deadline): .armDataDirectory(deadline: deadline)
            }
        }

        /// The same arming with another deadline (nil while disarmed).
        func renewed(until deadline: MonotonicInstant) -> Desired? {
            switch self {
            case .disarmed: nil
            case .armed(let pid, _): .armed(pid: pid, deadline: deadline)
            case .armedDataDirectory: .armedDataDirectory(deadline: deadline)
            }
        }
    }

    /// The running guard. `Process` is used only through thread-safe reads (`isRunning`,
    /// `processIdentifier`) after `run()`, and the pipe only under the state lock.
    private struct Child: @unchecked Sendable {
        let process: Process
        let pipe: Pipe
        let writeFD: Int32
        let generation: Int
    }

    private struct State: Sendable {
        var desired = Desired.disarmed
        var child: Child?
        var inSync = false
        var started = false
        var stopped = false
        var restartScheduled = false
        var lastSpawn: NIODeadline?
        var generation = 0
        /// A guard that exited before it was installed (it died right after spawning).
        var exitedBeforeInstall: Int?
    }

    private enum WriteOutcome {
        case written
        case pipeFull
        case guardGone(pid: Int32, error: String)
        case noGuard
    }

    /// The binary started as the guard.
    public let executable: String
    /// Its arguments.
    public let arguments: [String]
    /// The least time between two starts of the guard.
    let restartInterval: TimeAmount
    private let standardError: (@Sendable () -> FileHandle?)?
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    private let queue = DispatchQueue(label: "pgha.fence-guard-link")
    private let logLimiter = LogRateLimiter(interval: .seconds(1))

    /// - Parameters:
    ///   - executable: the `pgha` binary (usually the agent's own executable).
    ///   - arguments: its arguments; `["guard"]`, plus `--expect-command NAME` in tests.
    ///   - logger: where the link logs errors (the guard itself logs to the inherited stderr).
    public convenience init(executable: String, arguments: [String] = ["guard"], logger: Logger) {
        self.init(executable: executable, arguments: arguments, logger: logger, restartInterval: .seconds(1), standardError: nil)
    }

    /// For tests: a shorter restart interval, and the guard's stderr redirected.
    init(executable: String, arguments: [String], logger: Logger, restartInterval: TimeAmount,
         standardError: (@Sendable () -> FileHandle?)?) {
        self.executable = executable
        self.arguments = arguments
        self.logger = logger
        self.restartInterval = restartInterval
        self.standardError = standardError
    }

    /// Starts the guard (disarmed). Throws if it cannot be spawned; the message names the
    /// executable and what to check. Calling it again while running does nothing.
    public func start() throws {
        signal(SIGPIPE, SIG_IGN)
        let generation: Int = try state.withLockedValue { s in
            if s.stopped { throw FenceGuardLinkError.stopped }
            if s.started { return 0 }
            s.started = true
            s.generation += 1
            s.lastSpawn = .now()
            return s.generation
        }
        guard generation > 0 else { return }
        let child: Child
        do {
            child = try spawn(generation: generation)
        } catch {
            state.withLockedValue { $0.started = false }
            throw error
        }
        if install(child) {
            logger.info("fence guard started", metadata: ["pid": "\(child.process.processIdentifier)"])
        }
    }

    /// Tells the guard to fence `pid` when `deadline` passes unrenewed.
    public func arm(pid: Int32, deadline: NIODeadline) {
        let instant = MonotonicInstant(deadline)
        deliver { s in
            s.desired = .armed(pid: pid, deadline: instant)
            return .arm(pid: pid, deadline: instant)
        }
    }

    /// Tells the guard that a postmaster is about to be started as primary, its pid not known
    /// yet: it watches the postmaster the data directory's `postmaster.pid` names (the guard runs
    /// with `--data-dir`), and past `deadline` unrenewed fences every postmaster there until the
    /// next `arm`, `armDataDirectory` or `disarm`. Call `arm(pid:deadline:)` once the pid is known.
    public func armDataDirectory(deadline: NIODeadline) {
        let instant = MonotonicInstant(deadline)
        deliver { s in
            s.desired = .armedDataDirectory(deadline: instant)
            return .armDataDirectory(deadline: instant)
        }
    }

    /// Moves the deadline of the armed guard (earlier or later). Without a preceding `arm` or
    /// `armDataDirectory` it does nothing but log a warning: the link does not know what to watch.
    public func renew(deadline: NIODeadline) {
        let instant = MonotonicInstant(deadline)
        var unarmed = false
        deliver { s in
            guard let next = s.desired.renewed(until: instant) else {
                unarmed = true
                return nil
            }
            s.desired = next
            return s.inSync ? .renew(deadline: instant) : next.command
        }
        if unarmed, case .log = logLimiter.admit("renew-unarmed") {
            logger.warning("fence guard renew without arm ignored: call arm(pid:deadline:) when the postmaster starts as primary")
        }
    }

    /// Tells the guard to stop watching (the agent demoted or stopped its Postgres itself).
    public func disarm() {
        deliver { s in
            s.desired = .disarmed
            return .disarm
        }
    }

    /// Closes the guard's stdin and waits up to 3 s for it to exit; no restarts afterwards, and
    /// later commands are ignored. A guard still armed fences its postmaster at once. Blocks:
    /// not for the lease timer.
    public func stop() {
        let child: Child? = state.withLockedValue { s in
            s.stopped = true
            defer { s.child = nil }
            return s.child
        }
        guard let child else { return }
        try? child.pipe.fileHandleForWriting.close()
        let end = NIODeadline.now() + .seconds(3)
        while child.process.isRunning && NIODeadline.now() < end { usleep(5_000) }
        if child.process.isRunning {
            logger.warning("fence guard did not exit within 3 s of stop; leaving it to finish",
                           metadata: ["pid": "\(child.process.processIdentifier)"])
        }
    }

    /// The path of the running executable (`/proc/self/exe` resolved), to pass as `executable`
    /// so that the agent starts its own binary as the guard; nil if it cannot be read.
    public static func ownExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The running guard's pid, if one runs (for status and tests).
    public var guardPID: Int32? {
        state.withLockedValue { $0.child?.process.processIdentifier }
    }

    // MARK: - Writing

    /// Updates the desired state and writes the command `update` returns, without blocking.
    private func deliver(_ update: (inout State) -> FenceGuardCommand?) {
        var scheduled = false
        let outcome: WriteOutcome? = state.withLockedValue { s in
            if s.stopped { return nil }
            guard let command = update(&s) else { return nil }
            let outcome = Self.write(command, in: &s)
            if case .guardGone = outcome { scheduled = scheduleRestart(&s) }
            return outcome
        }
        report(outcome, restartScheduled: scheduled)
    }

    private static func write(_ command: FenceGuardCommand, in s: inout State) -> WriteOutcome {
        guard let child = s.child else {
            s.inSync = false
            return .noGuard
        }
        let bytes = Array((command.line + "\n").utf8)
        var n: Int
        repeat {
            n = bytes.withUnsafeBytes { Glibc.write(child.writeFD, $0.baseAddress, $0.count) }
        } while n < 0 && errno == EINTR
        if n == bytes.count {
            s.inSync = true
            return .written
        }
        s.inSync = false
        let error = errno
        if n < 0 && (error == EAGAIN || error == EWOULDBLOCK) { return .pipeFull }
        // EPIPE (the guard is gone) or anything else: this pipe is of no more use.
        try? child.pipe.fileHandleForWriting.close()
        s.child = nil
        return .guardGone(pid: child.process.processIdentifier,
                          error: n < 0 ? String(cString: strerror(error)) : "short write of \(n) bytes")
    }

    private func report(_ outcome: WriteOutcome?, restartScheduled: Bool) {
        switch outcome {
        case nil, .written:
            break
        case .pipeFull:
            if case .log(let suppressed) = logLimiter.admit("pipe-full") {
                logger.error("""
                    fence guard is not reading its input (pipe full): a line was dropped; \
                    it will fence at the last deadline it received unless it catches up
                    """,
                    metadata: ["suppressed": "\(suppressed)"])
            }
        case .guardGone(let pid, let error):
            logger.error("fence guard is gone (writing to it failed: \(error)); restarting it",
                         metadata: ["pid": "\(pid)", "restart": "\(restartScheduled ? "scheduled" : "already pending")"])
        case .noGuard:
            if case .log(let suppressed) = logLimiter.admit("no-guard") {
                logger.error("no fence guard is running (not started, or restarting): Postgres is not guarded right now",
                             metadata: ["suppressed": "\(suppressed)"])
            }
        }
    }

    // MARK: - Lifecycle

    private func spawn(generation: Int) throws -> Child {
        let pipe = Pipe()
        let writeFD = pipe.fileHandleForWriting.fileDescriptor
        let readFD = pipe.fileHandleForReading.fileDescriptor
        _ = fcntl(writeFD, F_SETFD, FD_CLOEXEC)
        _ = fcntl(readFD, F_SETFD, FD_CLOEXEC)  // the child's stdin is a dup2 of it, without the flag
        _ = fcntl(writeFD, F_SETFL, fcntl(writeFD, F_GETFL) | O_NONBLOCK)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = pipe
        if let handle = standardError?() { process.standardError = handle }
        process.terminationHandler = { [weak self] p in
            self?.guardExited(generation: generation, pid: p.processIdentifier, status: p.terminationStatus,
                              signalled: p.terminationReason == .uncaughtSignal)
        }
        do {
            try process.run()
        } catch {
            throw FenceGuardLinkError.cannotStart(executable: executable, reason: "\(error)")
        }
        return Child(process: process, pipe: pipe, writeFD: writeFD, generation: generation)
    }

    /// Makes `child` the running guard and sends it the current state. Returns false if the link
    /// was stopped meanwhile (the child's stdin is then closed, so it exits at once) or the child
    /// already died.
    @discardableResult
    private func install(_ child: Child) -> Bool {
        var scheduled = false
        let (outcome, stopped, desired): (WriteOutcome?, Bool, Desired) = state.withLockedValue { s in
            if s.stopped { return (nil, true, s.desired) }
            if s.exitedBeforeInstall == child.generation {
                scheduled = scheduleRestart(&s)
                return (.guardGone(pid: child.process.processIdentifier, error: "it exited right after starting"), false, s.desired)
            }
            s.child = child
            s.inSync = false
            guard let command = s.desired.command else {
                s.inSync = true  // a fresh guard is disarmed
                return (nil, false, s.desired)
            }
            let outcome = Self.write(command, in: &s)
            if case .guardGone = outcome { scheduled = scheduleRestart(&s) }
            return (outcome, false, s.desired)
        }
        if stopped {
            try? child.pipe.fileHandleForWriting.close()
            return false
        }
        if case .armed(let pid, _) = desired, case .written = outcome {
            logger.notice("fence guard armed for the current postmaster on start",
                          metadata: ["guard": "\(child.process.processIdentifier)", "postmaster": "\(pid)"])
        }
        report(outcome, restartScheduled: scheduled)
        if case .guardGone = outcome { return false }
        return true
    }

    private func guardExited(generation: Int, pid: Int32, status: Int32, signalled: Bool) {
        var scheduled = false
        let (current, stopped): (Bool, Bool) = state.withLockedValue { s in
            guard let child = s.child, child.generation == generation else {
                if generation == s.generation { s.exitedBeforeInstall = generation }
                return (generation == s.generation, s.stopped)
            }
            try? child.pipe.fileHandleForWriting.close()
            s.child = nil
            s.inSync = false
            if !s.stopped { scheduled = scheduleRestart(&s) }
            return (true, s.stopped)
        }
        let how = signalled ? "was killed by signal \(status)" : "exited with status \(status)"
        if stopped {
            logger.info("fence guard \(how)", metadata: ["pid": "\(pid)"])
        } else if current {
            logger.error("fence guard \(how) while the agent runs; restarting it",
                         metadata: ["pid": "\(pid)", "restart": "\(scheduled ? "scheduled" : "already pending")"])
        }
    }

    /// Schedules one restart, no sooner than `restartInterval` after the last start. Returns
    /// whether it scheduled one (false if one is pending already or the link is stopped).
    private func scheduleRestart(_ s: inout State) -> Bool {
        guard !s.stopped, s.started, !s.restartScheduled else { return false }
        s.restartScheduled = true
        let earliest = (s.lastSpawn ?? .distantPast) + restartInterval
        let delay = max(.zero, earliest - NIODeadline.now())
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(delay.nanoseconds))) { [weak self] in self?.restart() }
        return true
    }

    private func restart() {
        let generation: Int? = state.withLockedValue { s in
            s.restartScheduled = false
            guard !s.stopped, s.child == nil else { return nil }
            s.generation += 1
            s.lastSpawn = .now()
            return s.generation
        }
        guard let generation else { return }
        do {
            let child = try spawn(generation: generation)
            if install(child) {
                logger.error("fence guard restarted", metadata: ["pid": "\(child.process.processIdentifier)"])
            }
        } catch {
            logger.error("fence guard could not be restarted: \(error); retrying")
            _ = state.withLockedValue { scheduleRestart(&$0) }
        }
    }
}

/// Why the fence guard could not be started.
public enum FenceGuardLinkError: Error, Hashable, Sendable, CustomStringConvertible {
    case cannotStart(executable: String, reason: String)
    case stopped

    public var description: String {
        switch self {
        case .cannotStart(let exe, let reason):
            "cannot start the fence guard '\(exe) guard': \(reason). Check that the pgha binary exists at that path and is executable."
        case .stopped:
            "this fence guard link was stopped; create a new FenceGuardLink to start another guard"
        }
    }
}
