import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import Testing
import HACore
@testable import PGNode
#if canImport(Glibc)
import Glibc
#endif

/// Whether real-Postgres tests can run here, and why not.
enum PostgresTestEnvironment {
    static let tools = ["postgres", "initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "pg_controldata"]

    /// Postgres 15's binaries and setpriv exist, and (as root) the OS user `postgres` exists.
    static let available: Bool = {
        let binaries = tools.allSatisfy { FileManager.default.isExecutableFile(atPath: PostgresSettings.debianBinDirectory + "/" + $0) }
        let setpriv = FileManager.default.isExecutableFile(atPath: PostgresTool.setpriv)
        let user = geteuid() != 0 || (try? PostgresOSUser.resolve("postgres")) != nil
        return binaries && setpriv && user
    }()

    static let reason: Comment = "needs Postgres 15 (\(PostgresSettings.debianBinDirectory): \(tools.joined(separator: ", "))), /usr/bin/setpriv, and the OS user 'postgres' when the tests run as root"
}

/// One member's Postgres for a test: a directory under /tmp (traversable by `postgres`), a
/// free port, a controller on a pool of its own, and a record of unexpected exits.
final class PostgresTestNode: Sendable {
    let name: String
    let root: String
    let port: Int
    let pool: NIOThreadPool
    let controller: PostgresController
    /// What `onUnexpectedExit` received.
    let unexpectedExits = NIOLockedValueBox<[Int32]>([])

    init(name: String) throws {
        self.name = name
        root = "/tmp/pgha-pg-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        port = try freeTCPPort()
        pool = NIOThreadPool(numberOfThreads: PostgresController.recommendedThreadCount)
        pool.start()
        let settings = PostgresSettings(
            memberName: name, dataDirectory: root + "/data", port: port, socketDirectory: root + "/sock",
            logFile: root + "/log/postgres.log",
            parameters: ["shared_buffers": "16MB", "max_connections": "30", "fsync": "off"],
            superuser: PostgresCredentials(user: "postgres", password: "su-secret:\(name)"),
            replication: PostgresCredentials(user: "replicator", password: "repl-'secret'"),
            initdbOptions: ["--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])  // no fsync: tests only
        var logger = Logger(label: "pgha.test.postgres.\(name)")
        // PGHA_TEST_LOG=debug shows what the controller did (tool output included).
        logger.logLevel = ProcessInfo.processInfo.environment["PGHA_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let exits = unexpectedExits
        controller = PostgresController(settings: settings, threadPool: pool, logger: logger) { status in
            exits.withLockedValue { $0.append(status) }
        }
    }

    /// Where other members reach this one.
    var upstream: PostgresUpstream { PostgresUpstream(member: name, host: "127.0.0.1", port: port) }

    /// Starts in `mode` and waits until Postgres accepts connections.
    func startAndWait(_ mode: PostgresStartMode) async throws {
        try await controller.start(mode)
        let ready = await controller.waitUntilReady(timeout: .seconds(30))
        try #require(ready, "\(name) did not become ready; log:\n\(controller.logTail())")
    }

    /// Stops the postmaster this test started (by its pid, SIGKILL if it lingers) and removes
    /// every directory.
    func cleanUp() async {
        await controller.stop(.immediate, timeout: .seconds(5))
        if let pid = controller.postmasterPID { kill(pid, SIGKILL) }
        try? await pool.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// Runs `body` with fresh nodes named `names`; always cleans them up, also when `body` throws.
func withPostgresNodes(_ names: [String], _ body: ([PostgresTestNode]) async throws -> Void) async throws {
    var nodes: [PostgresTestNode] = []
    do {
        for name in names { nodes.append(try PostgresTestNode(name: name)) }
        try await body(nodes)
    } catch {
        for node in nodes { await node.cleanUp() }
        throw error
    }
    for node in nodes { await node.cleanUp() }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns its last value.
func eventually(timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw PostgresError(.fileSystem, what: "socket() failed", location: "127.0.0.1", remedy: "none") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw PostgresError(.fileSystem, what: "binding port 0 failed", location: "127.0.0.1", remedy: "none") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether a process with `pid` exists (a zombie counts).
func processExists(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 || errno == EPERM }

/// Bootstraps `primary`, rebuilds `standby` from it, creates the standby's slot and starts it
/// streaming; returns once a row written on the primary is readable on the standby.
func makeStreamingPair(primary: PostgresTestNode, standby: PostgresTestNode) async throws {
    _ = try await primary.controller.bootstrap()
    try await standby.controller.rebuild(from: primary.upstream)
    try await primary.controller.syncSlots([PostgresController.slotName(for: standby.name)])
    try await standby.startAndWait(.standby(following: primary.upstream))
    _ = try await primary.controller.query("create table pair_check (x int); insert into pair_check values (1)")
    let replicated = await eventually { (try? await standby.controller.query("select count(*) from pair_check")) == [["1"]] }
    let streaming = await eventually { await standby.controller.observe().running?.streaming == true }
    try #require(replicated && streaming, "the standby \(standby.name) did not stream from \(primary.name)")
}
