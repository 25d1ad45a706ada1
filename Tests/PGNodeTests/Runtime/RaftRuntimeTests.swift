import Testing
import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
import RaftCore
@testable import PGNode

/// Three runtimes on their own event loops, wired together in memory.
final class RuntimeCluster: Sendable {
    let group: MultiThreadedEventLoopGroup
    let runtimes: [RaftRuntime]
    let down: NIOLockedValueBox<Set<NodeID>>

    init(size: Int = 3, tick: Duration = .milliseconds(10),
         storage: (Int) -> any DurableRaftStorage = { _ in MemoryStorage() }) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: size)
        let membership = Membership(voters: Set((1...size).map { NodeID(UInt64($0)) }))
        let down = NIOLockedValueBox<Set<NodeID>>([])
        self.down = down
        let registry = NIOLockedValueBox<[NodeID: RaftRuntime]>([:])
        var list: [RaftRuntime] = []
        for i in 1...size {
            var raft = RaftConfig(id: NodeID(UInt64(i)))
            raft.randomSeed = UInt64(i) &* 7919
            var config = RuntimeConfig(raft: raft, bootstrapMembership: membership)
            config.tickInterval = tick
            config.requestTimeout = .seconds(2)
            config.snapshotEvery = 50
            var logger = Logger(label: "test.n\(i)")
            logger.logLevel = .warning
            let rt = try RaftRuntime(config: config, storage: storage(i), loop: group.next(), logger: logger) { m in
                guard !down.withLockedValue({ $0.contains(m.to) || $0.contains(m.from) }) else { return }
                registry.withLockedValue { $0[m.to] }?.receive(m)
            }
            list.append(rt)
        }
        registry.withLockedValue { r in for rt in list { r[rt.id] = rt } }
        runtimes = list
    }

    func start() async throws {
        for r in runtimes { try await r.start() }
    }

    func stop() async {
        for r in runtimes { await r.shutdown() }
        try? await group.shutdownGracefully()
    }

    /// Polls until exactly one live node is leader with a lease, or the deadline passes.
    func waitForLeader(timeout: Duration = .seconds(5)) async -> RaftRuntime? {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            for r in runtimes where !down.withLockedValue({ $0.contains(r.id) }) {
                if await r.leaderLease() != nil { return r }
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }
}

@Suite(.serialized) struct RaftRuntimeTests {
    @Test func writesThroughTheLeaderAreReadableLinearizablyAndFollowersRedirect() async throws {
        let c = try RuntimeCluster()
        try await c.start()
        defer { Task { await c.stop() } }
        let leader = try #require(await c.waitForLeader())
        let rev = try await leader.put("members/a", Array("x".utf8))
        #expect(rev > 0)
        let v = try await leader.get("members/a")
        #expect(v?.value == Array("x".utf8))
        #expect(v?.modRevision == rev)
        let follower = c.runtimes.first { $0.id != leader.id }!
        await #expect(throws: StoreError.notLeader(leader: leader.id)) { _ = try await follower.get("members/a") }
        await #expect(throws: StoreError.notLeader(leader: leader.id)) { _ = try await follower.put("k", []) }
        // Compare-and-set.
        await #expect(throws: StoreError.revisionMismatch(current: rev)) {
            _ = try await leader.put("members/a", Array("y".utf8), expectedRevision: rev + 1000)
        }
        let rev2 = try await leader.put("members/a", Array("y".utf8), expectedRevision: rev)
        #expect(rev2 > rev)
        await #expect(throws: StoreError.invalidRequest("empty key")) { _ = try await leader.put("", []) }
        await c.stop()
    }

    @Test func aNewLeaderTakesOverWhenTheOldOneIsCutOff() async throws {
        let c = try RuntimeCluster()
        try await c.start()
        let first = try #require(await c.waitForLeader())
        for i in 0..<120 { _ = try await first.put("k\(i % 7)", Array("v\(i)".utf8)) }  // also crosses snapshots
        c.down.withLockedValue { _ = $0.insert(first.id) }
        let second = try #require(await c.waitForLeader(timeout: .seconds(5)))
        #expect(second.id != first.id)
        let rev = try await second.put("after", Array("failover".utf8))
        let (_, items) = try await second.list(prefix: "k")
        #expect(items.count == 7)
        #expect(rev > 120)
        // The old leader rejoins and catches up.
        c.down.withLockedValue { $0.removeAll() }
        let clock = ContinuousClock()
        let end = clock.now + .seconds(5)
        var caughtUp = false
        while clock.now < end && !caughtUp {
            caughtUp = (try? await first.get("after", linearizable: false))??.value == Array("failover".utf8)
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(caughtUp)
        await c.stop()
    }
}
