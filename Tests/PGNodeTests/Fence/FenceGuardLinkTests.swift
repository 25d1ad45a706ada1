#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOCore
import Testing
@testable import PGNode

/// `FenceGuardLink` driving the real `pgha guard`.
@Suite(.serialized, .enabled(if: pghaBinary != nil, "the pgha binary is not built (run `swift build` first)"))
struct FenceGuardLinkTests {
    func makeLink(_ log: GuardLogFile, logs: CapturedLogs = CapturedLogs()) -> FenceGuardLink {
        let handle = log.handle()
        return FenceGuardLink(executable: pghaBinary!, arguments: ["guard", "--expect-command", "sleep"], logger: logs.logger(),
                              restartInterval: .milliseconds(200), standardError: { handle })
    }

    /// A started link and a `sleep` child standing in for the postmaster.
    struct Rig {
        let children: TestChildren
        let log: GuardLogFile
        let sleeper: Process
        let link: FenceGuardLink
    }

    func startRig() throws -> Rig {
        let children = TestChildren()
        let log = GuardLogFile()
        do {
            let sleeper = try children.sleeper()
            let link = makeLink(log)
            try link.start()
            return Rig(children: children, log: log, sleeper: sleeper, link: link)
        } catch {
            children.killAll()
            log.remove()
            throw error
        }
    }

    /// Undoes `startRig()`: the link and its guard, the log, the children.
    func close(_ rig: Rig) {
        cleanUp(rig.link)
        rig.log.remove()
        rig.children.killAll()
    }

    /// Kills the link's guard by pid if it still runs (the link itself is stopped first).
    func cleanUp(_ link: FenceGuardLink) {
        let pid = link.guardPID
        link.disarm()
        link.stop()
        if let pid, ProcessIdentity.of(pid: pid, expected: "pgha") == .matches { kill(pid, SIGKILL) }
    }

    @Test func armedAndNotRenewedTheLinksGuardFencesAtTheLeaseDeadline() async throws {
        let rig = try startRig()
        defer { close(rig) }
        let (log, sleeper, link) = (rig.log, rig.sleeper, rig.link)
        let deadline = NIODeadline.now() + .milliseconds(300)
        link.arm(pid: sleeper.processIdentifier, deadline: deadline)
        let target = MonotonicInstant(deadline)
        let watch = await Watch.pid(sleeper.processIdentifier, until: target.advanced(by: .seconds(2)))
        let late = try #require(watch.goneMilliseconds(after: target), "not fenced; guard log:\n\(log.text)")
        #expect((0...200).contains(late), "gone \(late) ms after the deadline")
    }

    @Test func renewedItStaysUpAndAfterDisarmAStopLeavesPostgresRunning() async throws {
        let rig = try startRig()
        defer { close(rig) }
        let (log, sleeper, link) = (rig.log, rig.sleeper, rig.link)
        link.arm(pid: sleeper.processIdentifier, deadline: .now() + .milliseconds(300))
        for _ in 0..<20 {
            try await Task.sleep(for: .milliseconds(50))
            link.renew(deadline: .now() + .milliseconds(300))
        }
        #expect(!isGone(sleeper.processIdentifier), "guard log:\n\(log.text)")
        link.disarm()
        let guardPID = try #require(link.guardPID)
        link.stop()
        #expect(ProcessIdentity.of(pid: guardPID, expected: "pgha") != .matches, "stop() returned before the guard exited")
        try await Task.sleep(for: .milliseconds(500))
        #expect(!isGone(sleeper.processIdentifier), "guard log:\n\(log.text)")
    }

    @Test func stopWhileArmedFencesAtOnce() async throws {
        let rig = try startRig()
        defer { close(rig) }
        let (log, sleeper, link) = (rig.log, rig.sleeper, rig.link)
        link.arm(pid: sleeper.processIdentifier, deadline: .now() + .seconds(60))
        try await Task.sleep(for: .milliseconds(100))
        let stopped = MonotonicInstant.now()
        link.stop()
        let watch = await Watch.pid(sleeper.processIdentifier, until: stopped.advanced(by: .seconds(2)))
        let after = try #require(watch.goneMilliseconds(after: stopped), "guard log:\n\(log.text)")
        #expect(after <= 200)
    }

    @Test func aKilledGuardIsRestartedAndReArmed() async throws {
        let rig = try startRig()
        defer { close(rig) }
        let (log, sleeper, link) = (rig.log, rig.sleeper, rig.link)
        link.arm(pid: sleeper.processIdentifier, deadline: .now() + .milliseconds(300))
        let first = try #require(link.guardPID)
        try await Task.sleep(for: .milliseconds(100))
        kill(first, SIGKILL)
        // Keep renewing as the lease timer would, until a new guard runs.
        var second: Int32?
        for _ in 0..<60 where second == nil {
            try await Task.sleep(for: .milliseconds(50))
            link.renew(deadline: .now() + .milliseconds(300))
            if let pid = link.guardPID, pid != first { second = pid }
        }
        let restarted = try #require(second, "no new guard within 3 s")
        for _ in 0..<4 {
            try await Task.sleep(for: .milliseconds(50))
            link.renew(deadline: .now() + .milliseconds(300))
        }
        #expect(!isGone(sleeper.processIdentifier), "guard log:\n\(log.text)")
        #expect(ProcessIdentity.of(pid: restarted, expected: "pgha") == .matches)
        // The new guard was armed: when renewals stop, it fences.
        let deadline = NIODeadline.now() + .milliseconds(200)
        link.renew(deadline: deadline)
        let target = MonotonicInstant(deadline)
        let watch = await Watch.pid(sleeper.processIdentifier, until: target.advanced(by: .seconds(2)))
        let late = try #require(watch.goneMilliseconds(after: target), "the restarted guard did not fence; log:\n\(log.text)")
        #expect((0...200).contains(late))
    }

    @Test func aGuardThatKeepsDyingIsRestartedAtMostOncePerInterval() async throws {
        let logs = CapturedLogs()
        let link = FenceGuardLink(executable: "/bin/false", arguments: [], logger: logs.logger(),
                                  restartInterval: .milliseconds(200), standardError: nil)
        try link.start()
        let end = ContinuousClock.now + .seconds(1)
        while ContinuousClock.now < end {
            link.renew(deadline: .now() + .seconds(1))  // unarmed: warns, rate-limited
            link.arm(pid: 999_999, deadline: .now() + .seconds(1))
            try await Task.sleep(for: .milliseconds(20))
        }
        link.stop()
        try await Task.sleep(for: .milliseconds(100))  // a restart already spawning when stop() ran finishes its log line
        let restarts = logs.lines.filter { $0.message == "fence guard restarted" }.count
        #expect((2...6).contains(restarts), "\(restarts) restarts in 1 s with a 200 ms interval")
        #expect(logs.lines.contains { $0.level == .error && $0.message.contains("fence guard") })
        try await Task.sleep(for: .milliseconds(500))
        #expect(logs.lines.filter { $0.message == "fence guard restarted" }.count == restarts, "restarted after stop")
    }

    @Test func ownExecutableIsThisProcessesBinary() throws {
        let path = try #require(FenceGuardLink.ownExecutable())
        #expect(path.hasPrefix("/") && FileManager.default.isExecutableFile(atPath: path))
    }

    @Test func aMissingExecutableFailsToStartWithAClearError() {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let link = FenceGuardLink(executable: "/nonexistent/pgha", logger: logger)
        #expect {
            try link.start()
        } throws: { error in
            guard let e = error as? FenceGuardLinkError, case .cannotStart = e else { return false }
            return "\(e)".contains("/nonexistent/pgha") && "\(e)".contains("executable")
        }
        // Commands without a guard neither block nor crash.
        link.arm(pid: 12345, deadline: .now() + .seconds(1))
        link.renew(deadline: .now() + .seconds(1))
        link.disarm()
        link.stop()
    }

    @Test func commandsNeverBlockEvenWhenTheGuardStopsReading() async throws {
        let children = TestChildren()
        defer { children.killAll() }
        let log = GuardLogFile()
        defer { log.remove() }
        let link = makeLink(log)
        defer { cleanUp(link) }
        try link.start()
        let pid = try #require(link.guardPID)
        kill(pid, SIGSTOP)  // a stuck guard: the pipe fills up
        defer { kill(pid, SIGCONT) }
        let clock = ContinuousClock()
        var slowest = Duration.zero
        for i in 0..<5000 {  // about 150 KB of lines: more than a pipe holds
            let t = clock.now
            if i == 0 { link.arm(pid: 999_999, deadline: .now() + .seconds(60)) } else { link.renew(deadline: .now() + .seconds(60)) }
            slowest = max(slowest, clock.now - t)
        }
        #expect(slowest < .milliseconds(50), "a command took \(slowest)")
        kill(pid, SIGCONT)
    }
}
