import ArgumentParser
import Foundation
import Glibc
import PGNode

/// `pgha guard`: the fence guard, a small process of its own that the agent starts and feeds
/// (through `FenceGuardLink`) with its leader lease's deadline on stdin. If the deadline passes
/// unrenewed — the agent is frozen (SIGSTOP, a long stall) and cannot fence by itself — it stops
/// the postmaster (SIGQUIT, then SIGKILL after 1 s); if stdin closes while armed (the agent died),
/// it does so at once and exits.
///
/// Guarantees: it waits with `poll()` on stdin with a timeout computed from the deadline and
/// `CLOCK_MONOTONIC` (no Swift concurrency, no timers that a stalled loop could delay); it signals
/// a pid only while `/proc` says it runs `--expect-command`; it logs what it did to stderr with a
/// timestamp; malformed input is logged and ignored. The protocol is `FenceGuardCommand`'s; the
/// decisions are `FenceGuard`'s.
struct GuardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guard",
        abstract: "For the agent's internal use: the fence guard that stops Postgres when the agent's lease deadline passes unrenewed.",
        discussion: """
        Reads `arm <postmaster-pid> <deadline-ns>`, `arm-datadir <deadline-ns>` (with --data-dir), \
        `renew <deadline-ns>` and `disarm` lines on \
        stdin (deadlines are absolute CLOCK_MONOTONIC nanoseconds). Started by `pgha run`; not \
        meant to be run by hand except for tests.
        """
    )

    @Option(name: .customLong("data-dir"),
            help: "The Postgres data directory, for `arm-datadir` (the postmaster its postmaster.pid names).")
    var dataDirectory: String?

    @Option(name: .customLong("expect-command"),
            help: "Signal a pid only while its /proc comm or argv[0] names this program.")
    var expectCommand = "postgres"

    func validate() throws {
        if expectCommand.isEmpty || expectCommand.contains("/") {
            throw ValidationError("--expect-command must be a program name without '/', got '\(expectCommand)'")
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)  // a closed stderr must not kill the guard
        var runner = GuardLoop(expectCommand: expectCommand, dataDirectory: dataDirectory)
        Glibc.exit(runner.run())
    }
}

/// The guard's poll loop: reads stdin, feeds `FenceGuard`, performs its effects.
struct GuardLoop {
    let expectCommand: String
    /// Where `arm-datadir` looks for the postmaster (`<dir>/postmaster.pid`).
    let dataDirectory: String?
    var state = FenceGuard()
    var lines = FenceGuardLineBuffer()
    var inputOpen = true
    let me = getpid()

    init(expectCommand: String, dataDirectory: String? = nil) {
        self.expectCommand = expectCommand
        self.dataDirectory = dataDirectory
    }

    /// Runs until `FenceGuard` says to exit; returns the exit status.
    mutating func run() -> Int32 {
        log("started (pid \(me)); signals only processes named '\(expectCommand)'")
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var now = MonotonicInstant.now()
            if let status = perform(state.step(.tick, at: now)) { return status }
            if let status = watchDataDirectory(at: now) { return status }
            for pid in state.watchedPIDs where ProcessIdentity.of(pid: pid, expected: expectCommand) != .matches {
                if let status = perform(state.step(.processGone(pid: pid), at: now)) { return status }
            }
            var pfd = pollfd(fd: inputOpen ? STDIN_FILENO : -1, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, timeoutMilliseconds(now: now))
            if ready < 0 {
                if errno == EINTR { continue }
                log("poll failed (\(String(cString: strerror(errno)))); treating stdin as closed")
                if let status = endOfInput(at: .now()) { return status }
                continue
            }
            guard ready > 0, pfd.revents != 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            now = MonotonicInstant.now()
            if n > 0 {
                for piece in lines.append(buffer.prefix(n)) {
                    let input = input(for: piece)
                    if let status = perform(state.step(input, at: now)) { return status }
                    if case .command(.arm(let pid, _)) = input { checkArmed(pid) }
                    if case .command(.armDataDirectory) = input, dataDirectory == nil {
                        log("warning: arm-datadir without --data-dir: no postmaster can be found to watch or fence")
                    }
                    if let status = watchDataDirectory(at: now) { return status }
                }
            } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                if n < 0 { log("reading stdin failed (\(String(cString: strerror(errno)))); treating it as closed") }
                if let status = endOfInput(at: now) { return status }
            }
        }
    }

    /// While armed for the data directory: the live postmaster its `postmaster.pid` names (the
    /// first line), if any, goes to the state machine.
    private mutating func watchDataDirectory(at now: MonotonicInstant) -> Int32? {
        guard state.watchesDataDirectory, let dataDirectory,
              let pid = Self.postmasterPID(inDataDirectory: dataDirectory),
              ProcessIdentity.of(pid: pid, expected: expectCommand) == .matches else { return nil }
        return perform(state.step(.dataDirectoryPostmaster(pid: pid), at: now))
    }

    /// The pid on the first line of `<dir>/postmaster.pid`, if the file exists and holds one.
    static func postmasterPID(inDataDirectory dir: String) -> Int32? {
        guard let text = try? String(contentsOfFile: dir + "/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n", maxSplits: 1).first,
              let pid = Int32(first.trimmingCharacters(in: .whitespaces)), pid > 1 else { return nil }
        return pid
    }

    /// Warns at once when the agent arms for a pid the guard would not signal.
    private func checkArmed(_ pid: Int32) {
        guard case .armed(pid, _) = state.phase else { return }
        switch ProcessIdentity.of(pid: pid, expected: expectCommand) {
        case .matches: break
        case .gone: log("warning: armed for \(pid), which does not exist: it cannot be fenced")
        case .different(let name):
            log("warning: armed for \(pid), which runs '\(name)', not '\(expectCommand)': it will not be signalled")
        }
    }

    private mutating func endOfInput(at now: MonotonicInstant) -> Int32? {
        inputOpen = false
        for piece in lines.finish() {
            if let status = perform(state.step(input(for: piece), at: now)) { return status }
        }
        return perform(state.step(.endOfInput, at: now))
    }

    private func input(for piece: FenceGuardLineBuffer.Piece) -> FenceGuard.Input {
        switch piece {
        case .line(let text):
            switch FenceGuardCommand.parse(text) {
            case .success(let command): .command(command)
            case .failure(let error): .malformed(error)
            }
        case .tooLong(let n): .malformed(.tooLong(length: n))
        case .unterminated(let n): .malformed(.unterminated(length: n))
        }
    }

    /// The poll timeout: until the next wakeup, rounded up to whole milliseconds (so the loop
    /// never wakes just before a deadline and spins), or -1 (wait for input only).
    private func timeoutMilliseconds(now: MonotonicInstant) -> Int32 {
        guard let wake = state.nextWakeup(after: now) else { return -1 }
        guard wake > now else { return 0 }
        let ns = wake.nanoseconds - now.nanoseconds
        return Int32(clamping: (ns + 999_999) / 1_000_000)
    }

    /// Performs effects; returns an exit status if one of them was `.exit`.
    private func perform(_ effects: [FenceGuard.Effect]) -> Int32? {
        for effect in effects {
            switch effect {
            case .log(let line):
                log(line)
            case .signal(let pid, let signal):
                send(signal, to: pid)
            case .exit(let status):
                return status
            }
        }
        return nil
    }

    private func send(_ signal: FenceGuard.Signal, to pid: Int32) {
        let (number, name) = signal == .quit ? (SIGQUIT, "SIGQUIT") : (SIGKILL, "SIGKILL")
        switch ProcessIdentity.of(pid: pid, expected: expectCommand) {
        case .matches:
            if kill(pid, number) == 0 {
                log("sent \(name) to \(pid) (\(expectCommand))")
            } else {
                log("could not send \(name) to \(pid): \(String(cString: strerror(errno)))")
            }
        case .gone:
            log("not signalling \(pid) with \(name): it has already exited")
        case .different(let name2):
            log("not signalling \(pid) with \(name): it runs '\(name2)', not '\(expectCommand)' (a reused pid?)")
        }
    }

    private func log(_ line: String) {
        let text = "\(Self.timestamp()) pgha guard[\(me)]: \(line)\n"
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Wall-clock time, UTC, to the millisecond: `2025-01-31T12:34:56.789Z`.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var seconds = ts.tv_sec
        var t = tm()
        gmtime_r(&seconds, &t)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(t.tm_year + 1900, 4))-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T"
            + "\(pad(t.tm_hour, 2)):\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}
