import Foundation
import HACore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import RaftCore
import Testing
@testable import PGNode

/// Snapshots of a three-member cluster: pg1 (raft 1) runs the primary, pg2 and pg3 stream from it.
enum APIFx {
    static let sysid: UInt64 = 7_268_616_322_854_375_442
    static let tip: UInt64 = 50_000_000

    static func primaryStatus(_ name: String = "pg1", lsn: UInt64 = tip) -> MemberStatus {
        MemberStatus(name: name, raftID: raftID(name), role: .primary, state: .running, host: "10.0.0.\(raftID(name))",
                     port: 5432, systemIdentifier: sysid, timeline: 3, walPosition: LSN(lsn), serverVersion: 160004,
                     apiURL: "http://10.0.0.\(raftID(name)):8008")
    }

    static func replicaStatus(_ name: String, received: UInt64 = tip, replayed: UInt64 = tip, streaming: Bool = true,
                              tags: Tags = Tags()) -> MemberStatus {
        MemberStatus(name: name, raftID: raftID(name), role: .replica, state: .running, host: "10.0.0.\(raftID(name))",
                     port: 5433, systemIdentifier: sysid, timeline: 3, receivedLSN: LSN(received), replayedLSN: LSN(replayed),
                     streaming: streaming, following: "pg1", tags: tags, serverVersion: 160004,
                     apiURL: "http://10.0.0.\(raftID(name)):8008")
    }

    static func raftID(_ name: String) -> UInt64 { UInt64(name.dropFirst(2)) ?? 9 }

    static let runningPrimary = LocalPostgres(
        dataDirectory: .initialized(ControlData(systemIdentifier: sysid, timeline: 3, state: .inProduction)), process: .running,
        running: RunningPostgres(inRecovery: false, timeline: 3, walPosition: LSN(tip)))

    static func runningReplica(received: UInt64 = tip, replayed: UInt64 = tip, streaming: Bool = true) -> LocalPostgres {
        LocalPostgres(dataDirectory: .initialized(ControlData(systemIdentifier: sysid, timeline: 3, state: .inArchiveRecovery)),
                      process: .running,
                      running: RunningPostgres(inRecovery: true, timeline: 3, receivedLSN: LSN(received), replayedLSN: LSN(replayed),
                                               streaming: streaming, following: streaming ? "pg1" : nil))
    }

    static let stopped = LocalPostgres(
        dataDirectory: .initialized(ControlData(systemIdentifier: sysid, timeline: 3, state: .shutDownInRecovery)), process: .stopped)

    static func cluster(_ members: [MemberStatus], lastPrimaryLSN: UInt64? = nil, history: [HistoryRow] = [],
                        config: DynamicConfig = DynamicConfig()) -> ClusterView {
        var c = ClusterView(systemIdentifier: sysid, members: Dictionary(uniqueKeysWithValues: members.map { ($0.name, $0) }),
                            lastPrimaryLSN: lastPrimaryLSN.map { LSN($0) }, history: history, config: config)
        c.lastPrimary = "pg1"
        return c
    }

    static let defaultMembers = [primaryStatus(), replicaStatus("pg2"), replicaStatus("pg3")]

    /// The snapshot of `member` (whose local Postgres is `local`) as Raft leader or follower of pg1.
    static func snapshot(member: MemberStatus, local: LocalPostgres, isLeader: Bool, raftLeader: String? = "pg1",
                         cluster: ClusterView? = nil, at: Instant = Instant(NIODeadline.now()),
                         atUnixMs: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)) -> AgentSnapshot {
        var members = defaultMembers.filter { $0.name != member.name }
        members.append(member)
        return AgentSnapshot(member: member, local: local,
                             raft: RaftView(isLeader: isLeader, term: 4, leader: raftLeader, leaseDeadline: nil,
                                            voters: [1: "pg1", 2: "pg2", 3: "pg3"]),
                             commitIndex: 10, appliedIndex: 10, cluster: cluster ?? Self.cluster(members), at: at,
                             atUnixMs: atUnixMs, waitingFor: nil, counters: AgentCounters())
    }

    static func primary(cluster: ClusterView? = nil, at: Instant = Instant(NIODeadline.now())) -> AgentSnapshot {
        snapshot(member: primaryStatus(), local: runningPrimary, isLeader: true, cluster: cluster, at: at)
    }

    static func replica(_ name: String = "pg2", received: UInt64 = tip, replayed: UInt64 = tip, streaming: Bool = true,
                        tags: Tags = Tags(), cluster: ClusterView? = nil, at: Instant = Instant(NIODeadline.now())) -> AgentSnapshot {
        snapshot(member: replicaStatus(name, received: received, replayed: replayed, streaming: streaming, tags: tags),
                 local: runningReplica(received: received, replayed: replayed, streaming: streaming), isLeader: false,
                 cluster: cluster, at: at)
    }
}

/// What the fake backend does when `POST /switchover` writes the `failover` key.
enum FakeHALoop: Sendable {
    /// Nothing: the request stays pending.
    case idle
    /// After a moment: appends a history row (`reason`, new primary `newPrimary`), then deletes the key.
    case carryOut(newPrimary: String, reason: String)
    /// After a moment: deletes the key without a history row.
    case drop
}

struct FakeStoreConflict: Error {}
struct FakeStoreUnreachable: Error {}

/// A `RESTBackend` over an in-memory key-value store with revisions, recording what it is asked.
final class FakeBackend: RESTBackend, Sendable {
    struct State {
        var snapshot: AgentSnapshot?
        var lease = true
        var store: [ClusterKey: VersionedValue] = [:]
        var revision: UInt64 = 100
        var writes: [(ClusterKey, [UInt8], UInt64?)] = []
        var deletes: [ClusterKey] = []
        var operations: [LocalOperation] = []
        var operationResult = LocalOperationResult(done: true, message: "restarted successfully")
        var loop: FakeHALoop = .idle
        /// The next write fails as a compare-and-set conflict.
        var conflictNextWrite = false
        var memberHosts: [String] = []
        var scheduledRestart: ScheduledRestart?
    }

    let state: NIOLockedValueBox<State>
    let clusterName = "demo"
    let memberName: String

    init(_ snapshot: AgentSnapshot?, memberName: String = "pg1") {
        state = NIOLockedValueBox(State(snapshot: snapshot))
        self.memberName = memberName
    }

    func snapshot() -> AgentSnapshot? { state.withLockedValue { $0.snapshot } }
    func leaseValid() -> Bool { state.withLockedValue { $0.lease } }

    func read(_ key: ClusterKey) async throws -> VersionedValue? { state.withLockedValue { $0.store[key] } }

    func write(_ key: ClusterKey, _ value: [UInt8], expectedRevision: UInt64?) async throws {
        let loop = try state.withLockedValue { s -> FakeHALoop in
            s.writes.append((key, value, expectedRevision))
            if s.conflictNextWrite {
                s.conflictNextWrite = false
                throw FakeStoreConflict()
            }
            if let expected = expectedRevision, (s.store[key]?.modRevision ?? 0) != expected { throw FakeStoreConflict() }
            s.put(key, value)
            return key == .failover ? s.loop : .idle
        }
        switch loop {
        case .idle: break
        case .carryOut(let newPrimary, let reason):
            Task {
                try? await Task.sleep(for: .milliseconds(120))
                self.state.withLockedValue { s in
                    var rows = s.store[.history].flatMap { try? JSONDecoder().decode([HistoryRow].self, from: Data($0.value)) } ?? []
                    rows.append(HistoryRow(timeline: 4, lsn: LSN(APIFx.tip), atUnixMs: UInt64(Date().timeIntervalSince1970 * 1000),
                                           reason: reason, oldPrimary: "pg1", newPrimary: newPrimary))
                    s.put(.history, ClusterState.encode(rows))
                    s.store[.failover] = nil
                }
            }
        case .drop:
            Task {
                try? await Task.sleep(for: .milliseconds(120))
                self.state.withLockedValue { $0.store[.failover] = nil }
            }
        }
    }

    func delete(_ key: ClusterKey, expectedRevision: UInt64?) async throws {
        try state.withLockedValue { s in
            s.deletes.append(key)
            if let expected = expectedRevision, (s.store[key]?.modRevision ?? 0) != expected { throw FakeStoreConflict() }
            s.store[key] = nil
        }
    }

    func perform(_ operation: LocalOperation) async -> LocalOperationResult {
        state.withLockedValue { s in
            s.operations.append(operation)
            return s.operationResult
        }
    }

    func metricsText() -> String { "# TYPE pgha_up gauge\npgha_up 1\n" }
    func scheduleRestart(_ restart: ScheduledRestart) async -> Bool {
        state.withLockedValue { s in
            guard s.scheduledRestart == nil else { return false }
            s.scheduledRestart = restart
            return true
        }
    }
    func cancelScheduledRestart() async -> Bool {
        state.withLockedValue { s in
            defer { s.scheduledRestart = nil }
            return s.scheduledRestart != nil
        }
    }
    func memberHosts() -> [String] { state.withLockedValue { $0.memberHosts } }

    // Test helpers.
    func set(_ key: ClusterKey, json: String) { state.withLockedValue { $0.put(key, Array(json.utf8)) } }
    func stored(_ key: ClusterKey) -> JSONValue? { state.withLockedValue { $0.store[key].flatMap { JSONValue(parsing: $0.value) } } }
    var operations: [LocalOperation] { state.withLockedValue { $0.operations } }
    var writeCount: Int { state.withLockedValue { $0.writes.count } }
}

extension FakeBackend.State {
    mutating func put(_ key: ClusterKey, _ value: [UInt8]) {
        revision += 1
        let old = store[key]
        store[key] = VersionedValue(value: value, createRevision: old?.createRevision ?? revision, modRevision: revision,
                                    version: (old?.version ?? 0) + 1)
    }
}

extension RESTResponse {
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSONValue? { JSONValue(parsing: body) }
    var code: Int { Int(status.code) }
}

extension JSONValue {
    subscript(path: String...) -> JSONValue? {
        var v: JSONValue? = self
        for p in path { v = v?[p] }
        return v
    }
    subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }
    var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
}
