import Foundation
import Testing
import NIOCore
import NIOConcurrencyHelpers
import RaftCore
@testable import PGNode

/// Durable storage whose writes take `delay` (a slow disk), for one node.
final class SlowStorage: DurableRaftStorage, @unchecked Sendable {
    // @unchecked: used only from the runtime's writer thread after init.
    let inner = MemoryStorage()
    let delay: NIOLockedValueBox<Duration>

    init(delay: Duration) { self.delay = NIOLockedValueBox(delay) }

    func initialState() throws(StorageError) -> (HardState, Membership) { try inner.initialState() }
    func firstIndex() -> LogIndex { inner.firstIndex() }
    func lastIndex() -> LogIndex { inner.lastIndex() }
    func term(of index: LogIndex) throws(StorageError) -> Term { try inner.term(of: index) }
    func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(StorageError) -> [Entry] {
        try inner.entries(from: low, to: high, maxBytes: maxBytes)
    }
    func snapshot() throws(StorageError) -> Snapshot { try inner.snapshot() }
    var latestSnapshot: Snapshot { inner.latestSnapshot }
    func persist(_ ready: Ready) throws {
        let d = delay.withLockedValue { $0 }
        if d > .zero, !ready.entries.isEmpty { Thread.sleep(forTimeInterval: Double(d.nanoseconds) / 1e9) }
        try inner.persist(ready)
    }
    func createSnapshot(at index: LogIndex, membership: Membership, data: [UInt8]) throws {
        try inner.createSnapshot(at: index, membership: membership, data: data)
    }
}

/// The runtime keeps the lease honest against the wall clock: a slow disk does not stop
/// heartbeats, and a stalled loop never reports a lease that already ran out.
@Suite(.serialized) struct RuntimeTimingTests {
    /// Every node's fsync takes 500 ms — 20 ticks of 25 ms, two election timeouts. The
    /// leader must keep its lease (150 ms) throughout and no election may happen; writes
    /// still commit. (Without early sending while a write is under way, the lease lapses
    /// and a new term starts.)
    @Test func slowFsyncDelaysCommitsNotHeartbeats() async throws {
        let slow = (1...3).map { _ in SlowStorage(delay: .zero) }
        let c = try RuntimeCluster(tick: .milliseconds(25), storage: { slow[$0 - 1] })
        try await c.start()
        let leader = try #require(await c.waitForLeader())
        let term = try #require(await leader.status()).term
        for s in slow { s.delay.withLockedValue { $0 = .milliseconds(500) } }
        let writes = Task {
            var done = 0
            for i in 0..<3 {
                if (try? await leader.put("slow/\(i)", Array("x".utf8))) != nil { done += 1 }
            }
            return done
        }
        let clock = ContinuousClock()
        let end = clock.now + .milliseconds(2_000)
        var checks = 0, lapses = 0
        while clock.now < end {
            if await leader.leaderLease()?.isValid() != true { lapses += 1 }
            checks += 1
            try await Task.sleep(for: .milliseconds(5))
        }
        let written = await writes.value
        let after = try #require(await leader.status())
        #expect(lapses == 0, "lease lapsed in \(lapses) of \(checks) checks while the disk was slow")
        #expect(after.term == term && after.role == .leader, "no election while fsync was slow")
        #expect(written >= 1, "writes still commit, slowly")
        for s in slow { s.delay.withLockedValue { $0 = .zero } }
        await c.stop()
    }

    /// The leader's event loop stalls for 500 ms (50 ticks). The first task after the stall
    /// — queued before the overdue timer — must see the lease as lapsed.
    @Test func aStalledLoopNeverReportsAnExpiredLease() async throws {
        let c = try RuntimeCluster()
        try await c.start()
        let leader = try #require(await c.waitForLeader())
        #expect(await leader.leaderLease() != nil)
        let stalled = leader.loop.submit { Thread.sleep(forTimeInterval: 0.5) }
        let lease = await leader.leaderLease()  // queued behind the stall, ahead of the timer
        try await stalled.get()
        if let lease {
            #expect(lease.isValid(), "a lease reported after a stall is still valid on the clock")
            #expect(lease.remaining() <= .milliseconds(60))
        }
        await c.stop()
    }

    /// The monotonic deadline is never later than the lease the core grants (start of the
    /// acknowledged round + lease length).
    @Test func leaseDeadlineIsBoundedByTheLeaseLength() async throws {
        let c = try RuntimeCluster()
        try await c.start()
        let leader = try #require(await c.waitForLeader())
        let before = NIODeadline.now()
        let lease = try #require(await leader.leaderLease())
        let after = NIODeadline.now()
        // leaseTicks (6) x 10 ms ticks: the deadline lies at most 60 ms after the answer was
        // computed, and it was valid then.
        #expect(lease.deadline <= after + .milliseconds(61))
        #expect(lease.deadline > before - .milliseconds(11))
        await c.stop()
    }
}
