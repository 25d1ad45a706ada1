#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import PGNode

/// Processes a test started; `killAll()` (call it in a `defer`) SIGKILLs, by pid, those still
/// running, so a failing test leaves nothing behind. Only processes Foundation has not reaped
/// yet are signalled, so a reused pid is never hit.
final class TestChildren: Sendable {
    private let processes = NIOLockedValueBox<[ProcessBox]>([])

    struct ProcessBox: @unchecked Sendable { let process: Process }

    /// Starts `path` with `arguments`; stdin and stderr as given (else inherited).
    @discardableResult
    func spawn(_ path: String, _ arguments: [String], stdin: Pipe? = nil, stderr: FileHandle? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        if let stdin { p.standardInput = stdin }
        if let stderr { p.standardError = stderr }
        try p.run()
        processes.withLockedValue { $0.append(ProcessBox(process: p)) }
        return p
    }

    /// A `sleep 60` standing in for a postmaster, with SIGQUIT at its default action (`swift test`
    /// ignores SIGQUIT, and children inherit that; a real postmaster installs its own handler).
    /// Returns once the pid runs `sleep` (it starts as `env`).
    func sleeper() throws -> Process {
        let p = FileManager.default.isExecutableFile(atPath: "/usr/bin/env")
            ? try spawn("/usr/bin/env", ["--default-signal=QUIT", Self.sleepPath, "60"])
            : try spawn(Self.sleepPath, ["60"])
        for _ in 0..<400 where ProcessIdentity.of(pid: p.processIdentifier, expected: "sleep") != .matches {
            usleep(5_000)
        }
        return p
    }

    func killAll() {
        for box in processes.withLockedValue({ $0 }) where box.process.isRunning {
            kill(box.process.processIdentifier, SIGKILL)
        }
    }

    static let sleepPath = ["/usr/bin/sleep", "/bin/sleep"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/bin/sleep"
}

/// Whether `pid` no longer runs `sleep` (exited, zombie, or gone).
func isGone(_ pid: Int32, expected: String = "sleep") -> Bool {
    ProcessIdentity.of(pid: pid, expected: expected) != .matches
}

/// A temporary file the guard logs into.
struct GuardLogFile {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("pgha-guard-\(UUID().uuidString).log").path

    func handle() -> FileHandle {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return FileHandle(forWritingAtPath: path)!
    }

    var text: String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// `pgha guard --expect-command …` started by a test, fed through a pipe.
struct GuardUnderTest {
    let process: Process
    let stdin: Pipe
    let log: GuardLogFile

    static func start(_ children: TestChildren, expect: String = "sleep") throws -> GuardUnderTest {
        let pipe = Pipe()
        let log = GuardLogFile()
        let p = try children.spawn(pghaBinary!, ["guard", "--expect-command", expect], stdin: pipe, stderr: log.handle())
        return GuardUnderTest(process: p, stdin: pipe, log: log)
    }

    /// Writes raw bytes (no newline added); never throws or traps.
    func write(_ bytes: [UInt8]) {
        let fd = stdin.fileHandleForWriting.fileDescriptor
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 { return }
            offset += n
        }
    }

    func send(_ line: String) { write(Array((line + "\n").utf8)) }
    func send(_ command: FenceGuardCommand) { send(command.line) }

    /// Arms the guard for `pid` with a deadline `deadlineIn` from now; returns the deadline.
    func arm(_ pid: Int32, deadlineIn: Duration) -> MonotonicInstant {
        let deadline = MonotonicInstant.now().advanced(by: deadlineIn)
        send(.arm(pid: pid, deadline: deadline))
        return deadline
    }

    func closeInput() { try? stdin.fileHandleForWriting.close() }
}

/// Observations of whether a pid is gone, each stamped so that it proves something:
/// `aliveAt` is taken before a check that found it alive, `goneBy` after one that found it gone.
struct Watch {
    var aliveAt: [MonotonicInstant] = []
    var goneBy: MonotonicInstant?

    /// Polls every 5 ms until `pid` is gone or `until` passes.
    static func pid(_ pid: Int32, until: MonotonicInstant, expected: String = "sleep") async -> Watch {
        var w = Watch()
        while true {
            let before = MonotonicInstant.now()
            let gone = isGone(pid, expected: expected)
            let after = MonotonicInstant.now()
            if gone {
                w.goneBy = after
                return w
            }
            w.aliveAt.append(before)
            if after >= until { return w }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Milliseconds from `instant` to when it was seen gone (negative: gone before it).
    func goneMilliseconds(after instant: MonotonicInstant) -> Int64? {
        goneBy.map { $0.duration(since: instant).milliseconds }
    }
}
