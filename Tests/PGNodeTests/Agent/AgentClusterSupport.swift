import Foundation
import HACore
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import RaftCore
@testable import PGNode

/// Why the real-cluster tests cannot run here, or nil if they can.
let agentClusterUnavailable: String? = {
    guard pghaBinary != nil else { return "the pgha binary is not built (run `swift build` first)" }
    guard (try? PostgresBinaries.locate(configured: nil)) != nil else {
        return "PostgreSQL server binaries not found (apt-get install postgresql-15)"
    }
    if geteuid() == 0, getpwnam("postgres") == nil { return "running as root but there is no 'postgres' OS user to run Postgres" }
    return nil
}()

/// Whether `pid` is a live process (a zombie, exited but not yet reaped by its frozen parent,
/// counts as gone).
func isAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
}

/// A three-agent cluster in a temp folder for one test; removed by `tearDown()`.
final class AgentClusterFixture: @unchecked Sendable {
    let cluster: LocalAgentCluster
    let directory: String
    let group = MultiThreadedEventLoopGroup.singleton
    let client: StoreClient

    init(parameters: [String: String] = [:], dynamicConfig: String? = nil, memberTags: [Int: String] = [:],
         postgresExtra: [Int: [String]] = [:]) throws {
        directory = "/tmp/pgha-agent-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var made: LocalAgentCluster?
        var lastError: (any Error)?
        for _ in 0..<20 {
            // Below Linux's ephemeral range (32768–60999): no client connection can take these ports
            // between the check and the agents' start.
            let base = Int.random(in: 100...320) * 100
            do {
                made = try LocalAgentCluster(binary: pghaBinary!, directory: directory, size: 3, portBase: base,
                                             cluster: "test", postgresParameters: parameters, dynamicConfig: dynamicConfig,
                                             memberTags: memberTags, postgresExtra: postgresExtra)
                break
            } catch { lastError = error }
        }
        guard let made else { throw lastError ?? StartRefused(reason: "no free ports") }
        cluster = made
        client = cluster.client(group: group)
    }

    func startAll() throws { for i in 1...3 { try cluster.start(i) } }

    func tearDown() async {
        await cluster.stopAll(grace: .seconds(20))
        await client.close()
        // Postmasters die with their agents (parent-death signal); make sure, by the PIDs in
        // postmaster.pid, before removing the folder.
        for i in 1...3 { if let pid = postmasterPID(i) { kill(pid, SIGKILL) } }
        if ProcessInfo.processInfo.environment["PGHA_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// The cluster as the store shows it.
    func view() async -> ClusterView? { await cluster.view(client) }

    /// Member index (1-based) of the running primary, if exactly one reports it.
    func primary(in view: ClusterView) -> Int? {
        let p = view.members.values.filter { $0.role == .primary && $0.state == .running }
        guard p.count == 1, let name = p.first?.name else { return nil }
        return index(of: name)
    }

    func index(of name: String) -> Int? { (1...3).first { cluster.name($0) == name } }

    /// Waits for one running primary and two streaming replicas; returns the primary's index.
    func waitHealthy(_ timeout: Duration = .seconds(120)) async -> Int? {
        await eventually(timeout) { () -> Int? in
            guard let p = await self.view()?.healthyPrimary(size: 3) else { return nil }
            return self.index(of: p.name)
        }
    }

    /// The PID in member `i`'s postmaster.pid, if the file exists and that process is alive.
    func postmasterPID(_ i: Int) -> Int32? {
        guard let text = try? String(contentsOfFile: cluster.postgresDataDirectory(i) + "/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n").first, let pid = Int32(first), isAlive(pid) else { return nil }
        return pid
    }

    /// libpq conninfo for member `i`'s Postgres over TCP.
    func conninfo(_ i: Int, timeout: Int = 1) -> String {
        "host=127.0.0.1 port=\(cluster.ports[i - 1].postgres) user=postgres password=\(cluster.superuserPassword) "
            + "dbname=postgres connect_timeout=\(timeout) options='-c statement_timeout=2000'"
    }

    /// The multi-host conninfo that finds the writable primary.
    var primaryConninfo: String {
        "host=127.0.0.1,127.0.0.1,127.0.0.1 port=\(cluster.ports.map { "\($0.postgres)" }.joined(separator: ",")) "
            + "user=postgres password=\(cluster.superuserPassword) dbname=postgres connect_timeout=1 "
            + "target_session_attrs=read-write options='-c statement_timeout=2000'"
    }

    /// Runs `sql` on member `i` (blocking libpq on a thread of its own).
    func query(_ i: Int, _ sql: String) async throws -> [[String?]] {
        try await PostgresSession.onThread { try PostgresSession(conninfo: self.conninfo(i), location: "member \(i)").rows(sql) }
    }

    func agentLog(_ i: Int) -> String { (try? String(contentsOfFile: cluster.agentLogPath(i), encoding: .utf8)) ?? "" }

    /// The tail of every agent's log, for a failure message.
    func logs(lines: Int = 40) -> String {
        (1...3).map { i in
            "--- \(cluster.name(i)) agent log:\n" + agentLog(i).split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// Starts member `i`'s data directory as a standalone server on `port` (not under its
    /// agent), as the OS user that owns the data; returns the process once it accepts
    /// connections. Stop it with SIGINT.
    func startStandalone(_ i: Int, port: Int) async throws -> Process {
        let bin = try PostgresBinaries.locate(configured: nil)
        let server = [bin + "/postgres", "-D", cluster.postgresDataDirectory(i), "-p", "\(port)",
                      "-c", "listen_addresses=127.0.0.1", "-c", "synchronous_standby_names="]
        let p = Process()
        if geteuid() == 0 {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid", "postgres", "--regid", "postgres", "--init-groups", "--"] + server
        } else {
            p.executableURL = URL(fileURLWithPath: server[0])
            p.arguments = Array(server.dropFirst())
        }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let info = "host=127.0.0.1 port=\(port) user=postgres password=\(cluster.superuserPassword) dbname=postgres connect_timeout=1"
        let up = await eventually(.seconds(60)) { () -> Bool? in
            (try? await PostgresSession.onThread { try PostgresSession(conninfo: info, location: "standalone").rows("select 1") }) != nil ? true : nil
        }
        guard up == true else {
            p.terminate()
            throw StartRefused(reason: "the standalone server on port \(port) did not come up")
        }
        return p
    }
}

/// Attempts a write on every member every few milliseconds, each member on its own thread
/// with its own connection, and records when each write started and ended (monotonic clock)
/// and whether it was acknowledged. `violation()` says whether two members ever accepted
/// writes in overlapping windows.
final class WriteSampler: @unchecked Sendable {
    struct Attempt {
        var start: UInt64
        var end: UInt64
        var ok: Bool
    }

    private let conninfos: [String]
    private let stopped = NIOLockedValueBox(false)
    private let attempts: NIOLockedValueBox<[[Attempt]]>
    private var threads: [Thread] = []
    private let done = DispatchGroup()

    init(conninfos: [String]) {
        self.conninfos = conninfos
        attempts = NIOLockedValueBox(Array(repeating: [], count: conninfos.count))
    }

    func start() {
        for (i, info) in conninfos.enumerated() {
            done.enter()
            let t = Thread { [self] in
                defer { done.leave() }
                var session: PostgresSession?
                while !stopped.withLockedValue({ $0 }) {
                    if session == nil { session = try? PostgresSession(conninfo: info, location: "sampler \(i + 1)") }
                    guard let s = session else {
                        usleep(20_000)
                        continue
                    }
                    let start = DispatchTime.now().uptimeNanoseconds
                    var ok = true
                    do { _ = try s.rows("INSERT INTO pgha_sampler(member) VALUES (\(i + 1))") } catch {
                        ok = false
                        session = nil
                    }
                    let end = DispatchTime.now().uptimeNanoseconds
                    attempts.withLockedValue { $0[i].append(Attempt(start: start, end: end, ok: ok)) }
                    usleep(5_000)
                }
            }
            threads.append(t)
            t.start()
        }
    }

    func stop() {
        stopped.withLockedValue { $0 = true }
        done.wait()
    }

    /// Acknowledged writes per member.
    var acknowledged: [Int] { attempts.withLockedValue { $0.map { $0.filter(\.ok).count } } }

    /// A description of the first time two members accepted writes in overlapping windows, or
    /// nil. Writes are grouped into runs (consecutive acknowledged writes of one member in
    /// start order); a run must end before the next member's run starts.
    func violation() -> String? {
        var all: [(member: Int, a: Attempt)] = []
        for (m, list) in attempts.withLockedValue({ $0 }).enumerated() { for a in list where a.ok { all.append((m + 1, a)) } }
        all.sort { $0.a.start < $1.a.start }
        var runs: [(member: Int, start: UInt64, end: UInt64, count: Int)] = []
        for w in all {
            if var last = runs.last, last.member == w.member {
                last.end = max(last.end, w.a.end)
                last.count += 1
                runs[runs.count - 1] = last
            } else {
                runs.append((w.member, w.a.start, w.a.end, 1))
            }
        }
        for (x, y) in zip(runs, runs.dropFirst()) where x.end >= y.start {
            return "member \(x.member) acknowledged a write until \(x.end / 1_000_000) ms while member \(y.member) "
                + "already accepted one from \(y.start / 1_000_000) ms (runs of \(x.count) and \(y.count) writes)"
        }
        return nil
    }
}
