import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore
import Testing
@testable import PGNode

/// A `LeaseFence` on an event loop of its own, fed a lease the test controls, with every call
/// it makes recorded.
final class LeaseFenceRig: Sendable {
    enum Hook: Hashable, Sendable {
        case arm(pid: Int32?, deadline: NIODeadline)
        case renew(NIODeadline)
        case disarm
    }

    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    /// What the fake Raft runtime answers when the fence asks for the lease.
    let lease = NIOLockedValueBox<HeldLease?>(nil)
    /// When `fenceNow` was called, each time.
    let fenceTimes = NIOLockedValueBox<[NIODeadline]>([])
    let reasons = NIOLockedValueBox<[String]>([])
    let hooks = NIOLockedValueBox<[Hook]>([])
    let fence: LeaseFence

    init(interval: TimeAmount = .milliseconds(20), hooksArm: Bool = true) {
        let loop = group.next()
        let (lease, fenceTimes, reasons, hooks) = (lease, fenceTimes, reasons, hooks)
        fence = LeaseFence(
            loop: loop, interval: interval,
            lease: { loop.makeSucceededFuture(lease.withLockedValue { $0 }) },
            fenceNow: {
                fenceTimes.withLockedValue { $0.append(.now()) }
                return true
            },
            hooks: FenceHooks(
                arm: { pid, deadline in
                    hooks.withLockedValue { $0.append(.arm(pid: pid, deadline: deadline)) }
                    return hooksArm
                },
                renew: { deadline in hooks.withLockedValue { $0.append(.renew(deadline)) } },
                disarm: { hooks.withLockedValue { $0.append(.disarm) } }),
            logger: quietLogger,
            onFenced: { reason in reasons.withLockedValue { $0.append(reason) } })
        fence.start()
    }

    /// Hands out a lease of `term` that lapses `milliseconds` from now.
    @discardableResult
    func grant(_ milliseconds: Int64, term: Term = 1) -> HeldLease {
        let l = HeldLease(term: term, deadline: .now() + .milliseconds(milliseconds))
        lease.withLockedValue { $0 = l }
        return l
    }

    var fired: [NIODeadline] { fenceTimes.withLockedValue { $0 } }
    var recorded: [Hook] { hooks.withLockedValue { $0 } }
    var disarms: Int { recorded.filter { $0 == .disarm }.count }
    var renewals: [NIODeadline] {
        recorded.compactMap { if case .renew(let d) = $0 { return d } else { return nil } }
    }

    /// Polls until the fence fired or `timeout` passed; the instant `fenceNow` was called.
    func firstFence(within timeout: TimeAmount) async -> NIODeadline? {
        let end = NIODeadline.now() + timeout
        while fired.isEmpty, NIODeadline.now() < end { try? await Task.sleep(for: .milliseconds(2)) }
        return fired.first
    }

    /// Whether `condition` holds throughout `duration` (checked every 5 ms; false at the first
    /// miss). For the tests whose point is that nothing happens within a bounded time.
    func holds(for duration: TimeAmount, _ condition: () -> Bool) async -> Bool {
        let end = NIODeadline.now() + duration
        while NIODeadline.now() < end {
            guard condition() else { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return condition()
    }

    func shutdown() async {
        await fence.stop()
        try? await group.shutdownGracefully()
    }
}

/// Milliseconds from `a` to `b` (negative if `b` is earlier).
func elapsedMilliseconds(from a: NIODeadline, to b: NIODeadline) -> Double {
    Double((b - a).nanoseconds) / 1_000_000
}

@Suite(.serialized) struct LeaseFenceTests {
    /// Arms under a lease that lapses `leaseMs` from now and is never renewed; returns the lease
    /// and the fence's fire time (nil: it did not fire within a second after the lapse).
    static func lapse(_ rig: LeaseFenceRig, leaseMs: Int64) async -> (HeldLease, NIODeadline?) {
        let lease = rig.grant(leaseMs, term: 7)
        #expect(await rig.fence.arm(pid: 4242))
        #expect(await rig.fence.isArmed())
        return (lease, await rig.firstFence(within: .milliseconds(leaseMs + 1_000)))
    }

    @Test func armRefusesWithoutAValidLease() async {
        let rig = LeaseFenceRig()
        #expect(await rig.fence.arm(pid: 1) == false, "no lease at all")
        rig.lease.withLockedValue { $0 = HeldLease(term: 3, deadline: .now() - .milliseconds(1)) }
        #expect(await rig.fence.arm(pid: 1) == false, "a lapsed lease")
        #expect(await rig.fence.isArmed() == false)
        #expect(rig.recorded.isEmpty, "no hook is told anything: \(rig.recorded)")
        #expect(rig.fired.isEmpty && rig.fence.fenced == 0)
        await rig.shutdown()
    }

    @Test func anUnrenewedLeaseFencesOnceSoonAfterItLapses() async {
        let rig = LeaseFenceRig()
        let (lease, fired) = await Self.lapse(rig, leaseMs: 300)
        #expect(rig.recorded.first == .arm(pid: 4242, deadline: lease.deadline))
        guard let fired else {
            Issue.record("the fence did not fire within 1 s after the lapse")
            return await rig.shutdown()
        }
        let late = elapsedMilliseconds(from: lease.deadline, to: fired)
        #expect(late >= 0, "fired \(-late) ms before the lease lapsed")
        #expect(late <= 3 * 20, "fired \(late) ms after the lapse (interval 20 ms)")
        // Disarmed by the same check: it does not fire again.
        #expect(await rig.holds(for: .milliseconds(100)) { rig.fired.count == 1 })
        #expect(rig.fence.fenced == 1)
        #expect(await rig.fence.isArmed() == false)
        #expect(rig.disarms == 1)
        #expect(rig.reasons.withLockedValue { $0 }.count == 1)
        #expect(rig.reasons.withLockedValue { $0 }.first?.contains("lapsed") == true)
        await rig.shutdown()
    }

    @Test func aRenewedLeaseKeepsItArmed() async {
        let rig = LeaseFenceRig()
        let first = rig.grant(300, term: 2)
        #expect(await rig.fence.arm(pid: 99))
        // The fake Raft leader renews every 50 ms, on a loop of its own.
        let raft = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let renewing = raft.next().scheduleRepeatedTask(initialDelay: .milliseconds(50), delay: .milliseconds(50)) { _ in
            _ = rig.grant(300, term: 2)
        }
        let quiet = await rig.holds(for: .seconds(1)) { rig.fired.isEmpty }
        #expect(quiet, "fenced although the lease was renewed: \(rig.reasons.withLockedValue { $0 })")
        #expect(await rig.fence.isArmed())
        let renewed = rig.renewals
        #expect(renewed.count >= 20, "renew told \(renewed.count) times in 1 s (every 20 ms check)")
        #expect((renewed.last ?? first.deadline) > first.deadline + .milliseconds(700), "renewals carry the new deadlines")
        #expect(zip(renewed, renewed.dropFirst()).allSatisfy { $0 <= $1 }, "deadlines never go back")
        #expect(rig.disarms == 0)

        // Once the renewals stop, it fences after all.
        renewing.cancel()
        #expect(await rig.firstFence(within: .seconds(2)) != nil)
        try? await raft.shutdownGracefully()
        await rig.shutdown()
    }

    /// A decision carried out after its node lost and regained leadership must not arm under
    /// the new term's lease (HA simulator, seed 8915).
    @Test func armRefusesALeaseOfAnotherTermThanTheDecisions() async {
        let rig = LeaseFenceRig()
        rig.grant(5_000, term: 4)
        #expect(await rig.fence.arm(pid: 1, term: 3) == false, "decided in term 3, the lease is of term 4")
        #expect(await rig.fence.isArmed() == false && rig.recorded.isEmpty)
        #expect(await rig.fence.arm(pid: 1, term: 4), "the decision's own term")
        await rig.shutdown()
    }

    @Test func aLeaseOfAnotherTermFences() async {
        let rig = LeaseFenceRig()
        rig.grant(5_000, term: 3)
        #expect(await rig.fence.arm(pid: 7))
        let changed = NIODeadline.now()
        rig.grant(5_000, term: 4)
        let fired = await rig.firstFence(within: .seconds(2))
        #expect(fired != nil, "a lease of term 4 does not cover a primary armed in term 3")
        if let fired { #expect(elapsedMilliseconds(from: changed, to: fired) < 1_000, "long before the old lease would lapse") }
        #expect(rig.reasons.withLockedValue { $0 }.first?.contains("term 4") == true)
        #expect(await rig.fence.isArmed() == false && rig.disarms == 1)
        await rig.shutdown()
    }

    @Test func aLostLeaseFences() async {
        let rig = LeaseFenceRig()
        rig.grant(5_000)
        #expect(await rig.fence.arm(pid: 7))
        rig.lease.withLockedValue { $0 = nil }
        #expect(await rig.firstFence(within: .seconds(2)) != nil, "the node no longer holds a lease")
        #expect(rig.reasons.withLockedValue { $0 }.first?.contains("no lease") == true)
        #expect(await rig.fence.isArmed() == false && rig.disarms == 1)
        await rig.shutdown()
    }

    @Test func disarmStopsFencing() async {
        let rig = LeaseFenceRig()
        let lease = rig.grant(150)
        #expect(await rig.fence.arm(pid: 7))
        await rig.fence.disarm()
        #expect(await rig.fence.isArmed() == false)
        #expect(rig.disarms == 1)
        // Well past the lapse plus three checks: nothing.
        let wait = elapsedMilliseconds(from: .now(), to: lease.deadline) + 3 * 20 + 50
        #expect(await rig.holds(for: .milliseconds(Int64(wait))) { rig.fired.isEmpty })
        #expect(rig.fence.fenced == 0 && rig.disarms == 1)
        await rig.shutdown()
    }

    @Test func aGuardThatRefusesToArmRefusesTheArming() async {
        let rig = LeaseFenceRig(hooksArm: false)
        let lease = rig.grant(5_000)
        #expect(await rig.fence.arm(pid: 8) == false)
        #expect(await rig.fence.isArmed() == false)
        #expect(rig.recorded == [.arm(pid: 8, deadline: lease.deadline)], "asked once, never told to renew or disarm")
        await rig.shutdown()
    }

    /// The one-writer arithmetic with the default timings (see `LeaseFence`).
    ///
    /// The lease is 600 ms and the minimum election timeout 1000 ms, so no other node can be
    /// elected before 400 ms after the lease lapses. The fence, checking every 20 ms, must fire
    /// within ~20 ms plus scheduling slack of the lapse: more than 350 ms before the earliest
    /// new leader. Measured here (debug build, 2 cores, a real-cluster test running beside it,
    /// 7 runs): fired 9.3-14.7 ms after the lapse, leaving 385-391 ms. The test prints its run's
    /// figures.
    @Test func theFenceFiresLongBeforeAnyOtherNodeCanBeElected() async throws {
        let store = try StoreNodeConfig.parse(yaml: """
            cluster: demo
            node: 1
            data_dir: /tmp/pgha-raft
            secret: "0123456789abcdef-secret"
            peers: [ { id: 1, raft: "127.0.0.1:7001", client: "127.0.0.1:7101" } ]
            """, readFile: { _ in "" })
        #expect(store.tickMilliseconds == 100 && store.electionTicks == 10 && store.leaseTicks == 6)
        let raft = RaftConfig(id: 1)
        #expect(raft.electionTicks == store.electionTicks && raft.leaseTicks == store.leaseTicks)
        #expect(store.runtimeConfig.tickInterval == .milliseconds(100))

        let tick = Int64(store.tickMilliseconds)
        let leaseMs = Int64(store.leaseTicks) * tick
        let minimumElectionMs = Int64(store.electionTicks) * tick
        #expect(leaseMs == 600 && minimumElectionMs == 1_000)
        let gapMs = Double(minimumElectionMs - leaseMs)
        #expect(gapMs >= 400, "between the lease's end and the earliest possible new leader")

        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let defaultFence = LeaseFence(loop: loop, lease: { loop.makeSucceededFuture(nil) }, fenceNow: { true },
                                      logger: quietLogger)
        #expect(defaultFence.interval == .milliseconds(20))

        let rig = LeaseFenceRig(interval: defaultFence.interval)
        let (lease, fired) = await Self.lapse(rig, leaseMs: leaseMs)
        await rig.shutdown()
        let late = elapsedMilliseconds(from: lease.deadline, to: try #require(fired, "the fence did not fire"))
        #expect(late >= 0)
        #expect(gapMs - late > 350, "fired \(late) ms after the lapse, \(gapMs - late) ms before the earliest election")
        print("lease fence: fired \(late) ms after the lease lapsed, \(gapMs - late) ms before any other node could be elected")
    }
}
