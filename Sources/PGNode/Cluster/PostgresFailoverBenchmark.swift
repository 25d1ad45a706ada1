import Foundation
import HACore
import NIOConcurrencyHelpers
import NIOPosix

/// The failover benchmark behind `pgha bench pg-failover` and `pgha bench pg-switchover`: a
/// real three-agent cluster on this machine; in each round a client writes every 20 ms through
/// the libpq multi-host string (`target_session_attrs=read-write`) or through HAProxy's
/// read-write port, and the primary changes: its agent is killed with SIGKILL (its Postgres
/// dies with it), or a planned switchover is asked for over the REST API. The round measures
/// how long no write was acknowledged, how many acknowledged writes the new primary lacks, and
/// how long until the old primary's Postgres streams from the new one (after its agent is
/// started again, for a kill). It reports figures; it asserts nothing.
public struct PostgresFailoverBenchmark: Sendable {
    /// One round's figures.
    public struct Round: Sendable, Codable {
        public var killed: String
        public var promoted: String
        /// Milliseconds between the killed primary's last acknowledged write and the new
        /// primary's first (each write records which server acknowledged it).
        public var unavailableMs: Double
        /// Acknowledged writes missing on the new primary.
        public var lostWrites: Int
        /// Milliseconds from restarting the killed agent until its Postgres streams again.
        public var rejoinMs: Double?
    }

    public var binary: String
    public var directory: String
    public var portBase: Int
    public var rounds: Int
    /// Postgres settings of the members.
    public var parameters: [String: String]
    /// The cluster's `synchronous_mode` (bootstrap.dcs). In `on` and `quorum` each round starts
    /// only once the primary's `sync` key names a synchronous standby.
    public var synchronousMode: SynchronousMode = .off
    /// How the primary changes in each round.
    public var change: PrimaryChange = .killAgent
    /// Write through HAProxy (started on the configuration `pgha haproxy-config` prints)
    /// instead of the multi-host string.
    public var viaHAProxy = false

    /// How a round changes the primary.
    public enum PrimaryChange: String, Sendable, Codable {
        /// kill -9 of the primary's agent.
        case killAgent = "kill"
        /// `POST /switchover` to a replica's REST API.
        case switchover
    }

    public init(binary: String, directory: String, portBase: Int, rounds: Int, parameters: [String: String]) {
        self.binary = binary
        self.directory = directory
        self.portBase = portBase
        self.rounds = rounds
        self.parameters = parameters
    }

    /// Runs the rounds, calling `progress` with each; returns them all.
    public func run(progress: @Sendable (Int, Round) -> Void) async throws -> [Round] {
        let cluster = try LocalAgentCluster(binary: binary, directory: directory, size: 3, portBase: portBase,
                                            cluster: "bench", postgresParameters: parameters,
                                            dynamicConfig: #"{"synchronous_mode": ""# + synchronousMode.rawValue + #""}"#)
        let client = cluster.client(group: MultiThreadedEventLoopGroup.singleton)
        var results: [Round] = []
        do {
            for i in 1...3 { try cluster.start(i) }
            guard let first = await healthyPrimary(cluster, client, timeout: .seconds(180)) else {
                throw StartRefused(reason: "the cluster did not come up; logs in \(directory)")
            }
            let setup = conninfo(cluster, first)
            _ = try await PostgresSession.onThread {
                try PostgresSession(conninfo: setup, location: "bench").rows("CREATE TABLE IF NOT EXISTS bench_writes(id bigint PRIMARY KEY)")
            }
            var nextID = 1
            var haproxy: HAProxyProcess?
            defer { haproxy?.stop() }
            var writeTo = multiHost(cluster)
            if viaHAProxy {
                let rw = portBase + 45
                haproxy = try HAProxyProcess(config: cluster.haproxyConfig(primaryPort: rw, replicaPort: rw + 1), directory: directory)
                writeTo = "host=127.0.0.1 port=\(rw) user=postgres password=\(cluster.superuserPassword) dbname=postgres "
                    + "connect_timeout=1 options='-c statement_timeout=2000 -c client_min_messages=error'"
            }
            for round in 1...rounds {
                guard let primary = await healthyPrimary(cluster, client, timeout: .seconds(120)) else {
                    throw StartRefused(reason: "round \(round): the cluster did not become healthy again; logs in \(directory)")
                }
                let writer = BenchWriter(conninfo: writeTo, firstID: nextID)
                writer.start()
                _ = await wait(.seconds(10)) { writer.acknowledgedCount >= 25 ? true : nil }
                let killedAt = DispatchTime.now().uptimeNanoseconds
                let changedAt = ContinuousClock.now
                switch change {
                case .killAgent:
                    cluster.signal(primary, SIGKILL)
                    _ = await cluster.waitForExit(primary, timeout: .seconds(5))
                case .switchover:
                    let via = primary % 3 + 1
                    let answer = try? await RESTClient.request(
                        method: .POST, url: cluster.restURL(via) + "/switchover",
                        body: Array("{\"leader\":\"\(cluster.name(primary))\"}".utf8),
                        username: "admin", password: cluster.apiPassword, timeout: .seconds(40))
                    if answer?.status != 200 {
                        throw StartRefused(reason: "round \(round): the switchover answered \(answer.map { "\($0.status) " + String(decoding: $0.body, as: UTF8.self) } ?? "nothing")")
                    }
                }
                let promoted = await wait(.seconds(60)) { () -> Int? in
                    guard let v = await cluster.view(client) else { return nil }
                    let p = v.members.values.filter { $0.role == .primary && $0.state == .running && $0.name != cluster.name(primary) }
                    return p.first.flatMap { m in (1...3).first { cluster.name($0) == m.name } }
                }
                _ = await wait(.seconds(30)) { writer.acknowledged(after: killedAt) >= 10 ? true : nil }
                writer.stop()
                nextID = writer.nextID
                let unavailable = writer.gap(from: cluster.ports[primary - 1].postgres, to: promoted.map { cluster.ports[$0 - 1].postgres } ?? -1) ?? -1
                var lost = -1
                if let promoted {
                    let info = conninfo(cluster, promoted)
                    let acked = writer.acknowledgedIDs
                    let stored = try? await PostgresSession.onThread { () -> Set<Int> in
                        let rows = try PostgresSession(conninfo: info, location: "bench").rows("SELECT id FROM bench_writes")
                        return Set(rows.compactMap { $0.first.flatMap { $0 }.flatMap(Int.init) })
                    }
                    if let stored { lost = acked.subtracting(stored).count }
                }
                var restartAt = changedAt
                if change == .killAgent {
                    restartAt = ContinuousClock.now
                    try cluster.start(primary)
                }
                let streaming = await wait(.seconds(120)) { () -> Bool? in
                    guard let v = await cluster.view(client), let m = v.members[cluster.name(primary)] else { return nil }
                    return m.role == .replica && m.state == .running && m.streaming ? true : nil
                }
                let rejoin = streaming == true ? Self.ms(ContinuousClock.now - restartAt) : nil
                let r = Round(killed: cluster.name(primary), promoted: promoted.map(cluster.name) ?? "-",
                              unavailableMs: unavailable, lostWrites: lost, rejoinMs: rejoin)
                results.append(r)
                progress(round, r)
            }
        } catch {
            await cluster.stopAll()
            await client.close()
            throw error
        }
        await cluster.stopAll()
        await client.close()
        return results
    }

    /// `ClusterView.healthyPrimary` (in synchronous modes: with a `sync` claim naming a standby).
    private func healthyPrimary(_ cluster: LocalAgentCluster, _ client: StoreClient, timeout: Duration) async -> Int? {
        await wait(timeout) { () -> Int? in
            guard let p = await cluster.view(client)?.healthyPrimary(size: 3) else { return nil }
            return (1...3).first { cluster.name($0) == p.name }
        }
    }

    private func conninfo(_ c: LocalAgentCluster, _ i: Int) -> String {
        "host=127.0.0.1 port=\(c.ports[i - 1].postgres) user=postgres password=\(c.superuserPassword) dbname=postgres connect_timeout=2"
    }

    private func multiHost(_ c: LocalAgentCluster) -> String {
        "host=" + c.ports.map { _ in "127.0.0.1" }.joined(separator: ",") + " port=" + c.ports.map { "\($0.postgres)" }.joined(separator: ",")
            + " user=postgres password=\(c.superuserPassword) dbname=postgres connect_timeout=1 target_session_attrs=read-write"
            + " options='-c statement_timeout=2000 -c client_min_messages=error'"
    }

    private func wait<T>(_ timeout: Duration, _ body: () async -> T?) async -> T? {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if let v = await body() { return v }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    static func ms(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }
}

/// Writes one row (a new id) into `table` every 20 ms on a thread of its own and records which
/// writes were acknowledged, when, and by which server. An id whose write failed is never
/// reused (its outcome is unknown).
final class BenchWriter: @unchecked Sendable {
    private let conninfo: String
    private let table: String
    private let state: NIOLockedValueBox<(next: Int, acked: [(id: Int, port: Int, start: UInt64, end: UInt64)], stop: Bool)>
    private let done = DispatchGroup()

    init(conninfo: String, table: String = "bench_writes", firstID: Int = 1) {
        self.conninfo = conninfo
        self.table = table
        state = NIOLockedValueBox((firstID, [], false))
    }

    func start() {
        done.enter()
        Thread { [self] in
            defer { done.leave() }
            var session: PostgresSession?
            while !state.withLockedValue({ $0.stop }) {
                let id = state.withLockedValue { s -> Int in defer { s.next += 1 }; return s.next }
                let start = DispatchTime.now().uptimeNanoseconds
                if session == nil { session = try? PostgresSession(conninfo: conninfo, location: "bench writer") }
                if let s = session {
                    do {
                        let rows = try s.rows("INSERT INTO \(table)(id) VALUES (\(id)) RETURNING inet_server_port()")
                        let end = DispatchTime.now().uptimeNanoseconds
                        let port = rows.first?.first.flatMap { $0 }.flatMap(Int.init) ?? 0
                        state.withLockedValue { $0.acked.append((id, port, start, end)) }
                    } catch {
                        session = nil
                    }
                }
                usleep(20_000)
            }
        }.start()
    }

    func stop() {
        state.withLockedValue { $0.stop = true }
        done.wait()
    }

    var nextID: Int { state.withLockedValue { $0.next } }
    var acknowledgedCount: Int { state.withLockedValue { $0.acked.count } }
    var acknowledgedIDs: Set<Int> { Set(state.withLockedValue { $0.acked.map(\.id) }) }
    func acknowledged(after t: UInt64) -> Int { state.withLockedValue { $0.acked.filter { $0.start >= t }.count } }

    /// Milliseconds from the last write acknowledged by the server on `oldPort` to the first
    /// acknowledged by the one on `newPort`.
    func gap(from oldPort: Int, to newPort: Int) -> Double? {
        let acked = state.withLockedValue { $0.acked }
        guard let before = acked.filter({ $0.port == oldPort }).map(\.end).max(),
              let after = acked.filter({ $0.port == newPort && $0.end > before }).map(\.end).min() else { return nil }
        return Double(after - before) / 1e6
    }
}
