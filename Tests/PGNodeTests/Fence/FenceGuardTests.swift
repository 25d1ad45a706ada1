import Testing
@testable import PGNode

/// Milliseconds on a made-up monotonic clock.
private func at(_ ms: UInt64) -> MonotonicInstant { MonotonicInstant(nanoseconds: ms * 1_000_000) }

@Suite struct FenceGuardTests {
    typealias Input = FenceGuard.Input
    typealias Effect = FenceGuard.Effect

    static func arm(_ pid: Int32, _ deadlineMs: UInt64) -> Input { .command(.arm(pid: pid, deadline: at(deadlineMs))) }
    static func renew(_ deadlineMs: UInt64) -> Input { .command(.renew(deadline: at(deadlineMs))) }
    static func armDir(_ deadlineMs: UInt64) -> Input { .command(.armDataDirectory(deadline: at(deadlineMs))) }
    static func seen(_ pid: Int32) -> Input { .dataDirectoryPostmaster(pid: pid) }

    /// One scenario: inputs at times (ms), and every non-log effect expected, with its time.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var steps: [(UInt64, Input)]
        var expected: [(UInt64, Effect)]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "unrenewed deadline fences exactly at the deadline, not before",
             steps: [(0, arm(100, 300)), (299, .tick), (300, .tick), (301, .tick)],
             expected: [(300, .signal(pid: 100, .quit))]),
        Case(name: "a renewal before the deadline moves it",
             steps: [(0, arm(100, 300)), (250, renew(400)), (350, .tick), (399, .tick), (400, .tick)],
             expected: [(400, .signal(pid: 100, .quit))]),
        Case(name: "an earlier deadline is accepted (the lease is authoritative)",
             steps: [(0, arm(100, 500)), (100, renew(200)), (199, .tick), (200, .tick)],
             expected: [(200, .signal(pid: 100, .quit))]),
        Case(name: "a renewal carrying a past deadline fences at once",
             steps: [(0, arm(100, 500)), (100, renew(50))],
             expected: [(100, .signal(pid: 100, .quit))]),
        Case(name: "a renewal read after the deadline does not rescue it",
             steps: [(0, arm(100, 300)), (301, renew(600)), (700, .tick)],
             expected: [(301, .signal(pid: 100, .quit))]),
        Case(name: "arm with a deadline already past fences at once",
             steps: [(10, arm(100, 5))],
             expected: [(10, .signal(pid: 100, .quit))]),
        Case(name: "disarm before the deadline: nothing happens",
             steps: [(0, arm(100, 300)), (200, .command(.disarm)), (1000, .tick), (5000, renew(6000)), (7000, .tick)],
             expected: []),
        Case(name: "re-arming for another pid watches only the new one",
             steps: [(0, arm(100, 300)), (100, arm(200, 500)), (300, .tick), (500, .tick)],
             expected: [(500, .signal(pid: 200, .quit))]),
        Case(name: "escalates to SIGKILL after the grace period",
             steps: [(0, arm(100, 300)), (300, .tick), (1299, .tick), (1300, .tick), (5000, .tick)],
             expected: [(300, .signal(pid: 100, .quit)), (1300, .signal(pid: 100, .kill))]),
        Case(name: "no SIGKILL once the process is gone",
             steps: [(0, arm(100, 300)), (300, .tick), (400, .processGone(pid: 100)), (2000, .tick)],
             expected: [(300, .signal(pid: 100, .quit))]),
        Case(name: "escalation survives a later disarm and arm",
             steps: [(0, arm(100, 300)), (300, .tick), (500, .command(.disarm)), (600, arm(200, 5000)), (1300, .tick)],
             expected: [(300, .signal(pid: 100, .quit)), (1300, .signal(pid: 100, .kill))]),
        Case(name: "end of input while armed fences at once, exits when the process is gone",
             steps: [(0, arm(100, 10_000)), (5, .endOfInput), (20, .processGone(pid: 100))],
             expected: [(5, .signal(pid: 100, .quit)), (20, .exit(status: 0))]),
        Case(name: "end of input while armed, process ignores SIGQUIT: SIGKILL, then exit",
             steps: [(0, arm(100, 10_000)), (5, .endOfInput), (1004, .tick), (1005, .tick)],
             expected: [(5, .signal(pid: 100, .quit)), (1005, .signal(pid: 100, .kill)), (1005, .exit(status: 0))]),
        Case(name: "end of input while disarmed exits at once",
             steps: [(0, arm(100, 300)), (100, .command(.disarm)), (150, .endOfInput)],
             expected: [(150, .exit(status: 0))]),
        Case(name: "end of input while an escalation is pending waits for it",
             steps: [(0, arm(100, 300)), (300, .tick), (400, .endOfInput), (1300, .tick)],
             expected: [(300, .signal(pid: 100, .quit)), (1300, .signal(pid: 100, .kill)), (1300, .exit(status: 0))]),
        Case(name: "nothing happens after exit",
             steps: [(0, .endOfInput), (1, arm(100, 2)), (10, .tick)],
             expected: [(0, .exit(status: 0))]),
        Case(name: "malformed lines change nothing",
             steps: [(0, arm(100, 300)), (100, .malformed(.unknownVerb("x"))), (200, .malformed(.tooLong(length: 9999))),
                     (300, .tick)],
             expected: [(300, .signal(pid: 100, .quit))]),
        Case(name: "renew while disarmed is ignored",
             steps: [(0, renew(100)), (200, .tick)],
             expected: []),
        Case(name: "after a fence the guard is disarmed until the next arm",
             steps: [(0, arm(100, 300)), (300, .tick), (350, renew(1000)), (360, .processGone(pid: 100)), (2000, .tick),
                     (2100, arm(101, 2200)), (2200, .tick)],
             expected: [(300, .signal(pid: 100, .quit)), (2200, .signal(pid: 101, .quit))]),
        // Armed for the data directory (a start as primary, the pid not known yet).
        Case(name: "data directory: the postmaster found there is watched as if armed for its pid",
             steps: [(0, armDir(300)), (50, seen(500)), (200, renew(400)), (399, .tick), (400, .tick)],
             expected: [(400, .signal(pid: 500, .quit))]),
        Case(name: "data directory: past the deadline every postmaster seen there is fenced, each once",
             steps: [(0, armDir(300)), (300, .tick), (350, seen(500)), (370, seen(500)), (380, .processGone(pid: 500)),
                     (900, seen(501))],
             expected: [(350, .signal(pid: 500, .quit)), (900, .signal(pid: 501, .quit))]),
        Case(name: "data directory: a renewal after the deadline does not rescue it",
             steps: [(0, armDir(300)), (301, renew(900)), (500, seen(500))],
             expected: [(500, .signal(pid: 500, .quit))]),
        Case(name: "data directory: disarm and arm end the watch",
             steps: [(0, armDir(300)), (300, .tick), (310, .command(.disarm)), (320, seen(500)),
                     (400, armDir(1000)), (450, seen(501)), (460, arm(501, 2000)), (1500, .tick)],
             expected: []),
        Case(name: "data directory: end of input fences what runs there within the grace, then exits",
             steps: [(0, armDir(10_000)), (5, .endOfInput), (40, seen(500)), (60, .processGone(pid: 500)), (1004, .tick),
                     (1005, .tick)],
             expected: [(40, .signal(pid: 500, .quit)), (1005, .exit(status: 0))]),
    ]

    @Test(arguments: cases)
    func scenario(_ c: Case) {
        var g = FenceGuard()
        var seen: [(UInt64, Effect)] = []
        for (ms, input) in c.steps {
            for e in g.step(input, at: at(ms)) {
                if case .log = e { continue }
                seen.append((ms, e))
            }
        }
        #expect(seen.map { "\($0.0): \($0.1)" } == c.expected.map { "\($0.0): \($0.1)" })
    }

    @Test func nextWakeupIsTheDeadlineThenTheLivenessPollAndTheEscalation() {
        var g = FenceGuard()
        #expect(g.nextWakeup(after: at(0)) == nil)
        _ = g.step(Self.arm(100, 300), at: at(0))
        #expect(g.nextWakeup(after: at(0)) == at(300))
        _ = g.step(Self.renew(250), at: at(10))
        #expect(g.nextWakeup(after: at(10)) == at(250))
        _ = g.step(.tick, at: at(250))
        #expect(g.phase == .disarmed && g.watchedPIDs == [100])
        #expect(g.nextWakeup(after: at(250)) == at(270))     // liveness poll
        #expect(g.nextWakeup(after: at(1240)) == at(1250))   // the SIGKILL is sooner
        _ = g.step(.processGone(pid: 100), at: at(260))
        #expect(g.nextWakeup(after: at(260)) == nil && g.watchedPIDs.isEmpty)
    }

    @Test func theDataDirectoryIsPolledWhileWatched() {
        var g = FenceGuard()
        #expect(!g.watchesDataDirectory)
        _ = g.step(Self.armDir(300), at: at(0))
        #expect(g.watchesDataDirectory && g.nextWakeup(after: at(0)) == at(20))
        _ = g.step(.tick, at: at(300))
        #expect(g.phase == .fencingDataDirectory && g.watchesDataDirectory && g.nextWakeup(after: at(300)) == at(320))
        _ = g.step(Self.arm(9, 900), at: at(310))
        #expect(!g.watchesDataDirectory && g.nextWakeup(after: at(310)) == at(900))
    }

    @Test func logLinesSayWhatHappened() {
        var g = FenceGuard()
        let armed = g.step(Self.arm(4242, 300), at: at(0))
        #expect(armed == [.log("armed for postmaster 4242, deadline in 300 ms")])
        let fenced = g.step(.tick, at: at(305))
        #expect(fenced == [.log("deadline passed 5 ms ago unrenewed: fencing postmaster 4242"), .signal(pid: 4242, .quit)])
        let bad = g.step(.malformed(.badPID("0")), at: at(306))
        #expect(bad.first == .log("ignored a malformed line: \(FenceGuardCommandError.badPID("0"))"))
        let ignored = g.step(Self.renew(900), at: at(307))
        #expect(ignored.contains { if case .log(let l) = $0 { l.hasPrefix("renew ignored") } else { false } })
    }

    @Test func aGraceOfZeroKillsOnTheNextStep() {
        var g = FenceGuard(escalationGrace: .zero)
        _ = g.step(Self.arm(7, 0), at: at(0))
        #expect(g.step(.tick, at: at(0)).contains(.signal(pid: 7, .kill)))
    }
}
