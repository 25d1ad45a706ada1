import Foundation
import HACore
import NIOConcurrencyHelpers
import Testing
@testable import PGNode

/// Synchronous replication on real clusters (three `pgha run` agents, real Postgres 15):
/// - `on` and `quorum` (`synchronous_node_count: 1` on three nodes): ten rounds each of kill -9
///   of the primary's agent while a client commits continuously through the multi-host string;
///   every commit acknowledged before (and after) the kill is on the new primary. The rounds
///   are `PostgresFailoverBenchmark`'s (the figures `pgha bench pg-failover --sync-mode` prints);
///   each round starts once the primary's `sync` key names a synchronous standby.
/// - `synchronous_mode_strict`: with both standbys' WAL receivers stopped, a commit on the primary
///   does not return, and `/patroni`, `pgha list` and the log say so; once one standby streams
///   again, the commit returns.
@Suite(.serialized, .enabled(if: agentClusterUnavailable == nil, "\(agentClusterUnavailable ?? "")"))
struct SynchronousReplicationProcessTests {
    static let rounds = 10

    @Test(.timeLimit(.minutes(8)))
    func onModeLosesNoAcknowledgedCommitOverTenKills() async throws {
        try await Self.killRounds(.on)
    }

    @Test(.timeLimit(.minutes(8)))
    func quorumModeLosesNoAcknowledgedCommitOverTenKills() async throws {
        try await Self.killRounds(.quorum)
    }

    static func killRounds(_ mode: SynchronousMode) async throws {
        let directory = "/tmp/pgha-sync-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { if ProcessInfo.processInfo.environment["PGHA_KEEP_TEST_DIRS"] == nil { try? FileManager.default.removeItem(atPath: directory) } }
        var results: [PostgresFailoverBenchmark.Round]?
        var lastError: (any Error)?
        for _ in 0..<10 {
            var bench = PostgresFailoverBenchmark(binary: pghaBinary!, directory: directory, portBase: Int.random(in: 100...320) * 100,
                                                  rounds: rounds, parameters: [:])
            bench.synchronousMode = mode
            do {
                results = try await bench.run { _, _ in }
                break
            } catch let e as StartRefused where e.reason.contains("in use") {
                lastError = e
                continue
            } catch {
                lastError = error
                break
            }
        }
        guard let results else {
            Issue.record("the \(mode.rawValue) rounds did not complete: \(lastError.map { "\($0)" } ?? "?")")
            return
        }
        #expect(results.count == rounds)
        for (i, r) in results.enumerated() {
            #expect(r.promoted != "-" && r.promoted != r.killed, "round \(i + 1): no other member was promoted")
            #expect(r.lostWrites == 0, "round \(i + 1): \(r.lostWrites) acknowledged commits missing on the new primary \(r.promoted)")
            #expect(r.unavailableMs >= 0, "round \(i + 1): writes did not resume on the new primary")
        }
    }

    @Test(.timeLimit(.minutes(4)))
    func strictModeHoldsCommitsWithoutAStandby() async throws {
        let fx = try AgentClusterFixture(dynamicConfig: #"{"synchronous_mode": "on", "synchronous_mode_strict": true}"#)
        try fx.startAll()
        do {
            try await Self.strict(fx)
        } catch {
            Issue.record("\(error)\n\(fx.logs())")
        }
        await fx.tearDown()
    }

    static func strict(_ fx: AgentClusterFixture) async throws {
        guard let p = await fx.waitHealthy() else {
            Issue.record("no healthy cluster with a synchronous standby within 120 s\n\(fx.logs())")
            return
        }
        _ = try await fx.query(p, "CREATE TABLE strict_commits(id int)")
        let replicas = (1...3).filter { $0 != p }
        // Stop both standbys' replication (their WAL receivers): the primary has no standby.
        for r in replicas {
            _ = try await fx.query(r, "ALTER SYSTEM SET primary_conninfo = ''")
            _ = try await fx.query(r, "SELECT pg_reload_conf()")
        }
        let noStandby = await eventually(.seconds(20)) { () -> Bool? in
            let rows = try? await fx.query(p, "SELECT count(*) FROM pg_stat_replication")
            return rows?.first?.first == "0" ? true : nil
        }
        #expect(noStandby == true, "the standbys still stream")
        // A commit without a statement timeout (a cancelled wait would commit locally).
        let info = "host=127.0.0.1 port=\(fx.cluster.ports[p - 1].postgres) user=postgres password=\(fx.cluster.superuserPassword) dbname=postgres connect_timeout=2"
        let returned = NIOLockedValueBox(false)
        let committer = Thread {
            _ = try? PostgresSession(conninfo: info, location: "strict commit").rows("INSERT INTO strict_commits VALUES (1)")
            returned.withLockedValue { $0 = true }
        }
        committer.start()
        let hasReturned: @Sendable () -> Bool = { returned.withLockedValue { $0 } }
        try await Task.sleep(for: .seconds(3))
        #expect(!hasReturned(), "a commit returned with no synchronous standby in strict mode")
        // /patroni, pgha list and the log say that commits wait.
        let probe = RESTProbe(fx.cluster)
        let said = await eventually(.seconds(10)) { () -> Bool? in
            (await probe.json(p, "/patroni"))?["sync_warning"]?.stringValue?.contains("commits wait") == true ? true : nil
        }
        let patroni = await probe.text(p, "/patroni") ?? "-"
        #expect(said == true, "/patroni does not say that commits wait: \(patroni)")
        let list = await CLIProbe(config: fx.cluster.configPath(p)).run("list")
        #expect(list.stdout.contains("commits wait"), "pgha list does not say that commits wait:\n\(list.stdout)\(list.stderr)")
        #expect(fx.agentLog(p).contains("commits wait"), "the primary's log does not say that commits wait")
        #expect(fx.agentLog(p).contains("synchronous_mode_strict holds commits"), "the primary's log does not name strict mode")
        #expect(!hasReturned())
        // One standby streams again: the commit returns.
        _ = try await fx.query(replicas[0], "ALTER SYSTEM RESET primary_conninfo")
        _ = try await fx.query(replicas[0], "SELECT pg_reload_conf()")
        let back = await eventually(.seconds(30)) { hasReturned() ? true : nil }
        #expect(back == true, "the commit did not return after a standby streamed again")
        let stored = try await fx.query(p, "SELECT count(*) FROM strict_commits")
        #expect(stored.first?.first == "1")
        _ = try await fx.query(replicas[1], "ALTER SYSTEM RESET primary_conninfo")
        _ = try await fx.query(replicas[1], "SELECT pg_reload_conf()")
    }
}
