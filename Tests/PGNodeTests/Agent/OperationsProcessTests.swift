import Foundation
import HACore
import NIOConcurrencyHelpers
import Testing
@testable import PGNode

/// Operations on real clusters (three `pgha run` agents, real Postgres 15):
/// - dynamic Postgres parameters: a reload-only parameter set with `edit-config` reaches every
///   member; a restart-only one shows `pending_restart` (with the reason) until `pgha restart`;
/// - a scheduled restart runs at its time, and `DELETE /restart` cancels one;
/// - `reinit` of a replica takes its base backup from the member tagged `clonefrom`;
/// - maintenance mode: the primary's Postgres killed while paused is neither restarted nor
///   replaced; after `resume` the cluster recovers;
/// - `pre_promote` exiting 1 cancels a promotion and the next candidate is promoted; callbacks
///   run with action, role and cluster name.
@Suite(.serialized, .enabled(if: agentClusterUnavailable == nil, "\(agentClusterUnavailable ?? "")"))
struct OperationsProcessTests {
    /// A folder of hook scripts for one test, removed afterwards.
    final class Hooks: @unchecked Sendable {
        let directory = "/tmp/pgha-hooks-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

        init() throws {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for i in 1...3 {
                try script("callback-pg\(i).sh", "echo \"$@\" >> \(directory)/callbacks-pg\(i).log\nexit 0")
            }
            try script("refuse.sh", "echo \"$@\" >> \(directory)/pre_promote.log\nexit 1")
        }

        func script(_ name: String, _ body: String) throws {
            let path = directory + "/" + name
            try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
        }

        func path(_ name: String) -> String { directory + "/" + name }
        func log(_ name: String) -> String { (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "" }
        func remove() { try? FileManager.default.removeItem(atPath: directory) }

        /// `postgresql:` lines: every member runs its callback script for every event.
        func callbackLines(_ i: Int) -> [String] {
            let c = path("callback-pg\(i).sh")
            return ["callbacks: { on_start: \(c), on_stop: \(c), on_restart: \(c), on_reload: \(c), on_role_change: \(c) }"]
        }
    }

    @Test(.timeLimit(.minutes(6)))
    func parametersScheduledRestartReinitAndPause() async throws {
        let hooks = try Hooks()
        defer { hooks.remove() }
        let fx = try AgentClusterFixture(memberTags: [2: "{ replicatefrom: pg3, rack: r7 }", 3: "{ clonefrom: true }"],
                                         postgresExtra: [1: hooks.callbackLines(1), 2: hooks.callbackLines(2), 3: hooks.callbackLines(3)])
        try fx.startAll()
        do { try await Self.operations(fx, hooks) } catch { Issue.record("\(error)\n\(fx.logs())") }
        await fx.tearDown()
    }

    @Test(.timeLimit(.minutes(4)))
    func prePromoteRefusalPromotesTheNextCandidate() async throws {
        let hooks = try Hooks()
        defer { hooks.remove() }
        var extra: [Int: [String]] = [1: hooks.callbackLines(1), 3: hooks.callbackLines(3)]
        extra[2] = hooks.callbackLines(2) + ["pre_promote: \(hooks.path("refuse.sh"))"]
        let fx = try AgentClusterFixture(memberTags: [2: "{ failover_priority: 10 }"], postgresExtra: extra)
        try fx.startAll()
        do { try await Self.prePromote(fx, hooks) } catch { Issue.record("\(error)\n\(fx.logs())") }
        await fx.tearDown()
    }

    // MARK: Scenarios

    static func operations(_ fx: AgentClusterFixture, _ hooks: Hooks) async throws {
        // pg1 primary, so that pg3 (clonefrom) is a standby.
        guard var p = await makePrimary(1, fx) else { return }
        let probe = RESTProbe(fx.cluster)
        let cli = CLIProbe(config: fx.cluster.configPath(1))

        // pg2 cascades from pg3 (replicatefrom), without a slot on the primary; its custom tag is shown.
        let cascading = await eventually(.seconds(20)) { () -> Bool? in
            let port = (try? await fx.query(2, "SELECT sender_port FROM pg_stat_wal_receiver"))?.first?.first ?? nil
            return port == "\(fx.cluster.ports[2].postgres)" ? true : nil
        }
        #expect(cascading == true, "pg2 does not stream from pg3\n\(fx.logs())")
        let slots = await eventually(.seconds(10)) { () -> [String]? in
            let rows = (try? await fx.query(p, "SELECT slot_name FROM pg_replication_slots ORDER BY 1")) ?? []
            let names = rows.compactMap { $0.first ?? nil }
            return names.contains("pg2") ? nil : names
        }
        #expect(slots == ["pg3"], "the primary keeps slots \(slots ?? []) (none for the cascading pg2 expected)")
        #expect(await probe.json(2, "/patroni")?["tags", "rack"] == "r7")

        // A reload-only parameter reaches every member.
        let set = await cli.run("edit-config", "--pg", "work_mem=7MB", "--force", "--quiet")
        #expect(set.status == 0, "edit-config failed: \(set.stdout)\(set.stderr)")
        for i in 1...3 {
            let applied = await eventually(.seconds(15)) { () -> Bool? in
                (try? await fx.query(i, "SHOW work_mem"))?.first?.first == "7MB" ? true : nil
            }
            #expect(applied == true, "work_mem did not reach \(fx.cluster.name(i))")
        }
        let reloaded = await eventually(.seconds(10)) { (1...3).allSatisfy { hooks.log("callbacks-pg\($0).log").contains("on_reload") } ? true : nil }
        #expect(reloaded == true, "on_reload did not run on every member: \((1...3).map { hooks.log("callbacks-pg\($0).log") })")

        // A restart-only parameter: pending_restart with the reason, until each member restarts.
        let set2 = await cli.run("edit-config", "--pg", "shared_buffers=64MB", "--force", "--quiet")
        #expect(set2.status == 0, "edit-config failed: \(set2.stdout)\(set2.stderr)")
        for i in 1...3 {
            let pending = await eventually(.seconds(20)) { () -> String? in
                guard let doc = await probe.json(i, "/patroni"), doc["pending_restart"]?.boolValue == true,
                      let reason = doc["pending_restart_reason"]?["shared_buffers"]?.stringValue else { return nil }
                return reason
            }
            #expect(pending?.contains("64MB") == true, "\(fx.cluster.name(i)) does not show shared_buffers pending a restart: \(pending ?? "-")")
        }
        let listed = await eventually(.seconds(10)) { () -> String? in
            let out = await cli.run("list").stdout
            return out.contains("Pending restart") ? out : nil
        }
        #expect(listed != nil, "pgha list shows no pending restart")
        for i in (1...3).sorted(by: { a, _ in a != p }) {
            let r = await cli.run("restart", fx.cluster.name(i), "--force")
            #expect(r.status == 0, "pgha restart \(fx.cluster.name(i)) failed: \(r.stdout)\(r.stderr)")
            let done = await eventually(.seconds(30)) { () -> Bool? in
                guard (try? await fx.query(i, "SHOW shared_buffers"))?.first?.first == "64MB",
                      let doc = await probe.json(i, "/patroni"), doc["pending_restart"] == nil else { return nil }
                return true
            }
            #expect(done == true, "\(fx.cluster.name(i)) still pending a restart after pgha restart")
        }
        #expect(hooks.log("callbacks-pg\(p).log").contains("on_restart primary test"), "on_restart did not run on the primary with its role and the cluster name")
        guard let healthy = await fx.waitHealthy() else { Issue.record("the cluster did not heal after the restarts\n\(fx.logs())"); return }
        p = healthy

        // A scheduled restart runs at its time; a second one is cancelled.
        let r = (1...3).first { $0 != p && $0 != 3 }!
        let before = fx.postmasterPID(r)
        let at = StatusDocuments.iso8601(unixMs: UInt64(Date().timeIntervalSince1970 * 1000) + 4_000)
        let scheduled = await probe.request(r, "/restart", method: "POST", body: "{\"schedule\": \"\(at)\"}")
        #expect(scheduled?.status == 202, "scheduling a restart answered \(scheduled.map { "\($0.status) \($0.text)" } ?? "nothing")")
        let shown = await eventually(.seconds(5)) { await probe.json(r, "/patroni")?["scheduled_restart"] != nil ? true : nil }
        #expect(shown == true, "/patroni does not show the scheduled restart")
        let restarted = await eventually(.seconds(20)) { () -> Bool? in
            guard let now = fx.postmasterPID(r), now != before else { return nil }
            return true
        }
        #expect(restarted == true, "the scheduled restart did not happen")
        let later = StatusDocuments.iso8601(unixMs: UInt64(Date().timeIntervalSince1970 * 1000) + 3_600_000)
        #expect(await probe.status(r, "/restart", method: "POST", body: "{\"schedule\": \"\(later)\"}") == 202)
        // The schedule survives a restart of the agent (it is read back from the member's report).
        let inHalfAnHour = UInt64(Date().timeIntervalSince1970 * 1000) + 1_800_000
        let reported = await eventually(.seconds(10)) { () -> Bool? in
            guard let at = await fx.view()?.members[fx.cluster.name(r)]?.scheduledRestartAtMs, at > inHalfAnHour else { return nil }
            return true
        }
        #expect(reported == true, "the member's report does not carry the scheduled restart")
        fx.cluster.signal(r, SIGTERM)
        #expect(await fx.cluster.waitForExit(r, timeout: .seconds(60)) != nil, "the agent did not stop on SIGTERM")
        _ = try fx.cluster.start(r)
        let kept = await eventually(.seconds(30)) { await probe.json(r, "/patroni")?["scheduled_restart"] != nil ? true : nil }
        #expect(kept == true, "the scheduled restart was lost with the agent restart\n\(fx.logs())")
        let cancel = await probe.request(r, "/restart", method: "DELETE")
        #expect(cancel?.status == 200, "cancelling answered \(cancel.map { "\($0.status) \($0.text)" } ?? "nothing")")
        #expect(await probe.status(r, "/restart", method: "DELETE") == 404)
        let cancelled = await eventually(.seconds(5)) { await probe.json(r, "/patroni")?["scheduled_restart"] == nil ? true : nil }
        #expect(cancelled == true, "/patroni still shows the cancelled restart")

        // reinit takes the base backup from the clonefrom member (pg3), a streaming standby.
        #expect(p != 3)
        do {
            let reinit = await cli.run("reinit", fx.cluster.name(r), "--force")
            #expect(reinit.status == 0, "pgha reinit failed: \(reinit.stdout)\(reinit.stderr)")
            let cloned = await eventually(.seconds(60)) { () -> Bool? in
                fx.agentLog(r).contains("source=pg3 [PGNode] reinitializing this member (asked over the REST API)") ? true : nil
            }
            #expect(cloned == true, "reinit did not take its base backup from the clonefrom member pg3")
            #expect(await fx.waitHealthy() != nil, "the cluster did not heal after reinit")
        }

        // Maintenance mode: the primary's Postgres dies; nothing restarts or replaces it.
        guard let primary = await fx.waitHealthy() else { Issue.record("no healthy cluster before pause\n\(fx.logs())"); return }
        let pause = await cli.run("pause", "--wait")
        #expect(pause.status == 0, "pgha pause failed: \(pause.stdout)\(pause.stderr)")
        let historyBefore = await fx.view()?.history.count
        guard let postmaster = fx.postmasterPID(primary) else { Issue.record("no postmaster on the primary"); return }
        kill(postmaster, SIGKILL)
        let gone = await eventually(.seconds(5)) { !isAlive(postmaster) ? true : nil }
        #expect(gone == true, "the killed postmaster is still alive")
        let until = ContinuousClock.now + .seconds(6)
        while ContinuousClock.now < until {
            #expect(fx.postmasterPID(primary) == nil, "the paused primary's Postgres was restarted")
            for i in (1...3) where i != primary {
                if let row = try? await fx.query(i, "SELECT pg_is_in_recovery()"), row.first?.first == "f" {
                    Issue.record("\(fx.cluster.name(i)) was promoted during maintenance mode")
                }
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(await fx.view()?.history.count == historyBefore, "a promotion was recorded during maintenance mode")
        let resume = await cli.run("resume", "--wait")
        #expect(resume.status == 0, "pgha resume failed: \(resume.stdout)\(resume.stderr)")
        #expect(await fx.waitHealthy(.seconds(60)) != nil, "the cluster did not recover after resume\n\(fx.logs())")
    }

    /// Waits for a healthy cluster and, unless member `i` is its primary, switches over to it.
    static func makePrimary(_ i: Int, _ fx: AgentClusterFixture) async -> Int? {
        guard let p = await fx.waitHealthy() else {
            Issue.record("no healthy cluster within 120 s\n\(fx.logs())")
            return nil
        }
        guard p != i else { return p }
        // The API's view of the candidate may lag a cycle behind "healthy" (412 until it has
        // reported itself a streaming standby): ask again for a few seconds.
        let probe = RESTProbe(fx.cluster)
        let last = NIOLockedValueBox<String>("nothing")
        let done = await eventually(.seconds(20)) { () -> Bool? in
            let answer = await probe.request(i, "/switchover", method: "POST",
                                             body: "{\"leader\": \"\(fx.cluster.name(p))\", \"candidate\": \"\(fx.cluster.name(i))\"}")
            last.withLockedValue { $0 = answer.map { "\($0.status) \($0.text)" } ?? "nothing" }
            guard answer?.status == 200 else {
                try? await Task.sleep(for: .milliseconds(500))
                return nil
            }
            return true
        }
        #expect(done == true, "switchover to \(fx.cluster.name(i)) answered \(last.withLockedValue { $0 })")
        guard let q = await fx.waitHealthy(), q == i else {
            Issue.record("\(fx.cluster.name(i)) did not become the primary\n\(fx.logs())")
            return nil
        }
        return q
    }

    static func prePromote(_ fx: AgentClusterFixture, _ hooks: Hooks) async throws {
        // pg1 primary, so that pg2 (priority 10) and pg3 are the candidates.
        guard await makePrimary(1, fx) != nil else { return }
        // Both standbys at the same position (an idle primary), so pg2's priority decides.
        _ = await eventually(.seconds(10)) { () -> Bool? in
            guard let v = await fx.view(), let a = v.members["pg2"]?.lsn, let b = v.members["pg3"]?.lsn, a == b else { return nil }
            return true
        }
        #expect(hooks.log("callbacks-pg2.log").contains("on_start replica test"), "on_start did not run on pg2 with its role and the cluster name")
        fx.cluster.signal(1, SIGKILL)
        let promoted = await eventually(.seconds(40)) { () -> Int? in
            guard let v = await fx.view(), let q = fx.primary(in: v), q != 1 else { return nil }
            return q
        }
        #expect(promoted == 3, "expected pg3 to be promoted after pg2's pre_promote refused, got \(promoted.map(fx.cluster.name) ?? "none")\n\(fx.logs())")
        #expect(hooks.log("pre_promote.log").contains("pre_promote replica test"), "pg2's pre_promote did not run: \(hooks.log("pre_promote.log"))")
        #expect(fx.agentLog(2).contains("pre_promote refused the promotion"), "pg2 did not log the refusal")
        #expect((try? await fx.query(2, "SELECT pg_is_in_recovery()"))?.first?.first == "t", "pg2 is not a standby")
        let roleChanged = await eventually(.seconds(10)) { hooks.log("callbacks-pg3.log").contains("on_role_change primary test") ? true : nil }
        #expect(roleChanged == true, "on_role_change did not run on pg3: \(hooks.log("callbacks-pg3.log"))")
    }
}
