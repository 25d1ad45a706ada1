import Foundation
import Logging
import NIOCore
import NIOPosix
import RaftCore
import Testing
@testable import PGNode

/// The `pgha` binary this package built, if it exists.
let pghaBinary: String? = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    for config in ["debug", "release"] {
        let path = root.appendingPathComponent(".build/\(config)/pgha").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}()

/// Polls `body` until it returns a value or `timeout` passes.
func eventually<T>(_ timeout: Duration = .seconds(10), _ body: () async -> T?) async -> T? {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    while clock.now < end {
        if let v = await body() { return v }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return nil
}

@Suite(.serialized, .enabled(if: pghaBinary != nil, "the pgha binary is not built (run `swift build` first)"))
struct StoreClusterProcessTests {
    func leader(_ client: StoreClient, among nodes: [Int]) async -> Int? {
        for n in nodes {
            if let s = try? await client.status(of: NodeID(UInt64(n))), s.role == .leader, s.hasLease { return n }
        }
        return nil
    }

    @Test func threeProcessesElectReplicateFailOverAndCatchUp() async throws {
        let cluster = try LocalStoreCluster(binary: pghaBinary!, snapshotEvery: 20)
        defer { cluster.tearDown() }
        let group = MultiThreadedEventLoopGroup.singleton
        for i in 1...3 { try cluster.start(i) }
        let client = cluster.client(group: group)

        // They elect a leader.
        let first = await eventually(.seconds(20)) { await leader(client, among: [1, 2, 3]) }
        var diagnosis = ""
        if first == nil {
            for n in 1...3 {
                let s = try? await client.status(of: NodeID(UInt64(n)))
                diagnosis += "node \(n): \(s.map { "\($0)" } ?? "unreachable")\n\(cluster.log(n))\n"
            }
        }
        let leaderNode = try #require(first, "no leader:\n\(diagnosis)")

        // Writes through the client are readable from every node.
        let rev = try await client.put("members/a", Array("one".utf8))
        #expect(rev > 0)
        for n in 1...3 {
            let seen = await eventually {
                guard let conn = try? await client.status(of: NodeID(UInt64(n))), conn.applied.rawValue >= rev else { return nil as Bool? }
                return true
            }
            #expect(seen == true, "node \(n) did not apply revision \(rev)")
        }
        #expect(try await client.get("members/a")?.value == Array("one".utf8))

        // kill -9 the leader: another is elected and accepts writes.
        cluster.kill9(leaderNode)
        let others = [1, 2, 3].filter { $0 != leaderNode }
        let second = await eventually { await leader(client, among: others) }
        #expect(second != nil)
        // Far behind: enough writes for several snapshots while the old leader is down.
        for i in 0..<100 { try await client.put("k\(i % 10)", Array("v\(i)".utf8)) }
        let lastRev = try await client.put("after", Array("failover".utf8))

        // It comes back and catches up (through a snapshot: its log is long compacted).
        try cluster.start(leaderNode)
        let caughtUp = await eventually(.seconds(15)) {
            guard let s = try? await client.status(of: NodeID(UInt64(leaderNode))), s.applied.rawValue >= lastRev else { return nil as Bool? }
            return true
        }
        #expect(caughtUp == true, "restarted node did not catch up; log:\n\(cluster.log(leaderNode))")
        await client.close()
    }

    @Test func aNodeWithTheWrongSecretCannotJoin() async throws {
        let cluster = try LocalStoreCluster(binary: pghaBinary!)
        defer { cluster.tearDown() }
        let group = MultiThreadedEventLoopGroup.singleton
        try cluster.writeConfig(node: 3, secret: "a-different-secret-0123456789", snapshotEvery: 10_000, size: 3)
        for i in 1...3 { try cluster.start(i) }
        let client = cluster.client(group: group)
        let l = await eventually { await leader(client, among: [1, 2]) }
        #expect(l != nil)
        let rev = try await client.put("x", Array("y".utf8))
        // Node 3 never learns anything: ask it with its own (wrong) secret.
        let intruder = cluster.client(secret: "a-different-secret-0123456789", group: group)
        try await Task.sleep(for: .seconds(1))
        let s = try await intruder.status(of: 3)
        #expect(s.commit.rawValue < rev && s.leader == nil)
        // The real members refuse it with a log line naming the reason.
        let refused = await eventually { (cluster.log(1) + cluster.log(2)).contains("badProof") ? true : nil }
        #expect(refused == true, "no refusal logged:\n\(cluster.log(1))")
        // And the members cannot talk to it with the real secret either.
        await #expect(throws: StoreError.self) { _ = try await client.status(of: 3) }
        await intruder.close()
        await client.close()
    }
}

/// A node whose data directory was emptied must not come back as the same voter.
@Suite(.serialized, .enabled(if: pghaBinary != nil, "the pgha binary is not built (run `swift build` first)"))
struct StoreDataLossProcessTests {
    @Test func aNodeThatLostItsDataRefusesToStartUnlessToldToRejoin() async throws {
        let cluster = try LocalStoreCluster(binary: pghaBinary!)
        defer { cluster.tearDown() }
        let group = MultiThreadedEventLoopGroup.singleton
        for i in 1...3 { try cluster.start(i) }
        let client = cluster.client(group: group)
        defer { Task { await client.close() } }
        _ = try #require(await eventually(.seconds(20)) { try? await client.put("k", Array("v".utf8)) })
        // The leader records each voter once it has acknowledged the log.
        let marked = await eventually(.seconds(10)) { () -> Bool? in
            (try? await client.get(ClusterKey.raftMember(3).path)) != nil ? true : nil
        }
        #expect(marked == true)
        cluster.kill9(3)
        try cluster.wipeData(3)
        try cluster.start(3)
        let status = await cluster.waitForExit(3, timeout: .seconds(15))
        #expect(status != nil && status != 0, "a node with lost data must refuse to start")
        #expect(cluster.log(3).contains("lost its Raft state"), "\(cluster.log(3))")
        // Told to rejoin, it starts, gets the log from the leader and applies it.
        try cluster.start(3, extraArguments: ["--rejoin"])
        let caughtUp = await eventually(.seconds(15)) { () -> Bool? in
            guard let s = try? await client.status(of: 3), s.applied >= 1, s.voters.count == 3 else { return nil }
            return true
        }
        let s3 = try? await client.status(of: 3)
        var others = ""
        for n: UInt64 in [1, 2] { others += "\((try? await client.status(of: NodeID(n))).map { "\($0)" } ?? "-")\n" }
        #expect(caughtUp == true, "node 3: \(s3.map { "\($0)" } ?? "unreachable")\n\(others)\(cluster.log(3))")
        #expect(await cluster.waitForExit(3, timeout: .milliseconds(100)) == nil, "the rejoined node keeps running")
        // The marker that keeps a restart rejoining is gone once it caught up.
        let marker = DataDirectory.rejoinMarker(in: "\(cluster.directory)/n3")
        let cleared = await eventually(.seconds(5)) { FileManager.default.fileExists(atPath: marker) ? nil : true }
        #expect(cleared == true)
    }
}
