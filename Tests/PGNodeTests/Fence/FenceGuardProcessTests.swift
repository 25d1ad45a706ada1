#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import PGNode

/// The real `pgha guard` process, with `sleep 60` children standing in for postmasters.
@Suite(.serialized, .enabled(if: pghaBinary != nil, "the pgha binary is not built (run `swift build` first)"))
struct FenceGuardProcessTests {
    @Test func anUnrenewedDeadlineFencesOnTimeAndNotBefore() async throws {
        let children = TestChildren()
        defer { children.killAll() }
        let sleeper = try children.sleeper()
        let guardProcess = try GuardUnderTest.start(children)
        defer { guardProcess.log.remove() }
        let deadline = guardProcess.arm(sleeper.processIdentifier, deadlineIn: .milliseconds(300))

        let watch = await Watch.pid(sleeper.processIdentifier, until: deadline.advanced(by: .seconds(2)))
        let late = try #require(watch.goneMilliseconds(after: deadline), "still alive 2 s after the deadline; log:\n\(guardProcess.log.text)")
        #expect(late >= 0, "gone \(-late) ms before the deadline")
        #expect(late <= 200, "gone only \(late) ms after the deadline")
        #expect(watch.aliveAt.contains { $0.duration(since: deadline) > .milliseconds(-50) }, "not observed alive just before the deadline")
        // Foundation notices the exit a moment after the pid is gone; reading terminationReason
        // before that traps.
        let exited = await eventually(.seconds(2)) { sleeper.isRunning ? nil : true }
        #expect(exited == true, "the fenced child was not reaped")
        if exited == true { #expect(sleeper.terminationReason == .uncaughtSignal) }
        #expect(guardProcess.log.text.contains("sent SIGQUIT to \(sleeper.processIdentifier)"))
        #expect(guardProcess.process.isRunning, "the guard keeps running after a fence while its input is open")
    }

    @Test func renewalsKeepItAliveAndDisarmStopsWatching() async throws {
        let children = TestChildren()
        defer { children.killAll() }
        let sleeper = try children.sleeper()
        let guardProcess = try GuardUnderTest.start(children)
        defer { guardProcess.log.remove() }
        var deadline = MonotonicInstant.now().advanced(by: .milliseconds(300))
        guardProcess.send(.arm(pid: sleeper.processIdentifier, deadline: deadline))
        let end = MonotonicInstant.now().advanced(by: .milliseconds(1500))
        while MonotonicInstant.now() < end {
            try await Task.sleep(for: .milliseconds(50))
            deadline = MonotonicInstant.now().advanced(by: .milliseconds(300))
            guardProcess.send(.renew(deadline: deadline))
            #expect(!isGone(sleeper.processIdentifier), "fenced while renewed; log:\n\(guardProcess.log.text)")
        }
        guardProcess.send(.disarm)
        let watch = await Watch.pid(sleeper.processIdentifier, until: deadline.advanced(by: .milliseconds(400)))
        #expect(watch.goneBy == nil, "fenced after disarm; log:\n\(guardProcess.log.text)")
        #expect(guardProcess.log.text.contains("disarmed"))
    }

    @Test func closingItsInputWhileArmedFencesAtOnceAndExits() async throws {
        let children = TestChildren()
        defer { children.killAll() }
        let sleeper = try children.sleeper()
        let guardProcess = try GuardUnderTest.start(children)
        defer { guardProcess.log.remove() }
        guardProcess.send(.arm(pid: sleeper.processIdentifier, deadline: MonotonicInstant.now().advanced(by: .seconds(60))))
        try await Task.sleep(for: .milliseconds(100))  // let it read the arm line
        #expect(!isGone(sleeper.processIdentifier))
        let closed = MonotonicInstant.now()
        guardProcess.closeInput()
        let watch = await Watch.pid(sleeper.processIdentifier, until: closed.advanced(by: .seconds(2)))
        let after = try #require(watch.goneMilliseconds(after: closed), "still alive 2 s after end of input")
        #expect(after <= 200, "gone only \(after) ms after end of input")
        let exited = await eventually(.seconds(3)) { guardProcess.process.isRunning ? nil : true }
        #expect(exited == true, "log:\n\(guardProcess.log.text)")
        if exited == true { #expect(guardProcess.process.terminationStatus == 0, "log:\n\(guardProcess.log.text)") }
    }

    @Test func closingItsInputWhileDisarmedExitsWithoutSignalling() async throws {
        let children = TestChildren()
        defer { children.killAll() }
        let sleeper = try children.sleeper()
        let guardProcess = try GuardUnderTest.start(children)
        defer { guardProcess.log.remove() }
        guardProcess.send(.arm(pid: sleeper.processIdentifier, deadline: MonotonicInstant.now().advanced(by: .seconds(60))))
        guardProcess.send(.disarm)
        guardProcess.closeInput()
        let exited = await eventually(.seconds(3)) { guardProcess.process.isRunning ? nil : true }
        #expect(exited == true)
        if exited == true { #expect(guardProcess.process.terminationStatus == 0) }
        #expect(!isGone(sleeper.processIdentifier))
    }

    @Test func aPidRunningAnotherProgramIsNeverSignalled() async throws {
        let children = TestChildren()
        defer { children.killAll() }
        let catInput = Pipe()  // keeps `cat` running until the test ends
        let stranger = try children.spawn("/bin/cat", [], stdin: catInput)
        let guardProcess = try GuardUnderTest.start(children, expect: "sleep")
        defer { guardProcess.log.remove() }
        let deadline = guardProcess.arm(stranger.processIdentifier, deadlineIn: .milliseconds(100))
        // Past the deadline and the SIGKILL grace period.
        let watch = await Watch.pid(stranger.processIdentifier, until: deadline.advanced(by: .milliseconds(1400)), expected: "cat")
        #expect(watch.goneBy == nil, "a non-matching process was signalled; log:\n\(guardProcess.log.text)")
        #expect(stranger.isRunning)
        let log = guardProcess.log.text
        #expect(log.contains("not signalling \(stranger.processIdentifier)") && log.contains("'cat'"), "log:\n\(log)")
        #expect(!log.contains("sent SIG"))
        #expect(log.contains("warning: armed for \(stranger.processIdentifier), which runs 'cat'"), "no warning at arm time")
        try? catInput.fileHandleForWriting.close()
    }

    @Test func malformedInputIsLoggedAndChangesNothing() async throws {
        let children = TestChildren()
        defer { children.killAll() }
        let bystander = try children.sleeper()
        let sleeper = try children.sleeper()
        let guardProcess = try GuardUnderTest.start(children)
        defer { guardProcess.log.remove() }
        let soon = MonotonicInstant.now().advanced(by: .milliseconds(50)).nanoseconds
        for line in ["", "hello", "arm", "arm 0 \(soon)", "arm -1 \(soon)", "arm 1 \(soon)", "arm +\(bystander.processIdentifier) \(soon)",
                     "arm \(bystander.processIdentifier) -5", "arm \(bystander.processIdentifier) \(soon) extra",
                     "renew", "renew x", "disarm please", String(repeating: "arm ", count: 5000)] {
            guardProcess.send(line)
        }
        guardProcess.write((0...255).map { UInt8($0) } + [10])
        try await Task.sleep(for: .milliseconds(300))
        #expect(guardProcess.process.isRunning, "the guard died on bad input; log:\n\(guardProcess.log.text)")
        #expect(!isGone(bystander.processIdentifier), "bad input signalled a process")
        let log = guardProcess.log.text
        #expect(log.components(separatedBy: "ignored a malformed line").count - 1 >= 13, "log:\n\(log)")
        #expect(log.contains("longer than the 128 allowed"))

        // It still works.
        let deadline = guardProcess.arm(sleeper.processIdentifier, deadlineIn: .milliseconds(200))
        let watch = await Watch.pid(sleeper.processIdentifier, until: deadline.advanced(by: .seconds(2)))
        let late = try #require(watch.goneMilliseconds(after: deadline), "not fenced after bad input; log:\n\(guardProcess.log.text)")
        #expect((0...200).contains(late))
        #expect(!isGone(bystander.processIdentifier))
    }

    @Test func aPostmasterThatIgnoresSIGQUITGetsSIGKILLAfterOneSecond() async throws {
        let children = TestChildren()
        defer { children.killAll() }
        // An ignored signal stays ignored across exec: a `sleep` deaf to SIGQUIT.
        let stubborn = try children.spawn("/bin/sh", ["-c", "trap '' QUIT; exec \(TestChildren.sleepPath) 60"])
        let ready = await eventually(.seconds(3)) { ProcessIdentity.of(pid: stubborn.processIdentifier, expected: "sleep") == .matches ? true : nil }
        #expect(ready == true)
        let guardProcess = try GuardUnderTest.start(children)
        defer { guardProcess.log.remove() }
        let deadline = guardProcess.arm(stubborn.processIdentifier, deadlineIn: .milliseconds(200))
        let watch = await Watch.pid(stubborn.processIdentifier, until: deadline.advanced(by: .seconds(3)))
        let late = try #require(watch.goneMilliseconds(after: deadline), "never killed; log:\n\(guardProcess.log.text)")
        #expect(late >= 1000, "gone \(late) ms after the deadline: SIGQUIT should have been ignored")
        #expect(late <= 1250, "SIGKILL came \(late) ms after the deadline")
        #expect(guardProcess.log.text.contains("sent SIGKILL to \(stubborn.processIdentifier)"))
    }
}
