import Foundation
import HACore
import NIOCore
import NIOHTTP1
import Testing
@testable import PGNode

/// The REST API's part of issue 10: `/sync` and `/async`, the synchronous roles, forced
/// failover, scheduled restart and the dynamic configuration's validation.
@Suite struct RESTSyncTests {
    let calls = RESTAPITests()

    static func config(_ mode: SynchronousMode) -> DynamicConfig {
        var c = DynamicConfig()
        c.synchronousMode = mode
        return c
    }

    /// pg1 primary; pg2 the synchronous standby; pg3 asynchronous.
    static func syncCluster(mode: SynchronousMode = .on) -> ClusterView {
        var c = APIFx.cluster(APIFx.defaultMembers, config: Self.config(mode))
        c.sync = SyncState(leader: "pg1", members: ["pg2"], quorum: 1)
        return c
    }

    @Test func syncAndAsyncHealthChecks() async {
        let c = Self.syncCluster()
        let pg2 = RESTAPITests.api(FakeBackend(APIFx.replica("pg2", cluster: c), memberName: "pg2"))
        let pg3 = RESTAPITests.api(FakeBackend(APIFx.replica("pg3", cluster: c), memberName: "pg3"))
        let pg1 = RESTAPITests.api(FakeBackend(APIFx.primary(cluster: c)))
        #expect(await calls.call(pg2, .GET, "/sync").code == 200)
        #expect(await calls.call(pg2, .GET, "/async").code == 503)
        #expect(await calls.call(pg3, .GET, "/sync").code == 503)
        #expect(await calls.call(pg3, .GET, "/async").code == 200)
        #expect(await calls.call(pg1, .GET, "/read-only-sync").code == 200)
        #expect(await calls.call(pg2, .GET, "/read-only-sync").code == 200)
        #expect(await calls.call(pg3, .GET, "/read-only-sync").code == 503)
        // An empty claim names nobody synchronous.
        var empty = c
        empty.sync = SyncState(leader: "pg1", members: ["pg2"], quorum: 0)
        let pg2Empty = RESTAPITests.api(FakeBackend(APIFx.replica("pg2", cluster: empty), memberName: "pg2"))
        #expect(await calls.call(pg2Empty, .GET, "/sync").code == 503)
    }

    @Test func clusterAndPatroniNameTheSynchronousStandby() async throws {
        let c = Self.syncCluster(mode: .quorum)
        let doc = try #require(await calls.call(RESTAPITests.api(FakeBackend(APIFx.primary(cluster: c))), .GET, "/cluster").json)
        let roles = (doc["members"]?.arrayValue ?? []).map { ($0["name"]?.stringValue ?? "", $0["role"]?.stringValue ?? "") }
        #expect(roles.contains { $0 == ("pg2", "quorum_standby") })
        #expect(roles.contains { $0 == ("pg3", "replica") })
        #expect(doc["synchronous_replication", "mode"] == "quorum")
        #expect(doc["synchronous_replication", "quorum"] == 1)
        let patroni = try #require(await calls.call(RESTAPITests.api(FakeBackend(APIFx.replica("pg2", cluster: c), memberName: "pg2")),
                                                    .GET, "/patroni").json)
        #expect(patroni["quorum_standby"] == true)
    }

    @Test func pendingRestartAndSyncWarningAreShown() async throws {
        var primary = APIFx.primaryStatus()
        primary.pendingRestart = ["shared_buffers": "128MB -> 64MB"]
        primary.syncWarning = "commits wait: no synchronous standby is streaming"
        let snapshot = APIFx.snapshot(member: primary, local: APIFx.runningPrimary, isLeader: true)
        let api = RESTAPITests.api(FakeBackend(snapshot))
        let doc = try #require(await calls.call(api, .GET, "/patroni").json)
        #expect(doc["pending_restart"] == true)
        #expect(doc["pending_restart_reason", "shared_buffers"] == "128MB -> 64MB")
        #expect(doc["sync_warning"]?.stringValue?.contains("commits wait") == true)
        let cluster = try #require(await calls.call(api, .GET, "/cluster").json)
        let pg1 = cluster["members"]?.arrayValue?.first { $0["name"] == "pg1" }
        #expect(pg1?["pending_restart"] == true)
        #expect(pg1?["sync_warning"] != nil)
        let table = MemberTable(cluster: cluster)
        #expect(table.pretty().contains("commits wait"))
        #expect(table.pretty().contains("Pending restart"))
    }

    @Test func failoverToALaggingCandidateNeedsForceAndSaysWhatItMayLose() async {
        let lagging = APIFx.replicaStatus("pg2", received: 1_000, replayed: 1_000)
        var c = APIFx.cluster([APIFx.primaryStatus(), lagging, APIFx.replicaStatus("pg3")], lastPrimaryLSN: APIFx.tip)
        c.lastPrimary = "pg1"
        let backend = FakeBackend(APIFx.primary(cluster: c))
        let api = RESTAPITests.api(backend)
        let refused = await calls.call(api, .POST, "/failover", body: #"{"candidate": "pg2"}"#)
        #expect(refused.code == 412)
        #expect(refused.text.contains("force the failover"))
        #expect(refused.text.contains("\(APIFx.tip - 1_000) bytes"))
        #expect(await calls.call(api, .POST, "/failover", body: #"{"candidate": "pg2", "force": "yes"}"#).code == 400)
        #expect(await calls.call(api, .POST, "/switchover", body: #"{"leader": "pg1", "candidate": "pg3", "force": true}"#).code == 400)
        backend.state.withLockedValue { $0.loop = .carryOut(newPrimary: "pg2", reason: "manual failover") }
        let forced = await calls.call(api, .POST, "/failover", body: #"{"candidate": "pg2", "force": true}"#)
        #expect(forced.code == 200, "\(forced.text)")
        #expect(forced.text.contains("forced: up to \(APIFx.tip - 1_000) bytes"))
        let written = backend.state.withLockedValue { $0.writes.first { $0.0 == .failover } }
        let request = written.flatMap { try? JSONDecoder().decode(FailoverRequest.self, from: Data($0.1)) }
        #expect(request?.force == true)
    }

    @Test func scheduledRestartIsAcceptedShownAndCancelled() async {
        let backend = FakeBackend(APIFx.replica("pg2"), memberName: "pg2")
        let api = RESTAPITests.api(backend)
        let later = StatusDocuments.iso8601(unixMs: UInt64(Date().timeIntervalSince1970 * 1000) + 3_600_000)
        #expect(await calls.call(api, .POST, "/restart", body: "{\"schedule\": \"\(later)\"}").code == 202)
        #expect(backend.state.withLockedValue { $0.scheduledRestart } != nil)
        #expect(await calls.call(api, .POST, "/restart", body: "{\"schedule\": \"\(later)\"}").code == 409)
        #expect(backend.operations.isEmpty, "a scheduled restart must not restart now")
        #expect(await calls.call(api, .DELETE, "/restart").code == 200)
        #expect(await calls.call(api, .DELETE, "/restart").code == 404)
        #expect(await calls.call(api, .POST, "/restart", body: #"{"schedule": "2020-01-01T00:00:00+00:00"}"#).code == 422)
        #expect(await calls.call(api, .POST, "/restart", body: #"{"schedule": "2030-01-01T00:00:00"}"#).code == 400)
        // A role filter with a schedule is checked when the restart runs, not now.
        #expect(await calls.call(api, .POST, "/restart", body: "{\"schedule\": \"\(later)\", \"role\": \"primary\"}").code == 202)
        #expect(backend.state.withLockedValue { $0.scheduledRestart?.role } == "primary")
    }

    @Test func patchConfigRefusesReservedParametersAndBadModes() async {
        let backend = FakeBackend(APIFx.primary())
        let api = RESTAPITests.api(backend)
        let reserved = await calls.call(api, .PATCH, "/config", body: #"{"postgresql": {"parameters_primary": {"synchronous_standby_names": "*"}}}"#)
        #expect(reserved.code == 400)
        #expect(reserved.text.contains("parameters_primary.synchronous_standby_names"))
        #expect(await calls.call(api, .PATCH, "/config", body: #"{"synchronous_mode": "sometimes"}"#).code == 400)
        #expect(await calls.call(api, .PATCH, "/config", body: #"{"synchronous_node_count": 0}"#).code == 400)
        let ok = await calls.call(api, .PATCH, "/config", body: #"{"synchronous_mode": true, "postgresql": {"parameters": {"work_mem": 4096}}}"#)
        #expect(ok.code == 200, "\(ok.text)")
        let stored = backend.stored(.config).map { try? JSONDecoder().decode(DynamicConfig.self, from: Data($0.bytes)) } ?? nil
        #expect(stored?.synchronousMode == .on)
        #expect(stored?.postgresql.parameters == ["work_mem": "4096"])
    }
}
