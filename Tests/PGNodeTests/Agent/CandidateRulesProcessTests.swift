import Foundation
import HACore
import Testing
@testable import PGNode

/// Candidate rules on real clusters (asynchronous replication, `maximum_lag_on_failover` 1 MiB):
/// a replica whose WAL receiver is stopped while the primary writes 5 MB is never promoted —
/// the other one is; with both behind, none is and `/cluster` says why; a `nofailover` member
/// is never promoted, also when it is the only member within the lag limit.
@Suite(.serialized, .enabled(if: agentClusterUnavailable == nil, "\(agentClusterUnavailable ?? "")"))
struct CandidateRulesProcessTests {
    static let dynamicConfig = #"{"maximum_lag_on_failover": 1048576}"#

    @Test(.timeLimit(.minutes(5)))
    func aReplicaTooFarBehindIsNotPromotedAndWithBothBehindNoneIs() async throws {
        let fx = try AgentClusterFixture(dynamicConfig: Self.dynamicConfig)
        try fx.startAll()
        do { try await Self.lagging(fx) } catch { Issue.record("\(error)\n\(fx.logs())") }
        await fx.tearDown()
    }

    @Test(.timeLimit(.minutes(5)))
    func aNoFailoverMemberIsNeverPromoted() async throws {
        let fx = try AgentClusterFixture(dynamicConfig: Self.dynamicConfig, memberTags: [2: "{ nofailover: true }"])
        try fx.startAll()
        do { try await Self.noFailover(fx) } catch { Issue.record("\(error)\n\(fx.logs())") }
        await fx.tearDown()
    }

    static func lagging(_ fx: AgentClusterFixture) async throws {
        guard let p = await fx.waitHealthy() else { Issue.record("no healthy cluster within 120 s\n\(fx.logs())"); return }
        let replicas = (1...3).filter { $0 != p }
        let (behind, ahead) = (replicas[0], replicas[1])
        try await stopReceiver(fx, behind)
        try await writeAndRecord(fx, primary: p)
        fx.cluster.signal(p, SIGKILL)
        let promoted = await eventually(.seconds(30)) { () -> Int? in
            guard let v = await fx.view(), let q = fx.primary(in: v), q != p else { return nil }
            return q
        }
        #expect(promoted == ahead, "expected \(fx.cluster.name(ahead)) to be promoted, got \(promoted.map(fx.cluster.name) ?? "none")\n\(fx.logs())")
        guard promoted == ahead else { return }
        let why = fx.agentLog(ahead) + fx.agentLog(behind)
        #expect(why.contains("bytes behind the last primary position"), "no member logged why \(fx.cluster.name(behind)) was passed over")

        // Both replicas behind: restart the old primary (it rejoins), let the lagging one catch up,
        // then stop both receivers, write, and kill the primary.
        _ = try fx.cluster.start(p)
        try await startReceiver(fx, behind)
        guard let p2 = await fx.waitHealthy(), p2 == ahead else { Issue.record("the cluster did not heal after the first failover\n\(fx.logs())"); return }
        let others = (1...3).filter { $0 != p2 }
        for r in others { try await stopReceiver(fx, r) }
        try await writeAndRecord(fx, primary: p2)
        fx.cluster.signal(p2, SIGKILL)
        try await expectNoPromotion(fx, among: others, for: .seconds(8))
        // /cluster, asked of a surviving member, says why: the Raft leader's waiting reason.
        let reason = await whyNoPromotion(fx, asking: others)
        #expect(reason?.contains("bytes behind") == true, "/cluster does not say why no member was promoted: \(reason ?? "-")")
    }

    static func noFailover(_ fx: AgentClusterFixture) async throws {
        guard let p = await fx.waitHealthy() else { Issue.record("no healthy cluster within 120 s\n\(fx.logs())"); return }
        #expect(p != 2, "the nofailover member bootstrapped the cluster")
        let other = (1...3).first { $0 != p && $0 != 2 }!
        fx.cluster.signal(p, SIGKILL)
        let promoted = await eventually(.seconds(30)) { () -> Int? in
            guard let v = await fx.view(), let q = fx.primary(in: v), q != p else { return nil }
            return q
        }
        #expect(promoted == other, "expected \(fx.cluster.name(other)) to be promoted, got \(promoted.map(fx.cluster.name) ?? "none")")
        guard promoted == other else { return }
        // Now make the nofailover member the only one within the lag limit: the old primary rejoins,
        // its WAL receiver stops, the primary writes; then the primary's agent is killed.
        _ = try fx.cluster.start(p)
        guard await fx.waitHealthy() == other else { Issue.record("the cluster did not heal\n\(fx.logs())"); return }
        try await stopReceiver(fx, p)
        try await writeAndRecord(fx, primary: other)
        fx.cluster.signal(other, SIGKILL)
        try await expectNoPromotion(fx, among: [p, 2], for: .seconds(8))
        let reason = await whyNoPromotion(fx, asking: [p, 2])
        #expect(reason?.contains("\(fx.cluster.name(2)): tags forbid promotion") == true, "/cluster does not name the nofailover tag: \(reason ?? "-")")
    }

    /// The Raft leader's "no member qualifies" reason as `/cluster` of one of `members` shows it.
    static func whyNoPromotion(_ fx: AgentClusterFixture, asking members: [Int]) async -> String? {
        let probe = RESTProbe(fx.cluster)
        return await eventually(.seconds(10)) { () -> String? in
            for i in members {
                guard let doc = await probe.json(i, "/cluster"), let leader = doc["raft"]?["leader"]?.stringValue,
                      let m = doc["members"]?.arrayValue?.first(where: { $0["name"]?.stringValue == leader }),
                      let w = m["waiting_for"]?.stringValue, w.contains("no member qualifies") else { continue }
                return w
            }
            return nil
        }
    }

    /// Stops member `i`'s WAL receiver (`primary_conninfo` emptied in postgresql.auto.conf, which
    /// overrides pgha's file) — the standby keeps running but receives nothing.
    static func stopReceiver(_ fx: AgentClusterFixture, _ i: Int) async throws {
        _ = try await fx.query(i, "ALTER SYSTEM SET primary_conninfo = ''")
        _ = try await fx.query(i, "SELECT pg_reload_conf()")
        let stopped = await eventually(.seconds(15)) { () -> Bool? in
            (try? await fx.query(i, "SELECT count(*) FROM pg_stat_wal_receiver"))?.first?.first == "0" ? true : nil
        }
        #expect(stopped == true, "member \(i)'s WAL receiver still runs")
    }

    static func startReceiver(_ fx: AgentClusterFixture, _ i: Int) async throws {
        _ = try await fx.query(i, "ALTER SYSTEM RESET primary_conninfo")
        _ = try await fx.query(i, "SELECT pg_reload_conf()")
    }

    /// Writes about 5 MB of WAL on the primary and waits until the store's `status` records a
    /// position past it (the leader's periodic report).
    static func writeAndRecord(_ fx: AgentClusterFixture, primary p: Int) async throws {
        _ = try await fx.query(p, "CREATE TABLE IF NOT EXISTS filler(id int, pad text)")
        _ = try await fx.query(p, "INSERT INTO filler SELECT g, repeat('x', 1000) FROM generate_series(1, 5000) g")
        guard let text = try await fx.query(p, "SELECT pg_current_wal_lsn()::text").first?.first ?? nil, let lsn = LSN(parsing: text) else {
            Issue.record("no WAL position from the primary"); return
        }
        let recorded = await eventually(.seconds(15)) { () -> Bool? in
            guard let last = await fx.view()?.lastPrimaryLSN, last >= lsn else { return nil }
            return true
        }
        #expect(recorded == true, "the store did not record the primary's position \(lsn)")
    }

    /// Watches for `duration`: none of `members` runs as primary.
    static func expectNoPromotion(_ fx: AgentClusterFixture, among members: [Int], for duration: Duration) async throws {
        let until = ContinuousClock.now + duration
        while ContinuousClock.now < until {
            for i in members {
                if let r = try? await fx.query(i, "SELECT pg_is_in_recovery()"), r.first?.first == "f" {
                    Issue.record("\(fx.cluster.name(i)) was promoted\n\(fx.logs())")
                    return
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
