import Foundation
import HACore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RaftCore

/// A cluster of `pgha run` agents on this machine, each a separate process with its own
/// Postgres on loopback: what `pgha demo` runs and what the real-cluster tests drive. It
/// writes the configurations, starts, signals and restarts the agents by the PIDs it started,
/// and reads the members' reports from the store.
public final class LocalAgentCluster: @unchecked Sendable {
    /// Ports of one member.
    public struct Ports: Sendable, Hashable, Codable {
        public var postgres: Int
        public var raft: Int
        public var client: Int
        /// The REST API.
        public var rest: Int
    }

    public let binary: String
    public let directory: String
    public let size: Int
    public let cluster: String
    public let ports: [Ports]
    public let secret: String
    public let superuserPassword: String
    public let replicationPassword: String
    /// The REST API's basic-auth user `admin`'s password (unsafe methods need it).
    public let apiPassword: String
    /// Postgres settings for every member (`postgresql.parameters`).
    public let postgresParameters: [String: String]
    private let processes = NIOLockedValueBox<[Int: Process]>([:])

    /// Member `i`'s name (1-based).
    public func name(_ i: Int) -> String { "pg\(i)" }
    public func configPath(_ i: Int) -> String { "\(directory)/\(name(i)).yml" }
    public func memberDirectory(_ i: Int) -> String { "\(directory)/\(name(i))" }
    public func postgresDataDirectory(_ i: Int) -> String { "\(memberDirectory(i))/pgdata" }
    public func agentLogPath(_ i: Int) -> String { "\(memberDirectory(i))/agent.log" }
    public func postgresLogPath(_ i: Int) -> String { "\(memberDirectory(i))/postgresql.log" }

    /// Prepares `directory` (created if missing) for `size` members with ports from
    /// `portBase`: Postgres on portBase + i − 1, Raft on portBase + 10 + i − 1, the store's
    /// clients on portBase + 20 + i − 1, the REST API on portBase + 30 + i − 1. Throws if a
    /// port is taken.
    /// `bootstrap.dcs` of every member (a JSON object's text), if any.
    public let dynamicConfig: String?
    /// Extra settings per member (1-based): `tags` as a YAML flow mapping, and lines added to
    /// the `postgresql:` section (such as `pre_promote: /path`).
    public let memberTags: [Int: String]
    public let postgresExtra: [Int: [String]]

    public init(binary: String, directory: String, size: Int = 3, portBase: Int, cluster: String = "demo",
                postgresParameters: [String: String] = [:], dynamicConfig: String? = nil, memberTags: [Int: String] = [:],
                postgresExtra: [Int: [String]] = [:]) throws {
        self.postgresParameters = postgresParameters
        self.dynamicConfig = dynamicConfig
        self.memberTags = memberTags
        self.postgresExtra = postgresExtra
        self.binary = binary
        self.directory = directory
        self.size = size
        self.cluster = cluster
        var ports: [Ports] = []
        for i in 0..<size {
            ports.append(Ports(postgres: portBase + i, raft: portBase + 10 + i, client: portBase + 20 + i, rest: portBase + 30 + i))
        }
        self.ports = ports
        for p in ports {
            for port in [p.postgres, p.raft, p.client, p.rest] where !Self.isFree(port) {
                throw StartRefused(reason: "port \(port) on 127.0.0.1 is in use; choose another --port-base")
            }
        }
        secret = Self.randomToken()
        superuserPassword = Self.randomToken()
        replicationPassword = Self.randomToken()
        apiPassword = Self.randomToken()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for i in 1...size {
            try FileManager.default.createDirectory(atPath: memberDirectory(i), withIntermediateDirectories: true)
            try config(i).write(toFile: configPath(i), atomically: true, encoding: .utf8)
            chmod(configPath(i), 0o600)
        }
    }

    /// Member `i`'s configuration file.
    public func config(_ i: Int) -> String {
        let peers = (1...size).map { j in
            "  - { id: \(j), name: \(name(j)), raft: \"127.0.0.1:\(ports[j - 1].raft)\", client: \"127.0.0.1:\(ports[j - 1].client)\" }"
        }.joined(separator: "\n")
        return """
            # pgha agent \(name(i)) of the local cluster \(cluster) (written by pgha)
            cluster: \(cluster)
            node: \(i)
            name: \(name(i))
            data_dir: \(memberDirectory(i))/raft
            secret: \(secret)
            peers:
            \(peers)
            postgresql:
              data_dir: \(postgresDataDirectory(i))
              listen: "127.0.0.1:\(ports[i - 1].postgres)"
              socket_dir: \(memberDirectory(i))/run
              log_file: \(postgresLogPath(i))
              superuser: { username: postgres, password: \(superuserPassword) }
              replication: { username: replicator, password: \(replicationPassword) }
              pg_hba:
                - "host all all 127.0.0.1/32 scram-sha-256"
              parameters: {\(postgresParameters.sorted { $0.key < $1.key }.map { "\($0.key): \"\($0.value)\"" }.joined(separator: ", "))}
            \((postgresExtra[i] ?? []).map { "  " + $0 + "\n" }.joined())restapi:
              listen: "127.0.0.1:\(ports[i - 1].rest)"
              authentication: { username: admin, password: \(apiPassword) }
            \(memberTags[i].map { "tags: " + $0 + "\n" } ?? "")\(dynamicConfig.map { "bootstrap:\n  dcs: " + $0 + "\n" } ?? "")
            """
    }

    /// An HAProxy configuration in front of this cluster (read-write on `primaryPort`,
    /// read-only on `replicaPort`), checking each member's REST API.
    public func haproxyConfig(primaryPort: Int, replicaPort: Int) -> HAProxyConfig {
        var c = HAProxyConfig(members: (1...size).map { i in
            HAProxyConfig.Member(name: name(i), postgresHost: "127.0.0.1", postgresPort: ports[i - 1].postgres, restPort: ports[i - 1].rest)
        })
        c.primaryPort = primaryPort
        c.replicaPort = replicaPort
        // Fast checks on loopback: a dead primary is marked down within about half a second.
        c.checkIntervalMs = 250
        return c
    }

    /// Member `i`'s REST API base URL.
    public func restURL(_ i: Int) -> String { "http://127.0.0.1:\(ports[i - 1].rest)" }

    /// The libpq multi-host connection string for the writable primary.
    public var primaryDSN: String { dsn(attrs: "target_session_attrs=read-write") }
    /// The libpq multi-host connection string preferring a standby.
    public var standbyDSN: String { dsn(attrs: "target_session_attrs=prefer-standby") }

    private func dsn(attrs: String) -> String {
        let hosts = ports.map { "127.0.0.1:\($0.postgres)" }.joined(separator: ",")
        return "postgresql://postgres:\(superuserPassword)@\(hosts)/postgres?\(attrs)&connect_timeout=2"
    }

    /// Starts member `i`'s agent (`pgha run`), its output appended to `agentLogPath(i)`.
    /// Returns its PID.
    @discardableResult
    public func start(_ i: Int, extraArguments: [String] = []) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["run", "--config", configPath(i)] + extraArguments
        let path = agentLogPath(i)
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        try? log.close()
        processes.withLockedValue { $0[i] = p }
        return p.processIdentifier
    }

    /// Member `i`'s agent PID while it runs (nil once it exited or if never started).
    public func pid(_ i: Int) -> Int32? {
        processes.withLockedValue { $0[i] }.flatMap { $0.isRunning ? $0.processIdentifier : nil }
    }

    /// Whether member `i`'s agent process was started by us and has exited.
    public func hasExited(_ i: Int) -> Bool {
        guard let p = processes.withLockedValue({ $0[i] }) else { return false }
        return !p.isRunning
    }

    /// Sends `signal` to member `i`'s agent (only a process this cluster started).
    public func signal(_ i: Int, _ signal: Int32) {
        if let pid = pid(i) { kill(pid, signal) }
    }

    /// Waits until member `i`'s agent exited, up to `timeout`; its exit status, or nil.
    public func waitForExit(_ i: Int, timeout: Duration) async -> Int32? {
        guard let p = processes.withLockedValue({ $0[i] }) else { return nil }
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while p.isRunning && clock.now < end { try? await Task.sleep(for: .milliseconds(20)) }
        return p.isRunning ? nil : p.terminationStatus
    }

    /// Stops every agent: SIGTERM (each stops its Postgres cleanly), then SIGKILL after `grace`.
    public func stopAll(grace: Duration = .seconds(30)) async {
        let running = (1...size).filter { pid($0) != nil }
        for i in running { signal(i, SIGTERM) }
        for i in running where await waitForExit(i, timeout: grace) == nil {
            signal(i, SIGCONT)
            signal(i, SIGKILL)
            _ = await waitForExit(i, timeout: .seconds(5))
        }
    }

    /// A store client of this cluster.
    public func client(group: any EventLoopGroup, logger: Logger = Logger(label: "pgha.local-cluster")) -> StoreClient {
        var endpoints: [NodeID: PeerAddress] = [:]
        for i in 1...size { endpoints[NodeID(UInt64(i))] = PeerAddress(host: "127.0.0.1", port: ports[i - 1].client) }
        var c = StoreClientConfig(clusterName: cluster, secret: Array(secret.utf8), endpoints: endpoints)
        c.attemptTimeout = .seconds(1)
        c.requestTimeout = .seconds(3)
        var quiet = logger
        quiet.logLevel = .critical
        return StoreClient(config: c, group: group, logger: quiet)
    }

    /// The cluster as the store shows it (members' last reports, history, …); nil if no node
    /// answered.
    public func view(_ client: StoreClient) async -> ClusterView? {
        guard let (_, items) = try? await client.list(prefix: "", linearizable: false) else { return nil }
        return ClusterState.view(from: items.map { ($0.key, $0.value) }).view
    }

    /// Whether a server can listen on `port` of 127.0.0.1. Binds with SO_REUSEADDR, as every
    /// server of the cluster does (Postgres, the Raft transport, the store's clients, the REST
    /// API): connections of a cluster that just stopped linger in TIME_WAIT on its ports for a
    /// minute, and many short client connections leave ephemeral ports in TIME_WAIT too; neither
    /// stops a server from listening.
    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return r == 0
    }

    static func randomToken() -> String {
        (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
