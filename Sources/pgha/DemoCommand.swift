import ArgumentParser
import Foundation
import HACore
import Logging
import NIOPosix
import PGNode

/// `pgha demo`: a three-node cluster on this machine in one command.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a three-node pgha cluster on this machine: three agents, three Postgres servers, live status.",
        discussion: """
        Creates the members under --dir, starts one `pgha run` agent per member (separate \
        processes), waits for one primary and two streaming replicas, prints the connection \
        strings and writes them to <dir>/demo.json. Kill an agent (kill -9 <pid>) to watch a \
        failover: the dead agent is started again after --restart-after seconds and its old \
        primary rejoins as a replica. Ctrl-C stops everything cleanly.
        """)

    @Option(help: "Where the members live (default: a new folder pgha-demo-<time> in the current directory).")
    var dir: String?
    @Option(help: "First port: Postgres on base, base+1, base+2; Raft on base+10…; the store's clients on base+20….")
    var portBase: Int = 15432
    @Option(help: "Seconds before an agent that died is started again (0: never).") var restartAfter: Int = 5
    @Option(help: "Number of members (3 or 5).") var nodes: Int = 3
    @Option(help: "synchronous_mode of the new cluster (off, on or quorum; change it later with pgha edit-config).")
    var syncMode: String = "off"
    @Flag(help: "Stop a demo left running in --dir, then exit.") var stop = false

    func validate() throws {
        guard [3, 5].contains(nodes) else { throw ValidationError("--nodes must be 3 or 5") }
        guard (1024...65_000).contains(portBase) else { throw ValidationError("--port-base must be in 1024...65000") }
        if stop && dir == nil { throw ValidationError("--stop needs --dir (the demo's folder)") }
    }

    func run() async throws {
        if stop {
            try DemoState.stop(directory: absolute(dir!))
            return
        }
        let bin: String
        do { bin = try PostgresBinaries.locate(configured: nil) } catch {
            print("pgha demo needs PostgreSQL's server binaries.\n\(error)")
            throw ExitCode(2)
        }
        var directory = absolute(dir ?? "pgha-demo-\(Self.timestamp())")
        if geteuid() == 0, dir == nil, !Self.isReachable(FileManager.default.currentDirectoryPath, by: "postgres") {
            // As root, Postgres runs as `postgres`, which cannot enter this folder (a clone in
            // /root, say): put the default folder where it can.
            directory = "/tmp/pgha-demo-\(Self.timestamp())"
            print("note: the 'postgres' user cannot reach \(FileManager.default.currentDirectoryPath); the members go to \(directory)")
        }
        if FileManager.default.fileExists(atPath: directory + "/demo.json") {
            throw StartRefused(reason: "\(directory) already holds a demo (demo.json); stop it with `pgha demo --stop --dir \(directory)` and remove the folder, or choose another --dir")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if geteuid() == 0 { try Self.checkReachable(directory, by: "postgres") }
        guard ["off", "on", "quorum"].contains(syncMode) else { throw ValidationError("--sync-mode must be off, on or quorum") }
        let cluster = try LocalAgentCluster(binary: Self.executablePath(), directory: directory, size: nodes, portBase: portBase,
                                            dynamicConfig: syncMode == "off" ? nil : #"{"synchronous_mode": ""# + syncMode + #""}"#)
        print("pgha demo: \(nodes) members under \(directory) (Postgres binaries: \(bin))")
        print("starting \(nodes) agents…")
        fflush(nil)
        for i in 1...nodes { try cluster.start(i) }
        let client = cluster.client(group: MultiThreadedEventLoopGroup.singleton)
        let state = DemoState(cluster: cluster)
        state.write()

        let clock = ContinuousClock()
        let started = clock.now
        var ready: ClusterView?
        while clock.now - started < .seconds(180) {
            if let dead = (1...nodes).first(where: { cluster.hasExited($0) }) {
                print("agent \(cluster.name(dead)) exited during start-up; the end of its log (\(cluster.agentLogPath(dead))):")
                print(Self.tail(cluster.agentLogPath(dead), lines: 25))
                await cluster.stopAll()
                throw ExitCode(1)
            }
            if let view = await cluster.view(client), view.healthyPrimary(size: nodes) != nil {
                ready = view
                break
            }
            try? await Task.sleep(for: .milliseconds(300))
        }
        guard let ready else {
            print("the cluster did not come up within 3 minutes; agent logs are in \(directory)/pg*/agent.log")
            await cluster.stopAll()
            throw ExitCode(1)
        }
        let elapsed = clock.now - started
        print("cluster ready in \(Self.seconds(elapsed)) s: one primary, \(nodes - 1) streaming replicas\n")
        print(Self.table(ready, cluster: cluster))
        print("""

            Connect (psql, or any libpq client):
              read-write:     psql '\(cluster.primaryDSN)'
              prefer standby: psql '\(cluster.standbyDSN)'
            REST API (Patroni's paths): curl \(cluster.restURL(1))/cluster   (unsafe methods: user admin, password in demo.json)
            CLI: pgha list --config \(cluster.configPath(1))      pgha switchover --config \(cluster.configPath(1)) --force
            Facts in \(directory)/demo.json. Watch a failover: kill -9 the primary's agent PID above.
            Ctrl-C stops the cluster; `pgha demo --stop --dir \(directory)` stops it from elsewhere.

            """)
        fflush(nil)

        let monitor = Task { await Self.monitor(cluster: cluster, client: client, state: state, restartAfter: restartAfter, initial: ready) }
        let signal = await waitForTerminationSignal()
        print("\n\(signal): stopping the cluster…")
        fflush(nil)
        monitor.cancel()
        _ = await monitor.value
        await cluster.stopAll()
        await client.close()
        state.markStopped()
        print("stopped. The members' data stays in \(directory).")
    }

    // MARK: Monitoring

    /// Prints role and state changes as they happen; restarts agents that died.
    static func monitor(cluster: LocalAgentCluster, client: StoreClient, state: DemoState, restartAfter: Int,
                        initial: ClusterView) async {
        var last = initial.members
        var deadSince: [Int: ContinuousClock.Instant] = [:]
        let clock = ContinuousClock()
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(300))
            if Task.isCancelled { break }
            for i in 1...cluster.size {
                if cluster.hasExited(i), deadSince[i] == nil {
                    deadSince[i] = clock.now
                    say("agent \(cluster.name(i)) exited" + (restartAfter > 0 ? "; starting it again in \(restartAfter) s" : ""))
                }
                if let since = deadSince[i], restartAfter > 0, clock.now - since >= .seconds(restartAfter) {
                    deadSince[i] = nil
                    if let pid = try? cluster.start(i) {
                        say("agent \(cluster.name(i)) started again (pid \(pid))")
                        state.write()
                    }
                }
            }
            guard let view = await cluster.view(client) else { continue }
            for (name, m) in view.members.sorted(by: { $0.key < $1.key }) {
                let before = last[name]
                if before?.role != m.role || before?.state != m.state || before?.timeline != m.timeline || before?.streaming != m.streaming {
                    say("\(name): \(describe(before)) → \(describe(m))")
                }
            }
            for name in view.staleMembers.keys.sorted() where last[name] != nil {
                say("\(name): \(describe(last[name])) → no report for \(ClusterState.defaultStaleAfterMs / 1000) s (agent down or cut off)")
            }
            last = view.members
        }
    }

    static func describe(_ m: MemberStatus?) -> String {
        guard let m else { return "unknown" }
        var s = "\(m.role.rawValue) \(m.state.rawValue)"
        if m.role == .replica && m.state == .running { s += m.streaming ? " streaming" : " not streaming" }
        if let t = m.timeline { s += " (timeline \(t))" }
        return s
    }

    static func say(_ line: String) {
        let f = DateFormatter()
        f.dateFormat = "HH:mm:ss.SSS"
        print("\(f.string(from: Date()))  \(line)")
        fflush(nil)
    }

    // MARK: Output

    static func table(_ view: ClusterView, cluster: LocalAgentCluster) -> String {
        let primaryLSN = view.members.values.first { $0.role == .primary }?.walPosition
        var rows = [["member", "role", "state", "timeline", "lag", "postgres", "rest api", "agent pid"]]
        for i in 1...cluster.size {
            let name = cluster.name(i)
            guard let m = view.members[name] else {
                rows.append([name, "?", view.staleMembers[name] != nil ? "no recent report" : "?", "", "",
                             "127.0.0.1:\(cluster.ports[i - 1].postgres)", cluster.restURL(i), cluster.pid(i).map { "\($0)" } ?? "-"])
                continue
            }
            var lag = ""
            if m.role == .replica, let p = primaryLSN, let r = m.lsn { lag = "\(p.bytes(after: r)) B" }
            var state = m.state.rawValue
            if m.role == .replica, m.state == .running { state = m.streaming ? "streaming" : "running" }
            rows.append([name, m.role.rawValue, state, m.timeline.map { "\($0)" } ?? "", lag,
                         "127.0.0.1:\(cluster.ports[i - 1].postgres)", cluster.restURL(i), cluster.pid(i).map { "\($0)" } ?? "-"])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { r in r.enumerated().map { $0.element.padding(toLength: widths[$0.offset] + 2, withPad: " ", startingAt: 0) }
            .joined().trimmingCharacters(in: .whitespaces) }.joined(separator: "\n")
    }

    // MARK: Environment

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Whether the OS user `user` can enter `directory`.
    static func isReachable(_ directory: String, by user: String) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid", user, "--regid", user, "--init-groups", "--", "/usr/bin/test", "-x", directory]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    /// As root, Postgres runs as `user`, which must be able to reach `directory`.
    static func checkReachable(_ directory: String, by user: String) throws {
        guard isReachable(directory, by: user) else {
            throw StartRefused(reason: "the OS user '\(user)' (who runs Postgres when pgha runs as root) cannot reach "
                + "\(directory): a folder above it is closed to other users. Run with --dir under a folder it can reach, "
                + "for example: pgha demo --dir /tmp/pgha-demo")
        }
    }

    static func timestamp() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.string(from: Date())
    }

    static func seconds(_ d: Duration) -> String {
        String(format: "%.1f", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }

    static func tail(_ path: String, lines: Int) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

/// `<dir>/demo.json`: the members (name, Postgres address, agent PID, data directory, config)
/// and the connection strings, kept current while the demo runs.
final class DemoState: @unchecked Sendable {
    struct Member: Codable {
        var name: String
        var postgres: String
        var agentPID: Int32?
        var dataDirectory: String
        var config: String
        var restURL: String
        enum CodingKeys: String, CodingKey {
            case name, postgres, agentPID = "agent_pid", dataDirectory = "data_dir", config, restURL = "rest_url"
        }
    }

    struct File: Codable {
        var cluster: String
        var directory: String
        var demoPID: Int32
        var running: Bool
        var members: [Member]
        var dsn: String
        var dsnPreferStandby: String
        var restUser: String
        var restPassword: String
        enum CodingKeys: String, CodingKey {
            case cluster, directory, demoPID = "demo_pid", running, members, dsn, dsnPreferStandby = "dsn_prefer_standby"
            case restUser = "rest_user", restPassword = "rest_password"
        }
    }

    let cluster: LocalAgentCluster
    init(cluster: LocalAgentCluster) { self.cluster = cluster }

    func write(running: Bool = true) {
        let members = (1...cluster.size).map { i in
            Member(name: cluster.name(i), postgres: "127.0.0.1:\(cluster.ports[i - 1].postgres)", agentPID: cluster.pid(i),
                   dataDirectory: cluster.postgresDataDirectory(i), config: cluster.configPath(i), restURL: cluster.restURL(i))
        }
        let file = File(cluster: cluster.cluster, directory: cluster.directory, demoPID: getpid(), running: running,
                        members: members, dsn: cluster.primaryDSN, dsnPreferStandby: cluster.standbyDSN,
                        restUser: "admin", restPassword: cluster.apiPassword)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        if let data = try? e.encode(file) { try? data.write(to: URL(fileURLWithPath: cluster.directory + "/demo.json"), options: .atomic) }
    }

    func markStopped() { write(running: false) }

    /// Stops the demo recorded in `directory`: SIGTERM to the demo process if it still runs
    /// (it stops its agents), else to each agent that is still a `pgha run` process.
    static func stop(directory: String) throws {
        let path = directory + "/demo.json"
        guard let data = FileManager.default.contents(atPath: path), let file = try? JSONDecoder().decode(File.self, from: data) else {
            throw StartRefused(reason: "no demo.json in \(directory): is this a pgha demo folder?")
        }
        var targets: [Int32] = []
        if isProcess(file.demoPID, running: ["pgha", "demo"]) { targets.append(file.demoPID) } else {
            targets = file.members.compactMap(\.agentPID).filter { isProcess($0, running: ["pgha", "run"]) }
        }
        guard !targets.isEmpty else {
            print("nothing of the demo in \(directory) is running")
            return
        }
        for pid in targets { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, targets.contains(where: { kill($0, 0) == 0 }) { usleep(100_000) }
        let left = targets.filter { kill($0, 0) == 0 }
        for pid in left { kill(pid, SIGKILL) }
        print("stopped the demo in \(directory)" + (left.isEmpty ? "" : " (killed \(left.count) process(es) that did not stop in 60 s)"))
    }

    /// Whether `pid` runs a command line containing every word of `words` (so a reused PID is
    /// never signalled).
    static func isProcess(_ pid: Int32, running words: [String]) -> Bool {
        guard pid > 0, let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return words.allSatisfy { w in args.contains { $0 == w || $0.hasSuffix("/" + w) } }
    }
}
