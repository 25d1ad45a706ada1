import Foundation
import HACore
import NIOConcurrencyHelpers
import NIOHTTP1
import Testing
@testable import PGNode

/// The REST API on a real three-agent cluster, with Debian's HAProxy in front of it on the
/// configuration `HAProxyConfig` writes: every health endpoint's code on the primary and the
/// replicas (GET, HEAD and OPTIONS alike), the state documents, a planned switchover with no
/// acknowledged write lost and no two writers, HAProxy's read-write port following the
/// primary after the switchover and after kill -9 of the primary's agent, and a member whose
/// Postgres is down during maintenance mode.
@Suite(.serialized, .enabled(if: restClusterUnavailable == nil, "\(restClusterUnavailable ?? "")"))
struct RESTClusterProcessTests {
    static let dynamicConfig = #"{"synchronous_mode": "on"}"#

    @Test(.timeLimit(.minutes(5)))
    func endpointsSwitchoverAndHAProxyOnARealCluster() async throws {
        let fx = try AgentClusterFixture(dynamicConfig: Self.dynamicConfig)
        let proxy = NIOLockedValueBox<HAProxyProcess?>(nil)
        // Every exit path ends the agents, their Postgres and HAProxy before returning (the
        // agents are processes of their own: nothing else would stop them).
        do { try await Self.exercise(fx, proxy) } catch { Issue.record(error, "\(fx.logs())") }
        proxy.withLockedValue { $0 }?.stop()
        await fx.tearDown()
    }

    static func exercise(_ fx: AgentClusterFixture, _ proxy: NIOLockedValueBox<HAProxyProcess?>) async throws {
        try fx.startAll()
        guard let primary = await fx.waitHealthy() else {
            Issue.record("no primary with two streaming replicas within 120 s\n\(fx.logs())")
            return
        }
        let api = RESTProbe(fx.cluster)
        // The snapshots behind the API follow the store within a cycle or two.
        let settled = await eventually(.seconds(10)) { () -> Bool? in
            await api.status(primary, "/primary") == 200 ? true : nil
        }
        #expect(settled == true, "GET /primary on the primary did not answer 200\n\(fx.logs())")

        // Health endpoints: codes per role, and HEAD / OPTIONS answer like GET. The cluster runs
        // in synchronous_mode on: the standby named in the sync claim answers /sync, the other /async.
        // Each member's API answers from its own last cycle: wait until all agree with the claim.
        let claimed = await eventually(.seconds(15)) { () -> Int? in
            guard let c = await fx.view()?.sync, c.quorum > 0, let name = c.members.first, let idx = fx.index(of: name) else { return nil }
            for i in 1...3 where await api.status(i, "/sync") != (i == idx ? 200 : 503) { return nil }
            return idx
        }
        guard let syncIndex = claimed else {
            Issue.record("the members' /sync answers never agreed with a sync claim\n\(fx.logs())")
            return
        }
        for i in 1...3 {
            let isPrimary = i == primary
            let isSync = i == syncIndex
            for method in ["GET", "HEAD", "OPTIONS"] {
                for path in ["/", "/primary", "/leader", "/master", "/read-write"] {
                    #expect(await api.status(i, path, method: method) == (isPrimary ? 200 : 503), "\(method) \(path) on member \(i)")
                }
                #expect(await api.status(i, "/replica", method: method) == (isPrimary ? 503 : 200), "\(method) /replica on member \(i)")
                #expect(await api.status(i, "/read-only", method: method) == 200, "\(method) /read-only on member \(i)")
                #expect(await api.status(i, "/health", method: method) == 200)
                #expect(await api.status(i, "/liveness", method: method) == 200)
                #expect(await api.status(i, "/async", method: method) == (isPrimary || isSync ? 503 : 200), "\(method) /async on member \(i)")
                #expect(await api.status(i, "/sync", method: method) == (isSync ? 200 : 503), "\(method) /sync on member \(i)")
            }
            #expect(await api.status(i, "/readiness") == 200)
            #expect(await api.status(i, "/replica?lag=1TB") == (isPrimary ? 503 : 200))
            #expect(await api.status(i, "/replica?tag_nosuchtag=x") == 503)
            #expect(await api.status(i, "/no-such-path") == 404)
        }

        // State documents.
        let me = try #require(await api.json(primary, "/patroni"))
        #expect(me["role"]?.stringValue == "primary")
        #expect(me["state"]?.stringValue == "running")
        #expect(me["patroni"]?["name"]?.stringValue == fx.cluster.name(primary))
        #expect(me["xlog"]?["location"] != nil)
        let replicaIndex = (1...3).first { $0 != primary }!
        let replica = try #require(await api.json(replicaIndex, "/patroni"))
        #expect(replica["role"]?.stringValue == "replica")
        #expect(replica["xlog"]?["received_location"] != nil)
        #expect(replica["replication_state"]?.stringValue == "streaming")
        let cluster = try #require(await api.json(replicaIndex, "/cluster"))
        guard case .array(let members)? = cluster["members"] else { Issue.record("no members in /cluster: \(cluster)"); return }
        #expect(members.count == 3)
        #expect(members.filter { $0["role"]?.stringValue == "leader" }.count == 1)
        #expect(members.filter { $0["state"]?.stringValue == "streaming" }.count == 2)
        #expect(cluster["raft"]?["term"] != nil)
        #expect(await api.json(primary, "/config")?["maximum_lag_on_failover"] == .int(1_048_576))
        let metrics = await api.text(primary, "/metrics") ?? ""
        for name in ["pgha_raft_term", "pgha_primary", "pgha_lease_held", "pgha_store_fsync_seconds", "pgha_rest_requests_total"] {
            #expect(metrics.contains(name), "/metrics lacks \(name)")
        }
        // Unsafe methods need the credentials.
        #expect(await api.status(primary, "/switchover", method: "POST", body: "{\"leader\":\"x\"}", auth: false) == 401)

        // The CLI against the running cluster: exit codes and JSON output.
        let cli = CLIProbe(config: fx.cluster.configPath(replicaIndex))
        let list = await cli.run("list", "--format", "json")
        #expect(list.status == 0, "pgha list: \(list.stderr)")
        let rows = JSONValue(parsing: Array(list.stdout.utf8))?.arrayValue ?? []
        #expect(rows.count == 3, "pgha list --format json: \(list.stdout)")
        #expect(rows.filter { $0["Role"]?.stringValue == "Leader" }.map { $0["Member"]?.stringValue } == [fx.cluster.name(primary)])
        #expect(rows.filter { $0["State"]?.stringValue == "streaming" }.count == 2)
        let table = await cli.run("list")
        #expect(table.status == 0 && table.stdout.contains("Leader") && table.stdout.contains("Raft term"), "\(table.stdout)")
        #expect(await cli.run("topology").status == 0)
        #expect(await cli.run("history", "--format", "json").status == 0)
        let edited = await cli.run("edit-config", "--set", "maximum_lag_on_failover=2097152", "--force", "--quiet")
        #expect(edited.status == 0, "edit-config: \(edited.stdout)\(edited.stderr)")
        #expect(await api.json(primary, "/config")?["maximum_lag_on_failover"] == .int(2_097_152))
        let shown = await cli.run("show-config")
        #expect(shown.status == 0 && shown.stdout.contains("maximum_lag_on_failover: 2097152"), "\(shown.stdout)")
        let noCandidate = await cli.run("failover", "--force")
        #expect(noCandidate.status != 0, "failover without a candidate must fail: \(noCandidate.stdout)")
        let badCandidate = await cli.run("switchover", "--candidate", "nosuchmember", "--force")
        #expect(badCandidate.status != 0 && badCandidate.stderr.contains("Error"), "\(badCandidate.stdout)\(badCandidate.stderr)")
        let restart = await cli.run("restart", fx.cluster.name(replicaIndex), "--force")
        #expect(restart.status == 0, "restart: \(restart.stdout)\(restart.stderr)")
        let reload = await cli.run("reload", fx.cluster.name(replicaIndex), "--force")
        #expect(reload.status == 0, "reload: \(reload.stdout)\(reload.stderr)")
        #expect(await fx.waitHealthy(.seconds(30)) == primary, "the cluster is not healthy after a replica's restart\n\(fx.logs())")
        let reinit = await cli.run("reinit", fx.cluster.name(replicaIndex), "--force")
        #expect(reinit.status == 0, "reinit: \(reinit.stdout)\(reinit.stderr)")
        let rebuilt = await eventually(.seconds(60)) { () -> Bool? in
            fx.agentLog(replicaIndex).contains("taking a base backup") ? true : nil
        }
        #expect(rebuilt == true, "reinit did not take a base backup\n\(fx.logs())")
        #expect(await fx.waitHealthy(.seconds(60)) == primary, "the cluster is not healthy after a reinit\n\(fx.logs())")
        #expect(await cli.run("reinit", fx.cluster.name(primary), "--force").status != 0, "reinit of the leader must fail")

        // HAProxy in front, on the configuration `pgha haproxy-config` prints: the read-write
        // port reaches the primary.
        let rw = fx.cluster.ports[0].postgres + 45, ro = fx.cluster.ports[0].postgres + 46
        let printed = await cli.run("haproxy-config", "--primary-port", "\(rw)", "--replica-port", "\(ro)")
        #expect(printed.status == 0 && printed.stdout.contains("option httpchk OPTIONS /primary"), "\(printed.stdout)")
        let haproxy = try HAProxyProcess(configText: printed.stdout, directory: fx.directory)
        proxy.withLockedValue { $0 = haproxy }
        let throughProxy = "host=127.0.0.1 port=\(rw) user=postgres password=\(fx.cluster.superuserPassword) dbname=postgres connect_timeout=1"
        func proxiedServer() async -> Int? {
            let row = try? await PostgresSession.onThread {
                try PostgresSession(conninfo: throughProxy, location: "haproxy").rows("SELECT inet_server_port(), pg_is_in_recovery()")
            }
            guard let r = row?.first, r.count == 2, r[1] == "f", let port = r[0].flatMap({ Int($0) }) else { return nil }
            return port
        }
        let viaProxy = await eventually(.seconds(10)) { await proxiedServer() }
        #expect(viaProxy == fx.cluster.ports[primary - 1].postgres, "HAProxy's read-write port did not reach the primary")
        let readOnly = "host=127.0.0.1 port=\(ro) user=postgres password=\(fx.cluster.superuserPassword) dbname=postgres connect_timeout=1"
        let standby = await eventually(.seconds(10)) { () -> Bool? in
            let r = try? await PostgresSession.onThread { try PostgresSession(conninfo: readOnly, location: "haproxy ro").rows("SELECT pg_is_in_recovery()") }
            return r?.first?.first == "t" ? true : nil
        }
        #expect(standby == true, "HAProxy's read-only port did not reach a standby")

        // Planned switchover while writes flow: no acknowledged write lost, never two writers.
        _ = try await fx.query(primary, "CREATE TABLE pgha_sampler(member int, at timestamptz DEFAULT now())")
        _ = try await fx.query(primary, "CREATE TABLE pgha_acked(id bigint PRIMARY KEY)")
        let sampler = WriteSampler(conninfos: (1...3).map { fx.conninfo($0) })
        let writer = BenchWriter(conninfo: fx.primaryConninfo, table: "pgha_acked")
        sampler.start()
        writer.start()
        _ = await eventually(.seconds(20)) { writer.acknowledgedCount >= 25 ? true : nil }
        let answer = await cli.run("switchover", "--force")
        #expect(answer.status == 0, "pgha switchover: \(answer.stdout)\(answer.stderr)\n\(fx.logs())")
        #expect(answer.stdout.contains("Successfully switched over to"), "\(answer.stdout)")
        let new = await eventually(.seconds(30)) { () -> Int? in
            guard let v = await fx.view(), let p = fx.primary(in: v), p != primary else { return nil }
            return p
        }
        guard let new else {
            Issue.record("no new primary after the switchover\n\(fx.logs())")
            sampler.stop(); writer.stop()
            return
        }
        _ = await eventually(.seconds(20)) {
            writer.gap(from: fx.cluster.ports[primary - 1].postgres, to: fx.cluster.ports[new - 1].postgres) != nil ? true : nil
        }
        writer.stop()
        sampler.stop()
        let gap = writer.gap(from: fx.cluster.ports[primary - 1].postgres, to: fx.cluster.ports[new - 1].postgres)
        print("switchover: writes unavailable for \(gap.map { "\(Int($0)) ms" } ?? "?")")
        let stored = try await fx.query(new, "SELECT id FROM pgha_acked")
        let ids = Set(stored.compactMap { $0.first.flatMap { $0 }.flatMap(Int.init) })
        #expect(writer.acknowledgedIDs.subtracting(ids).isEmpty, "acknowledged writes missing after the switchover")
        #expect(sampler.violation() == nil, "two members accepted writes at once: \(sampler.violation() ?? "")")
        let back = await eventually(.seconds(30)) { () -> Bool? in
            guard let v = await fx.view(), let m = v.members[fx.cluster.name(primary)] else { return nil }
            return m.role == .replica && m.state == .running && m.streaming ? true : nil
        }
        #expect(back == true, "the old primary does not stream from the new one after the switchover\n\(fx.logs())")
        #expect(await eventually(.seconds(10)) { await api.status(new, "/primary") == 200 ? true : nil } == true)
        #expect(await api.status(primary, "/primary") == 503)
        if case .array(let rows)? = await api.json(new, "/history") {
            #expect(rows.last?.arrayValue?[2].stringValue == "switchover", "history: \(rows)")
        } else {
            Issue.record("/history is not an array")
        }
        let followed = await eventually(.seconds(10)) { await proxiedServer() == fx.cluster.ports[new - 1].postgres ? true : nil }
        #expect(followed == true, "HAProxy's read-write port did not follow the switchover")

        // Maintenance mode, and a member whose Postgres is down: the agent leaves it down.
        let pause = await cli.run("pause", "--wait")
        #expect(pause.status == 0, "pgha pause --wait: \(pause.stdout)\(pause.stderr)")
        for i in 1...3 { #expect(await api.json(i, "/patroni")?["pause"] == .bool(true), "member \(i) does not show pause: true") }
        #expect(await cli.run("pause").status != 0, "pausing a paused cluster must fail")
        let down = (1...3).first { $0 != new }!
        if let pm = fx.postmasterPID(down) { kill(pm, SIGKILL) }
        let seenDown = await eventually(.seconds(10)) { await api.status(down, "/health") == 503 ? true : nil }
        #expect(seenDown == true, "/health on a member whose Postgres is down is not 503")
        #expect(await api.status(down, "/replica") == 503)
        #expect(await api.status(down, "/liveness") == 200)
        try? await Task.sleep(for: .seconds(1))
        #expect(fx.postmasterPID(down) == nil, "the agent restarted Postgres in maintenance mode")
        let resume = await cli.run("resume", "--wait")
        #expect(resume.status == 0, "pgha resume --wait: \(resume.stdout)\(resume.stderr)")
        let restarted = await eventually(.seconds(20)) { await api.status(down, "/replica") == 200 ? true : nil }
        #expect(restarted == true, "after resume the member's Postgres did not come back\n\(fx.logs())")

        // kill -9 of the primary's agent: HAProxy's read-write port reaches the next primary.
        fx.cluster.signal(new, SIGKILL)
        let next = await eventually(.seconds(30)) { () -> Int? in
            guard let p = await proxiedServer(), p != fx.cluster.ports[new - 1].postgres else { return nil }
            return p
        }
        #expect(next != nil, "HAProxy's read-write port did not reach a new primary after kill -9\n\(fx.logs())")
    }
}

/// Why the REST cluster test cannot run here, or nil if it can.
let restClusterUnavailable: String? = {
    if let why = agentClusterUnavailable { return why }
    guard HAProxyProcess.locate() != nil else { return "haproxy is not installed (apt-get install haproxy)" }
    return nil
}()

/// Requests to the members' REST APIs (basic auth as the cluster's admin).
struct RESTProbe: Sendable {
    let cluster: LocalAgentCluster

    init(_ cluster: LocalAgentCluster) { self.cluster = cluster }

    func request(_ i: Int, _ path: String, method: String = "GET", body: String? = nil, auth: Bool = true)
        async -> (status: Int, text: String)? {
        guard let r = try? await RESTClient.request(method: HTTPMethod(rawValue: method), url: cluster.restURL(i) + path, body: body.map { Array($0.utf8) },
                                                    username: auth ? "admin" : nil, password: auth ? cluster.apiPassword : nil,
                                                    timeout: .seconds(40)) else { return nil }
        return (r.status, String(decoding: r.body, as: UTF8.self))
    }

    func status(_ i: Int, _ path: String, method: String = "GET", body: String? = nil, auth: Bool = true) async -> Int? {
        await request(i, path, method: method, body: body, auth: auth)?.status
    }

    func json(_ i: Int, _ path: String) async -> JSONValue? {
        guard let r = await request(i, path) else { return nil }
        return JSONValue(parsing: Array(r.text.utf8))
    }

    func text(_ i: Int, _ path: String) async -> String? { await request(i, path)?.text }
}

/// Runs the `pgha` CLI against the cluster (its credentials come from the member's config).
struct CLIProbe: Sendable {
    let config: String

    func run(_ arguments: String...) async -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: pghaBinary!)
        p.arguments = Array(arguments.prefix(1)) + ["--config", config] + Array(arguments.dropFirst())
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        return await withCheckedContinuation { continuation in
            Thread {
                do { try p.run() } catch {
                    continuation.resume(returning: (-1, "", "\(error)"))
                    return
                }
                let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                continuation.resume(returning: (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self)))
            }.start()
        }
    }
}
