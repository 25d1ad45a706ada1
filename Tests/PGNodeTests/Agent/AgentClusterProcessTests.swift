import Foundation
import HACore
import Testing
@testable import PGNode

/// Real clusters: three `pgha run` agents as separate processes, each with a real Postgres 15
/// on loopback. Throughout each test a sampler tries a write on every member every ~5 ms and
/// checks that no two members ever accepted writes in overlapping windows.
///
/// The cluster runs in `synchronous_mode: on` (bootstrap.dcs) so that "every acknowledged
/// write survives the failover" is a property pgha must keep: the primary names a synchronous
/// standby, a commit waits for it, and only that standby may be promoted. The sync-mode suite
/// (`SynchronousReplicationProcessTests`) runs ten rounds per mode; asynchronous loss is what
/// the failover benchmark reports.
@Suite(.serialized, .enabled(if: agentClusterUnavailable == nil, "\(agentClusterUnavailable ?? "")"))
struct AgentClusterProcessTests {
    static let dynamicConfig = #"{"synchronous_mode": "on"}"#

    /// Bootstrap; kill -9 of the primary's agent (its postmaster dies with it); failover with
    /// no acknowledged write lost; the old primary, diverged on purpose, rejoins through pg_rewind.
    @Test(.timeLimit(.minutes(5)))
    func killedPrimaryFailsOverAndRejoinsThroughRewind() async throws {
        let fx = try AgentClusterFixture(dynamicConfig: Self.dynamicConfig)
        defer { Task { await fx.tearDown() } }
        try fx.startAll()
        guard let old = await fx.waitHealthy() else {
            Issue.record("no primary with two streaming replicas within 120 s\n\(fx.logs())")
            await fx.tearDown()
            return
        }
        _ = try await fx.query(old, "CREATE TABLE pgha_sampler(member int, at timestamptz DEFAULT now())")
        _ = try await fx.query(old, "CREATE TABLE pgha_acked(id bigint PRIMARY KEY)")
        _ = try await fx.query(old, "CREATE TABLE greeting(t text); INSERT INTO greeting VALUES ('hello')")
        for r in (1...3) where r != old {
            let seen = await eventually(.seconds(15)) { () -> Bool? in
                (try? await fx.query(r, "SELECT t FROM greeting"))?.first?.first == "hello" ? true : nil
            }
            #expect(seen == true, "the row written on the primary is not readable on replica \(r)")
        }

        let sampler = WriteSampler(conninfos: (1...3).map { fx.conninfo($0) })
        let writer = BenchWriter(conninfo: fx.primaryConninfo, table: "pgha_acked")
        sampler.start()
        writer.start()
        _ = await eventually(.seconds(20)) { writer.acknowledgedCount >= 50 ? true : nil }

        let postmaster = fx.postmasterPID(old)
        #expect(postmaster != nil)
        fx.cluster.signal(old, SIGKILL)
        if let postmaster {
            let gone = await eventually(.seconds(1)) { !isAlive(postmaster) ? true : nil }
            #expect(gone == true, "the postmaster \(postmaster) outlived its agent by more than a second")
        }
        let new = await eventually(.seconds(30)) { () -> Int? in
            guard let v = await fx.view(), let p = fx.primary(in: v), p != old else { return nil }
            return p
        }
        guard let new else {
            Issue.record("no other member became primary within 30 s\n\(fx.logs())")
            sampler.stop(); writer.stop()
            await fx.tearDown()
            return
        }
        let ackedBefore = writer.acknowledgedCount
        _ = await eventually(.seconds(20)) { writer.acknowledgedCount >= ackedBefore + 20 ? true : nil }
        writer.stop()
        let acked = writer.acknowledgedIDs
        let stored = Set(try await fx.query(new, "SELECT id FROM pgha_acked").compactMap { $0.first.flatMap { $0 }.flatMap(Int.init) })
        #expect(acked.subtracting(stored).isEmpty, "acknowledged writes missing after failover: \(acked.subtracting(stored).sorted().prefix(20))")

        // Force a divergence: run the old primary's data alone and write to it.
        let port = fx.cluster.ports[old - 1].postgres + 50
        let alone = try await fx.startStandalone(old, port: port)
        let local = "host=127.0.0.1 port=\(port) user=postgres password=\(fx.cluster.superuserPassword) dbname=postgres connect_timeout=2"
        _ = try await PostgresSession.onThread {
            try PostgresSession(conninfo: local, location: "old primary").rows("INSERT INTO greeting VALUES ('diverged')")
        }
        kill(alone.processIdentifier, SIGINT)
        let down = await eventually(.seconds(30)) { alone.isRunning ? nil : true }
        #expect(down == true, "the standalone old primary did not stop")

        try fx.cluster.start(old)
        let rejoined = await eventually(.seconds(90)) { () -> Bool? in
            guard let v = await fx.view(), let m = v.members[fx.cluster.name(old)] else { return nil }
            return m.role == .replica && m.state == .running && m.streaming && (m.timeline ?? 0) >= 2 ? true : nil
        }
        #expect(rejoined == true, "the old primary did not rejoin as a streaming replica of the new timeline\n\(fx.logs())")
        #expect(fx.agentLog(old).contains("pg_rewind rewound the data directory"), "pg_rewind did not run on the diverged old primary")
        let rows = try await fx.query(old, "SELECT t FROM greeting ORDER BY t").compactMap { $0.first ?? nil }
        #expect(rows == ["hello"], "the rejoined member still has the diverged row: \(rows)")
        sampler.stop()
        #expect(sampler.violation() == nil, "\(sampler.violation() ?? "")")
        #expect(sampler.acknowledged[new - 1] > 0)
        await fx.tearDown()
    }

    /// kill -9 of only the primary's postmaster: the agent restarts it in place. Then the
    /// primary's agent is frozen (SIGSTOP) for 3 s: the fence guard stops its Postgres when the
    /// lease runs out, another member is promoted, and after SIGCONT the old agent sees that it
    /// lost leadership and rejoins as a replica.
    @Test(.timeLimit(.minutes(5)))
    func crashedPostmasterRestartsAndFrozenAgentIsFenced() async throws {
        let fx = try AgentClusterFixture(dynamicConfig: Self.dynamicConfig)
        defer { Task { await fx.tearDown() } }
        try fx.startAll()
        guard let first = await fx.waitHealthy() else {
            Issue.record("no primary with two streaming replicas within 120 s\n\(fx.logs())")
            await fx.tearDown()
            return
        }
        _ = try await fx.query(first, "CREATE TABLE pgha_sampler(member int, at timestamptz DEFAULT now())")
        let sampler = WriteSampler(conninfos: (1...3).map { fx.conninfo($0) })
        sampler.start()
        _ = await eventually(.seconds(10)) { sampler.acknowledged[first - 1] >= 20 ? true : nil }

        // The postmaster alone.
        let crashed = try #require(fx.postmasterPID(first))
        kill(crashed, SIGKILL)
        let back = await eventually(.seconds(60)) { () -> Int? in
            guard let pid = fx.postmasterPID(first), pid != crashed, let v = await fx.view(), let p = fx.primary(in: v) else { return nil }
            return p
        }
        #expect(back == first, "the agent did not restart its crashed primary in place (primary now: \(back.map(String.init) ?? "none"))\n\(fx.logs())")
        let acks = sampler.acknowledged[first - 1]
        _ = await eventually(.seconds(20)) { sampler.acknowledged[first - 1] > acks ? true : nil }
        #expect(sampler.acknowledged[first - 1] > acks, "the restarted primary accepts no writes")

        // Freeze the agent.
        guard let primary = await fx.waitHealthy(.seconds(60)), let frozenPostmaster = fx.postmasterPID(primary) else {
            Issue.record("cluster not healthy again after the restart\n\(fx.logs())")
            sampler.stop()
            await fx.tearDown()
            return
        }
        fx.cluster.signal(primary, SIGSTOP)
        let stoppedAt = ContinuousClock.now
        let fenced = await eventually(.seconds(3)) { !isAlive(frozenPostmaster) ? true : nil }
        #expect(fenced == true, "the frozen agent's Postgres kept running: the fence guard did not stop it")
        print("frozen agent's postmaster stopped \(ContinuousClock.now - stoppedAt) after SIGSTOP")
        let successor = await eventually(.seconds(30)) { () -> Int? in
            guard let v = await fx.view(), let p = fx.primary(in: v), p != primary else { return nil }
            return p
        }
        #expect(successor != nil, "no other member was promoted while the primary's agent was frozen\n\(fx.logs())")
        try? await Task.sleep(until: stoppedAt + .seconds(3))
        fx.cluster.signal(primary, SIGCONT)
        let rejoined = await eventually(.seconds(90)) { () -> Bool? in
            guard let v = await fx.view(), let m = v.members[fx.cluster.name(primary)] else { return nil }
            return m.role == .replica && m.state == .running && m.streaming ? true : nil
        }
        #expect(rejoined == true, "the unfrozen agent did not rejoin as a replica\n\(fx.logs())")
        sampler.stop()
        #expect(sampler.violation() == nil, "\(sampler.violation() ?? "")")
        await fx.tearDown()
    }
}
