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

/// Three `pgha store run` processes on loopback, in a temporary directory; every process is
/// ended by its pid when the cluster is torn down, whatever happened.
final class StoreProcessCluster: @unchecked Sendable {
    let directory: String
    let secret = "process-test-secret-0123456789"
    var raftPorts: [Int] = []
    var clientPorts: [Int] = []
    var processes: [Int: Process] = [:]
    let binary: String

    init(binary: String, size: Int = 3, snapshotEvery: Int = 10_000) throws {
        self.binary = binary
        directory = NSTemporaryDirectory() + "pgha-store-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ports = try Self.freePorts(2 * size)
        raftPorts = Array(ports[0..<size])
        clientPorts = Array(ports[size...])
        for i in 1...size { try writeConfig(node: i, secret: secret, snapshotEvery: snapshotEvery, size: size) }
    }

    func writeConfig(node: Int, secret: String, snapshotEvery: Int, size: Int) throws {
        var yaml = """
        cluster: proc
        node: \(node)
        data_dir: \(directory)/n\(node)
        secret: "\(secret)"
        raft: { tick_ms: 50, election_ticks: 10, lease_ticks: 6, snapshot_every: \(snapshotEvery) }
        peers:

        """
        for i in 1...size {
            yaml += "  - { id: \(i), raft: \"127.0.0.1:\(raftPorts[i - 1])\", client: \"127.0.0.1:\(clientPorts[i - 1])\" }\n"
        }
        try yaml.write(toFile: configPath(node), atomically: true, encoding: .utf8)
    }

    func configPath(_ node: Int) -> String { "\(directory)/n\(node).yml" }

    func start(_ node: Int) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["store", "run", "--config", configPath(node), "--log-level", "warning"]
        let log = FileHandle(forWritingAtPath: "\(directory)/n\(node).log") ?? {
            FileManager.default.createFile(atPath: "\(directory)/n\(node).log", contents: nil)
            return FileHandle(forWritingAtPath: "\(directory)/n\(node).log")!
        }()
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        processes[node] = p
    }

    func kill9(_ node: Int) {
        guard let p = processes.removeValue(forKey: node) else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    func tearDown() {
        for (_, p) in processes where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        processes = [:]
        try? FileManager.default.removeItem(atPath: directory)
    }

    func log(_ node: Int) -> String {
        (try? String(contentsOfFile: "\(directory)/n\(node).log", encoding: .utf8)) ?? ""
    }

    func client(secret: String? = nil, group: any EventLoopGroup) -> StoreClient {
        var endpoints: [NodeID: PeerAddress] = [:]
        for (i, port) in clientPorts.enumerated() { endpoints[NodeID(UInt64(i + 1))] = PeerAddress(host: "127.0.0.1", port: port) }
        var config = StoreClientConfig(clusterName: "proc", secret: Array((secret ?? self.secret).utf8), endpoints: endpoints)
        config.attemptTimeout = .seconds(1)
        config.requestTimeout = .seconds(8)
        var logger = Logger(label: "test.client")
        logger.logLevel = .critical
        return StoreClient(config: config, group: group, logger: logger)
    }

    static func freePorts(_ n: Int) throws -> [Int] {
        var ports: [Int] = []
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        for _ in 0..<n {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = 0
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            ports.append(Int(UInt16(bigEndian: addr.sin_port)))
            sockets.append(fd)
        }
        return ports
    }
}

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
        let cluster = try StoreProcessCluster(binary: pghaBinary!, snapshotEvery: 20)
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
        let cluster = try StoreProcessCluster(binary: pghaBinary!)
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
