import Foundation
import Logging
import NIOCore
import RaftCore

/// A store cluster of `pgha store run` processes on loopback ports, in a temporary directory,
/// for tests, benchmarks and demos. Every process it starts is ended by its pid in
/// `tearDown()`; it never signals a process it did not start. Not thread-safe: one owner.
public final class LocalStoreCluster: @unchecked Sendable {
    public let directory: String
    public let secret = "process-test-secret-0123456789"
    public private(set) var raftPorts: [Int] = []
    public private(set) var clientPorts: [Int] = []
    private var processes: [Int: Process] = [:]
    public let binary: String
    public let size: Int

    /// Prepares (does not start) `size` nodes using the `pgha` executable at `binary`.
    public init(binary: String, size: Int = 3, snapshotEvery: Int = 10_000, tickMilliseconds: Int = 50) throws {
        self.binary = binary
        self.size = size
        self.tickMilliseconds = tickMilliseconds
        directory = NSTemporaryDirectory() + "pgha-store-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ports = try Self.freePorts(2 * size)
        raftPorts = Array(ports[0..<size])
        clientPorts = Array(ports[size...])
        for i in 1...size { try writeConfig(node: i, secret: secret, snapshotEvery: snapshotEvery, size: size) }
    }

    public let tickMilliseconds: Int

    /// Writes node `node`'s configuration (call before `start` to change its secret).
    public func writeConfig(node: Int, secret: String, snapshotEvery: Int, size: Int) throws {
        var yaml = """
        cluster: proc
        node: \(node)
        data_dir: \(directory)/n\(node)
        secret: "\(secret)"
        raft: { tick_ms: \(tickMilliseconds), election_ticks: 10, lease_ticks: 6, snapshot_every: \(snapshotEvery) }
        peers:

        """
        for i in 1...size {
            yaml += "  - { id: \(i), raft: \"127.0.0.1:\(raftPorts[i - 1])\", client: \"127.0.0.1:\(clientPorts[i - 1])\" }\n"
        }
        try yaml.write(toFile: configPath(node), atomically: true, encoding: .utf8)
    }

    public func configPath(_ node: Int) -> String { "\(directory)/n\(node).yml" }

    /// Starts node `node` (1-based); its output goes to `n<node>.log` in the directory.
    public func start(_ node: Int, extraArguments: [String] = []) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["store", "run", "--config", configPath(node), "--log-level", "warning"] + extraArguments
        let log = FileHandle(forWritingAtPath: "\(directory)/n\(node).log") ?? {
            _ = FileManager.default.createFile(atPath: "\(directory)/n\(node).log", contents: nil)
            return FileHandle(forWritingAtPath: "\(directory)/n\(node).log")!
        }()
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        processes[node] = p
    }

    /// Waits up to `timeout` for node `node`'s process to exit by itself; its exit status, or
    /// nil if it is still running (or was not started).
    public func waitForExit(_ node: Int, timeout: Duration) async -> Int32? {
        guard let p = processes[node] else { return nil }
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            if !p.isRunning {
                processes[node] = nil
                return p.terminationStatus
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Empties node `node`'s data directory (a lost disk). The node must be stopped.
    public func wipeData(_ node: Int) throws {
        let dir = "\(directory)/n\(node)"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            try FileManager.default.removeItem(atPath: dir + "/" + name)
        }
    }

    /// Ends node `node` with SIGKILL and waits for it.
    public func kill9(_ node: Int) {
        guard let p = processes.removeValue(forKey: node) else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// Kills every process this cluster started and removes its directory.
    public func tearDown() {
        for (_, p) in processes where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        processes = [:]
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// What node `node` logged so far.
    public func log(_ node: Int) -> String {
        (try? String(contentsOfFile: "\(directory)/n\(node).log", encoding: .utf8)) ?? ""
    }

    /// A client for this cluster (optionally with another secret).
    public func client(secret: String? = nil, group: any EventLoopGroup) -> StoreClient {
        var endpoints: [NodeID: PeerAddress] = [:]
        for (i, port) in clientPorts.enumerated() { endpoints[NodeID(UInt64(i + 1))] = PeerAddress(host: "127.0.0.1", port: port) }
        var config = StoreClientConfig(clusterName: "proc", secret: Array((secret ?? self.secret).utf8), endpoints: endpoints)
        config.attemptTimeout = .seconds(1)
        config.requestTimeout = .seconds(8)
        var logger = Logger(label: "test.client")
        logger.logLevel = .critical
        return StoreClient(config: config, group: group, logger: logger)
    }

    /// `n` distinct loopback ports that were free a moment ago.
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

