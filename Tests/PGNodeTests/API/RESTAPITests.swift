import Foundation
import HACore
import NIOCore
import NIOHTTP1
import Testing
@testable import PGNode

/// The router against a fake backend: methods, paths, codes, Patroni's messages.
@Suite struct RESTAPITests {
    static func api(_ backend: FakeBackend, settings: RESTSettings = RESTSettings(), wait: Duration = .seconds(3)) -> RESTAPI {
        var api = RESTAPI(backend: backend, settings: settings, logger: quietLogger)
        api.switchoverWait = wait
        return api
    }

    func call(_ api: RESTAPI, _ method: HTTPMethod, _ uri: String, body: String? = nil, headers: HTTPHeaders = [:],
              remote: String? = nil) async -> RESTResponse {
        let address = remote.map { try! SocketAddress(ipAddress: $0, port: 40_000) }
        return await api.respond(to: RESTRequest(method: method, uri: uri, headers: headers, body: body.map { Array($0.utf8) } ?? [],
                                                 remote: address))
    }

    // MARK: GET, HEAD, OPTIONS

    @Test func getPatroniHasPatroniFields() async throws {
        let api = Self.api(FakeBackend(APIFx.primary()))
        let r = await call(api, .GET, "/patroni")
        #expect(r.code == 200)
        #expect(r.headers.first(name: "Content-Type") == "application/json")
        let doc = try #require(r.json)
        #expect(doc["state"] == "running")
        #expect(doc["role"] == "primary")
        #expect(doc["xlog", "location"] == .int(Int64(APIFx.tip)))
        #expect(doc["timeline"] == 3)
        #expect(doc["server_version"] == 160004)
        #expect(doc["patroni", "name"] == "pg1")
        #expect(doc["patroni", "scope"] == "demo")
        #expect(doc["database_system_identifier"] == .string(String(APIFx.sysid)))
        #expect(doc["cluster_unlocked"] == nil)
        #expect(doc["pause"] == nil)
        #expect(doc["dcs_last_seen"] != nil)
    }

    @Test func getPatroniOnAReplica() async throws {
        let api = Self.api(FakeBackend(APIFx.replica(received: 900, replayed: 800), memberName: "pg2"))
        let doc = try #require(await call(api, .GET, "/patroni").json)
        #expect(doc["role"] == "replica")
        #expect(doc["xlog", "received_location"] == 900)
        #expect(doc["xlog", "replayed_location"] == 800)
        #expect(doc["xlog", "paused"] == false)
        #expect(doc["xlog", "location"] == nil)
        #expect(doc["replication_state"] == "streaming")
        #expect(doc["patroni", "name"] == "pg2")
    }

    @Test func healthGetCarriesTheStatusDocument() async throws {
        let api = Self.api(FakeBackend(APIFx.primary()))
        let ok = await call(api, .GET, "/primary")
        #expect(ok.code == 200)
        #expect(ok.json?["role"] == "primary")
        let no = await call(api, .GET, "/replica")
        #expect(no.code == 503)
        #expect(no.json?["role"] == "primary", "a 503 health answer still has the status document")
    }

    @Test func optionsHasNoBody() async {
        let api = Self.api(FakeBackend(APIFx.primary()))
        let primary = await call(api, .OPTIONS, "/primary")
        #expect(primary.code == 200 && primary.body.isEmpty)
        let root = await call(api, .OPTIONS, "/")
        #expect(root.code == 200 && root.body.isEmpty)
        let replica = await call(api, .OPTIONS, "/replica")
        #expect(replica.code == 503 && replica.body.isEmpty)
        for path in ["/patroni", "/cluster", "/history", "/config"] {
            let r = await call(api, .OPTIONS, path)
            #expect(r.body.isEmpty, "OPTIONS \(path)")
            #expect(r.code == 200, "OPTIONS \(path)")
        }
    }

    /// The router answers HEAD with GET's response, so the headers (Content-Length) are GET's;
    /// the channel handler leaves the body out (RESTServerTests.headHasContentLengthButNoBody).
    @Test func headAnswersLikeGet() async {
        let api = Self.api(FakeBackend(APIFx.primary()))
        for path in ["/primary", "/", "/replica", "/patroni", "/cluster", "/history"] {
            let head = await call(api, .HEAD, path), get = await call(api, .GET, path)
            #expect(head.code == get.code, "HEAD \(path)")
            #expect(head.body == get.body, "HEAD \(path)")
        }
    }

    @Test func livenessAndReadinessAnswerWithoutBodyEvenToGet() async {
        let api = Self.api(FakeBackend(APIFx.primary()))
        for path in ["/liveness", "/readiness"] {
            let r = await call(api, .GET, path)
            #expect(r.code == 200 && r.body.isEmpty, "\(path)")
        }
    }

    @Test func livenessFailsWhenTheHALoopStalled() async {
        let old = Instant(milliseconds: Instant(NIODeadline.now()).rawValue - 11_000)
        let api = Self.api(FakeBackend(APIFx.primary(at: old)))
        #expect(await call(api, .GET, "/liveness").code == 503)
    }

    @Test func beforeTheFirstCycle() async {
        let api = Self.api(FakeBackend(nil))
        let health = await call(api, .GET, "/primary")
        #expect(health.code == 503)
        #expect(health.json?["state"] == "unknown")
        #expect(await call(api, .HEAD, "/primary").code == 503)
        #expect(await call(api, .GET, "/patroni").code == 503)
        #expect(await call(api, .GET, "/cluster").code == 503)
    }

    @Test func healthUsesTheLeaseAtThisInstant() async {
        let backend = FakeBackend(APIFx.primary())
        let api = Self.api(backend)
        #expect(await call(api, .GET, "/primary").code == 200)
        backend.state.withLockedValue { $0.lease = false }
        #expect(await call(api, .GET, "/primary").code == 503)
        #expect(await call(api, .GET, "/leader").code == 503)
    }

    @Test func clusterListsMembersWithLag() async throws {
        let members = [APIFx.primaryStatus(lsn: 5_000), APIFx.replicaStatus("pg2", received: 4_000, replayed: 3_000),
                       APIFx.replicaStatus("pg3", streaming: false, tags: Tags(noFailover: true, other: ["zone": "b"]))]
        var cluster = APIFx.cluster(members)
        cluster.members["pg3"]?.receivedLSN = nil
        cluster.members["pg3"]?.replayedLSN = nil
        cluster.failover = FailoverRequest(kind: .switchover, leader: "pg1", candidate: "pg2",
                                           scheduledAtUnixMs: 1_695_544_560_000, id: "x", requestedAtUnixMs: 1)
        let api = Self.api(FakeBackend(APIFx.primary(cluster: cluster)))
        let doc = try #require(await call(api, .GET, "/cluster").json)
        #expect(doc["scope"] == "demo")
        let list = try #require(doc["members"]?.arrayValue)
        #expect(list.map { $0["name"] } == ["pg1", "pg2", "pg3"])
        let (pg1, pg2, pg3) = (list[0], list[1], list[2])
        #expect(pg1["role"] == "leader")
        #expect(pg1["state"] == "running")
        #expect(pg1["host"] == "10.0.0.1" && pg1["port"] == 5432)
        #expect(pg1["api_url"] == "http://10.0.0.1:8008/patroni")
        #expect(pg1["timeline"] == 3)
        #expect(pg1["lag"] == nil && pg1["lsn"] == nil, "the leader has no lag")
        #expect(pg2["role"] == "replica")
        #expect(pg2["state"] == "streaming")
        #expect(pg2["receive_lsn"] == "0/FA0")
        #expect(pg2["receive_lag"] == 1_000)
        #expect(pg2["replay_lsn"] == "0/BB8")
        #expect(pg2["replay_lag"] == 2_000)
        #expect(pg2["lsn"] == "0/FA0")
        #expect(pg2["lag"] == 1_000)
        #expect(pg3["state"] == "in archive recovery")
        #expect(pg3["lag"] == "unknown" && pg3["lsn"] == "unknown")
        #expect(pg3["tags", "nofailover"] == true)
        #expect(pg3["tags", "zone"] == "b")
        #expect(doc["scheduled_switchover", "from"] == "pg1")
        #expect(doc["scheduled_switchover", "to"] == "pg2")
        #expect(doc["scheduled_switchover", "at"] == "2023-09-24T08:36:00.000+00:00")
        #expect(doc["pause"] == nil)
    }

    @Test func clusterShowsMaintenanceMode() async throws {
        var config = DynamicConfig()
        config.pause = true
        let api = Self.api(FakeBackend(APIFx.primary(cluster: APIFx.cluster(APIFx.defaultMembers, config: config))))
        #expect(try #require(await call(api, .GET, "/cluster").json)["pause"] == true)
        #expect(try #require(await call(api, .GET, "/patroni").json)["pause"] == true)
    }

    @Test func historyIsAnArrayOfArrays() async throws {
        let rows = [
            HistoryRow(timeline: 1, lsn: .zero, atUnixMs: 1_569_000_000_000, reason: "bootstrap", oldPrimary: nil, newPrimary: "pg1"),
            HistoryRow(timeline: 2, lsn: LSN(25_623_960), atUnixMs: 1_569_250_677_000, reason: "no recovery target specified",
                       oldPrimary: "pg1", newPrimary: "pg1"),
            HistoryRow(timeline: 3, lsn: LSN(25_624_344), atUnixMs: 1_569_316_953_000, reason: "switchover",
                       oldPrimary: "pg1", newPrimary: "pg2"),
        ]
        let api = Self.api(FakeBackend(APIFx.primary(cluster: APIFx.cluster(APIFx.defaultMembers, history: rows))))
        let doc = try #require(await call(api, .GET, "/history").json)
        #expect(doc == [[1, 25_623_960, "no recovery target specified", "2019-09-23T14:57:57.000+00:00", "pg1"],
                        [2, 25_624_344, "switchover", "2019-09-24T09:22:33.000+00:00", "pg2"]])
        let empty = Self.api(FakeBackend(APIFx.primary()))
        #expect(await call(empty, .GET, "/history").json == [])
    }

    @Test func configShowsEffectiveValues() async throws {
        var config = DynamicConfig()
        config.maximumLagOnFailover = 2_048
        let backend = FakeBackend(APIFx.primary())
        backend.set(.config, json: String(decoding: ClusterState.encode(config), as: UTF8.self))
        let api = Self.api(backend)
        let doc = try #require(await call(api, .GET, "/config").json)
        #expect(doc["maximum_lag_on_failover"] == 2_048)
        #expect(doc["pause"] == false)
        #expect(doc["use_pg_rewind"] == true)
        #expect(doc["transfer_timeout_ms"] == 3_000)
        #expect(doc["primary_start_timeout_ms"] == 300_000)
    }

    /// `effectiveConfig`'s contract: "every setting with its effective value, plus any other
    /// keys stored" — and Patroni's GET /config is the stored document.
    /// (Found by this test: GET /config once answered from the snapshot and lost these keys.)
    @Test func configShowsOtherStoredKeys() async throws {
        let backend = FakeBackend(APIFx.primary())
        let api = Self.api(backend)
        let patched = await call(api, .PATCH, "/config", body: #"{"ttl": 30, "postgresql": {"parameters": {"work_mem": "8MB"}}}"#)
        #expect(patched.code == 200)
        #expect(patched.json?["ttl"] == 30)
        let doc = try #require(await call(api, .GET, "/config").json)
        #expect(doc["ttl"] == 30)
        #expect(doc["postgresql", "parameters", "work_mem"] == "8MB")
    }

    @Test func metricsComeFromTheBackend() async {
        let api = Self.api(FakeBackend(APIFx.primary()))
        let r = await call(api, .GET, "/metrics")
        #expect(r.code == 200)
        #expect(r.text.contains("pgha_up 1"))
        #expect(r.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
    }

    // MARK: Unknown paths and methods

    @Test(arguments: ["/foo", "/read_only", "/patroni/x", "/xyz-leader"])
    func unknownPathIs404(path: String) async {
        let api = Self.api(FakeBackend(APIFx.primary()))
        #expect(await call(api, .GET, path).code == 404)
        #expect(await call(api, .POST, path, body: "{}").code == 404)
    }

    static let wrongMethods: [(HTTPMethod, String, String)] = [
        (.GET, "/switchover", "POST, DELETE"), (.GET, "/failover", "POST"), (.GET, "/restart", "POST, DELETE"),
        (.GET, "/reload", "POST"), (.GET, "/reinitialize", "POST"),
        (.POST, "/patroni", "GET, HEAD, OPTIONS"), (.DELETE, "/cluster", "GET, HEAD, OPTIONS"),
        (.POST, "/primary", "GET, HEAD, OPTIONS"), (.PUT, "/switchover", "POST, DELETE"),
        (.DELETE, "/config", "GET, HEAD, OPTIONS, PATCH, PUT"), (.POST, "/config", "GET, HEAD, OPTIONS, PATCH, PUT"),
        (.DELETE, "/failover", "POST"), (.CONNECT, "/patroni", "GET, HEAD, OPTIONS"),
        (.RAW(value: "PROPFIND"), "/config", "GET, HEAD, OPTIONS, PATCH, PUT"),
    ]

    @Test(arguments: wrongMethods)
    func wrongMethodIs405WithAllow(method: HTTPMethod, path: String, allow: String) async {
        let api = Self.api(FakeBackend(APIFx.primary()))
        let r = await call(api, method, path, body: "{}")
        #expect(r.code == 405, "\(method) \(path)")
        #expect(r.headers.first(name: "Allow") == allow, "\(method) \(path)")
    }

    // MARK: POST /switchover, /failover: validation

    static let refusals: [(String, String, Int, String)] = [
        ("/switchover", #"{"candidate": "pg2"}"#, 400, "Switchover could be performed only from a specific leader"),
        ("/failover", #"{"leader": "pg1"}"#, 400, "Failover could be performed only to a specific candidate"),
        ("/failover", #"{}"#, 400, ""),
        ("/switchover", #"{"leader": "pg1", "candidate": "pg1"}"#, 400, "Switchover target and source are the same"),
        ("/failover", #"{"leader": "pg1", "member": "pg1"}"#, 400, "Switchover target and source are the same"),
        ("/switchover", #"{"leader": "pg2", "candidate": "pg3"}"#, 412, "leader name does not match"),
        ("/switchover", #"{"leader": "pg2"}"#, 412, "leader name does not match"),
        ("/switchover", #"{"leader": "pg1", "candidate": "pgX"}"#, 412, "candidate does not exists"),
        ("/failover", #"{"candidate": "pgX"}"#, 412, "candidate does not exists"),
        ("/switchover", #"{"leader": "pg1", "scheduled_at": "2001-01-01T00:00:00Z"}"#, 422, "Cannot schedule switchover in the past"),
        ("/switchover", #"{"leader": "pg1", "scheduled_at": "2099-01-01T10:00"}"#, 400,
         "Timezone information is mandatory for the scheduled switchover"),
        ("/switchover", #"{"leader": "pg1", "scheduled_at": "next tuesday"}"#, 422,
         "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601"),
        ("/failover", #"{"candidate": "pg2", "scheduled_at": "2099-01-01T10:00:00Z"}"#, 400, "Failover can't be scheduled"),
        ("/switchover", #"{"leader": "pg1", "foo": 1}"#, 400, ""),
        ("/switchover", #"{"leader": 7}"#, 400, ""),
        ("/switchover", #"["pg1"]"#, 400, ""),
        ("/switchover", #"not json"#, 400, ""),
        ("/switchover", "", 400, ""),
    ]

    @Test(arguments: refusals)
    func switchoverRefusals(path: String, body: String, code: Int, message: String) async {
        let backend = FakeBackend(APIFx.primary())
        let r = await call(Self.api(backend), .POST, path, body: body)
        #expect(r.code == code, "\(path) \(body): \(r.text)")
        if !message.isEmpty { #expect(r.text == message, "\(path) \(body)") }
        #expect(backend.stored(.failover) == nil, "nothing was written")
    }

    @Test func excludedCandidateIs412() async {
        let members = [APIFx.primaryStatus(), APIFx.replicaStatus("pg2"), APIFx.replicaStatus("pg3", tags: Tags(noFailover: true))]
        let backend = FakeBackend(APIFx.primary(cluster: APIFx.cluster(members)))
        let r = await call(Self.api(backend), .POST, "/switchover", body: #"{"leader": "pg1", "candidate": "pg3"}"#)
        #expect(r.code == 412)
        #expect(r.text == "candidate pg3 cannot be promoted: tags forbid promotion")
    }

    @Test func noGoodCandidateIs412() async {
        let members = [APIFx.primaryStatus(), APIFx.replicaStatus("pg2", tags: Tags(noFailover: true))]
        let backend = FakeBackend(APIFx.primary(cluster: APIFx.cluster(members)))
        let r = await call(Self.api(backend), .POST, "/switchover", body: #"{"leader": "pg1"}"#)
        #expect(r.code == 412)
        #expect(r.text == "switchover is not possible: no good candidates have been found")
        let alone = FakeBackend(APIFx.primary(cluster: APIFx.cluster([APIFx.primaryStatus()])))
        let r2 = await call(Self.api(alone), .POST, "/switchover", body: #"{"leader": "pg1"}"#)
        #expect(r2.code == 412)
        #expect(r2.text == "switchover is not possible: cluster does not have members except leader")
    }

    @Test func pausedClusterRules() async {
        var config = DynamicConfig()
        config.pause = true
        let backend = FakeBackend(APIFx.primary(cluster: APIFx.cluster(APIFx.defaultMembers, config: config)))
        let api = Self.api(backend)
        let noCandidate = await call(api, .POST, "/switchover", body: #"{"leader": "pg1"}"#)
        #expect(noCandidate.code == 400)
        #expect(noCandidate.text == "Switchover is possible only to a specific candidate in a paused state")
        let scheduled = await call(api, .POST, "/switchover",
                                   body: #"{"leader": "pg1", "candidate": "pg2", "scheduled_at": "2099-01-01T10:00:00Z"}"#)
        #expect(scheduled.code == 400)
        #expect(scheduled.text == "Can't schedule switchover in the paused state")
    }

    // MARK: Scheduled switchover

    @Test func scheduledSwitchoverIsWrittenAndAnswered202ThenDeleted() async throws {
        let backend = FakeBackend(APIFx.primary())
        let api = Self.api(backend)
        let r = await call(api, .POST, "/switchover",
                           body: #"{"leader": "pg1", "candidate": "pg3", "scheduled_at": "2099-01-01T12:00:00+02:00"}"#)
        #expect(r.code == 202)
        #expect(r.text == "Switchover scheduled")
        let stored = try #require(backend.state.withLockedValue { $0.store[.failover] })
        let request = try JSONDecoder().decode(FailoverRequest.self, from: Data(stored.value))
        #expect(request.kind == .switchover && request.leader == "pg1" && request.candidate == "pg3")
        #expect(request.scheduledAtUnixMs == 4_070_944_800_000)
        #expect(backend.state.withLockedValue { $0.writes.last?.2 } == 0, "created with compare-and-set on absence")

        // One at a time.
        let again = await call(api, .POST, "/switchover", body: #"{"leader": "pg1", "candidate": "pg2"}"#)
        #expect(again.code == 409)

        let deleted = await call(api, .DELETE, "/switchover")
        #expect(deleted.code == 200)
        #expect(deleted.text == "scheduled switchover deleted")
        #expect(backend.stored(.failover) == nil)
        let none = await call(api, .DELETE, "/switchover")
        #expect(none.code == 404)
        #expect(none.text == "no switchover is scheduled")
    }

    @Test func deleteDoesNotCancelAnImmediateRequest() async {
        let backend = FakeBackend(APIFx.primary())
        backend.set(.failover, json: String(decoding: ClusterState.encode(
            FailoverRequest(kind: .failover, candidate: "pg2", id: "y", requestedAtUnixMs: 1)), as: UTF8.self))
        let r = await call(Self.api(backend), .DELETE, "/switchover")
        #expect(r.code == 404)
        #expect(backend.stored(.failover) != nil)
    }

    @Test func pendingImmediateRequestIs409() async {
        let backend = FakeBackend(APIFx.primary())
        backend.set(.failover, json: String(decoding: ClusterState.encode(
            FailoverRequest(kind: .failover, candidate: "pg2", id: "y", requestedAtUnixMs: 1)), as: UTF8.self))
        let r = await call(Self.api(backend), .POST, "/switchover", body: #"{"leader": "pg1", "candidate": "pg3"}"#)
        #expect(r.code == 409)
    }

    @Test(arguments: ["2099-01-01T10:00:00Z", "2099-01-01T10:00Z", "2099-01-01T12:00+02:00", "2099-01-01T10:00+00",
                      "2099-01-01 10:00:00+00:00", "2099-01-01T10:00:00.250Z"])
    func scheduleFormatsAccepted(at: String) async {
        let backend = FakeBackend(APIFx.primary())
        let r = await call(Self.api(backend), .POST, "/switchover", body: #"{"leader": "pg1", "scheduled_at": "\#(at)"}"#)
        #expect(r.code == 202, "\(at): \(r.text)")
    }

    // MARK: Immediate switchover: the outcome

    @Test func immediateSwitchoverSucceeds() async throws {
        let backend = FakeBackend(APIFx.primary())
        backend.state.withLockedValue { $0.loop = .carryOut(newPrimary: "pg2", reason: "switchover") }
        let r = await call(Self.api(backend), .POST, "/switchover", body: #"{"leader": "pg1", "candidate": "pg2"}"#)
        #expect(r.code == 200)
        #expect(r.text == #"Successfully switched over to "pg2""#)
    }

    @Test func immediateSwitchoverToTheBestCandidate() async throws {
        let backend = FakeBackend(APIFx.primary())
        backend.state.withLockedValue { $0.loop = .carryOut(newPrimary: "pg3", reason: "switchover") }
        let r = await call(Self.api(backend), .POST, "/switchover", body: #"{"leader": "pg1"}"#)
        #expect(r.code == 200)
        #expect(r.text == #"Successfully switched over to "pg3""#)
    }

    @Test func immediateSwitchoverToAnotherMember() async throws {
        let backend = FakeBackend(APIFx.primary())
        backend.state.withLockedValue { $0.loop = .carryOut(newPrimary: "pg3", reason: "switchover") }
        let r = await call(Self.api(backend), .POST, "/switchover", body: #"{"leader": "pg1", "candidate": "pg2"}"#)
        #expect(r.code == 200)
        #expect(r.text == #"Switched over to "pg3" instead of "pg2""#)
    }

    @Test func manualFailoverSucceeds() async throws {
        let backend = FakeBackend(APIFx.primary())
        backend.state.withLockedValue { $0.loop = .carryOut(newPrimary: "pg2", reason: "manual failover") }
        let r = await call(Self.api(backend), .POST, "/failover", body: #"{"candidate": "pg2"}"#)
        #expect(r.code == 200)
        #expect(r.text == #"Successfully failed over to "pg2""#)
    }

    @Test func failoverWithALeaderIsASwitchover() async throws {
        let backend = FakeBackend(APIFx.primary())
        let r = await call(Self.api(backend, wait: .milliseconds(200)), .POST, "/failover",
                           body: #"{"leader": "pg1", "candidate": "pg2"}"#)
        #expect(r.code == 503)
        let stored = try #require(backend.state.withLockedValue { $0.store[.failover] })
        let request = try JSONDecoder().decode(FailoverRequest.self, from: Data(stored.value))
        #expect(request.kind == .switchover)
    }

    @Test func droppedRequestIsSwitchoverFailed() async {
        let backend = FakeBackend(APIFx.primary())
        backend.state.withLockedValue { $0.loop = .drop }
        let r = await call(Self.api(backend), .POST, "/switchover", body: #"{"leader": "pg1", "candidate": "pg2"}"#)
        #expect(r.code == 503)
        #expect(r.text == "Switchover failed")
    }

    @Test func droppedRequestWithOnlyAnOldHistoryRowIsSwitchoverFailed() async {
        let backend = FakeBackend(APIFx.primary())
        backend.set(.history, json: String(decoding: ClusterState.encode([
            HistoryRow(timeline: 2, lsn: LSN(10), atUnixMs: 1_000, reason: "switchover", oldPrimary: "pg2", newPrimary: "pg1"),
        ]), as: UTF8.self))
        backend.state.withLockedValue { $0.loop = .drop }
        let r = await call(Self.api(backend), .POST, "/switchover", body: #"{"leader": "pg1", "candidate": "pg2"}"#)
        #expect(r.code == 503)
        #expect(r.text == "Switchover failed")
    }

    @Test func automaticFailoverRowIsNotASwitchoverSuccess() async {
        let backend = FakeBackend(APIFx.primary())
        backend.state.withLockedValue { $0.loop = .carryOut(newPrimary: "pg2", reason: "failover") }
        let r = await call(Self.api(backend), .POST, "/switchover", body: #"{"leader": "pg1", "candidate": "pg2"}"#)
        #expect(r.code == 503)
        #expect(r.text == "Switchover failed")
    }

    @Test func pendingRequestTimesOut() async {
        let backend = FakeBackend(APIFx.primary())
        let started = ContinuousClock.now
        let r = await call(Self.api(backend, wait: .milliseconds(300)), .POST, "/switchover",
                           body: #"{"leader": "pg1", "candidate": "pg2"}"#)
        #expect(r.code == 503)
        #expect(r.text.hasPrefix("Switchover status unknown"), "\(r.text)")
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test func unreachableStoreIs503() async {
        final class Unreachable: RESTBackend, Sendable {
            let inner = FakeBackend(APIFx.primary())
            var clusterName: String { "demo" }
            var memberName: String { "pg1" }
            func snapshot() -> AgentSnapshot? { inner.snapshot() }
            func leaseValid() -> Bool { true }
            func read(_ key: ClusterKey) async throws -> VersionedValue? { throw FakeStoreUnreachable() }
            func write(_ key: ClusterKey, _ value: [UInt8], expectedRevision: UInt64?) async throws { throw FakeStoreUnreachable() }
            func delete(_ key: ClusterKey, expectedRevision: UInt64?) async throws { throw FakeStoreUnreachable() }
            func perform(_ operation: LocalOperation) async -> LocalOperationResult { .init(done: false, message: "") }
            func metricsText() -> String { "" }
            func memberHosts() -> [String] { [] }
        }
        let api = RESTAPI(backend: Unreachable(), settings: RESTSettings(), logger: quietLogger)
        #expect(await call(api, .POST, "/switchover", body: #"{"leader": "pg1", "candidate": "pg2"}"#).code == 503)
        #expect(await call(api, .PATCH, "/config", body: #"{"pause": true}"#).code == 503)
    }

    // MARK: PATCH and PUT /config

    @Test func patchMergesAndNullRemoves() async throws {
        let backend = FakeBackend(APIFx.primary())
        backend.set(.config, json: #"{"maximum_lag_on_failover": 1048576, "pause": true, "ttl": 30}"#)
        let api = Self.api(backend)
        let r = await call(api, .PATCH, "/config", body: #"{"pause": null, "maximum_lag_on_failover": 2048}"#)
        #expect(r.code == 200, "\(r.text)")
        #expect(backend.stored(.config) == ["maximum_lag_on_failover": 2048, "ttl": 30])
        let doc = try #require(r.json)
        #expect(doc["pause"] == false, "the effective value")
        #expect(doc["ttl"] == 30)
        #expect(doc["maximum_lag_on_failover"] == 2048)
        #expect(doc["use_pg_rewind"] == true)
    }

    @Test func patchNested() async {
        let backend = FakeBackend(APIFx.primary())
        backend.set(.config, json: #"{"postgresql": {"parameters": {"a": 1, "c": 3}}}"#)
        let api = Self.api(backend)
        let r = await call(api, .PATCH, "/config", body: #"{"postgresql": {"parameters": {"a": null, "b": 2}}}"#)
        #expect(r.code == 200)
        #expect(backend.stored(.config) == ["postgresql": ["parameters": ["b": 2, "c": 3]]])
    }

    @Test func patchWithoutStoredConfigCreatesIt() async {
        let backend = FakeBackend(APIFx.primary())
        let r = await call(Self.api(backend), .PATCH, "/config", body: #"{"pause": true}"#)
        #expect(r.code == 200)
        #expect(backend.stored(.config) == ["pause": true])
        #expect(backend.state.withLockedValue { $0.writes.last?.2 } == 0)
    }

    @Test(arguments: [#"{"pause": "yes"}"#, #"{"maximum_lag_on_failover": -1}"#, #"{"maximum_lag_on_failover": "1MB"}"#,
                      #"{"transfer_timeout_ms": 1.5}"#, #"{"use_pg_rewind": 1}"#, #"{"primary_start_timeout_ms": []}"#])
    func patchWithAWrongTypeIs400(body: String) async {
        let backend = FakeBackend(APIFx.primary())
        backend.set(.config, json: #"{"ttl": 30}"#)
        let r = await call(Self.api(backend), .PATCH, "/config", body: body)
        #expect(r.code == 400, "\(body): \(r.text)")
        #expect(backend.stored(.config) == ["ttl": 30])
    }

    @Test(arguments: ["", "null", "[1]", "\"x\"", "{not json"])
    func patchWithoutAnObjectIs400(body: String) async {
        let backend = FakeBackend(APIFx.primary())
        #expect(await call(Self.api(backend), .PATCH, "/config", body: body).code == 400, "\(body)")
        #expect(await call(Self.api(backend), .PUT, "/config", body: body).code == 400, "\(body)")
        #expect(backend.writeCount == 0)
    }

    @Test func patchConflictIs409() async {
        let backend = FakeBackend(APIFx.primary())
        backend.set(.config, json: #"{"ttl": 30}"#)
        backend.state.withLockedValue { $0.conflictNextWrite = true }
        let r = await call(Self.api(backend), .PATCH, "/config", body: #"{"pause": true}"#)
        #expect(r.code == 409)
        #expect(backend.stored(.config) == ["ttl": 30])
    }

    @Test func patchIsACompareAndSetOnTheReadRevision() async {
        let backend = FakeBackend(APIFx.primary())
        backend.set(.config, json: #"{"ttl": 30}"#)
        let revision = backend.state.withLockedValue { $0.store[.config]!.modRevision }
        _ = await call(Self.api(backend), .PATCH, "/config", body: #"{"pause": true}"#)
        #expect(backend.state.withLockedValue { $0.writes.last?.2 } == revision)
    }

    @Test func patchThatChangesNothingWritesNothing() async {
        let backend = FakeBackend(APIFx.primary())
        backend.set(.config, json: #"{"pause": true}"#)
        let r = await call(Self.api(backend), .PATCH, "/config", body: #"{"pause": true}"#)
        #expect(r.code == 200)
        #expect(backend.writeCount == 0)
    }

    @Test func putReplaces() async throws {
        let backend = FakeBackend(APIFx.primary())
        backend.set(.config, json: #"{"pause": true, "ttl": 30}"#)
        let r = await call(Self.api(backend), .PUT, "/config", body: #"{"ttl": 20}"#)
        #expect(r.code == 200)
        #expect(backend.stored(.config) == ["ttl": 20])
        let doc = try #require(r.json)
        #expect(doc["ttl"] == 20)
        #expect(doc["pause"] == false)
        #expect(await call(Self.api(backend), .PUT, "/config", body: #"{"pause": 3}"#).code == 400)
    }

    // MARK: Local operations

    @Test func restartRunsTheOperation() async {
        let backend = FakeBackend(APIFx.primary())
        let r = await call(Self.api(backend), .POST, "/restart")
        #expect(r.code == 200)
        #expect(r.text == "restarted successfully")
        #expect(backend.operations == [.restart])
        let withRole = await call(Self.api(backend), .POST, "/restart", body: #"{"role": "primary"}"#)
        #expect(withRole.code == 200)
    }

    @Test func restartFailureIs503() async {
        let backend = FakeBackend(APIFx.primary())
        backend.state.withLockedValue { $0.operationResult = LocalOperationResult(done: false, message: "restart failed") }
        let r = await call(Self.api(backend), .POST, "/restart", body: "{}")
        #expect(r.code == 503)
        #expect(r.text == "restart failed")
    }

    @Test func restartRefusals() async {
        let backend = FakeBackend(APIFx.primary())
        let api = Self.api(backend)
        let unknown = await call(api, .POST, "/restart", body: #"{"foo": 1}"#)
        #expect(unknown.code == 400)
        #expect(unknown.text == "Unknown filter for the scheduled restart: foo")
        let role = await call(api, .POST, "/restart", body: #"{"role": "master"}"#)
        #expect(role.code == 400)
        #expect(role.text == "PostgreSQL role should be either primary, standby_leader, or replica")
        let other = await call(api, .POST, "/restart", body: #"{"role": "replica"}"#)
        #expect(other.code == 503)
        #expect(other.text == "restart conditions are not satisfied")
        #expect(await call(api, .POST, "/restart", body: "[]").code == 400)
        #expect(backend.operations.isEmpty)
    }

    @Test func reloadIs202() async {
        let backend = FakeBackend(APIFx.primary())
        let r = await call(Self.api(backend), .POST, "/reload")
        #expect(r.code == 202)
        #expect(r.text == "reload scheduled")
        for _ in 0..<200 where backend.operations.isEmpty { try? await Task.sleep(for: .milliseconds(10)) }
        #expect(backend.operations == [.reload])
    }

    @Test func reinitializeOnTheLeaderIs503() async {
        let backend = FakeBackend(APIFx.primary())
        let r = await call(Self.api(backend), .POST, "/reinitialize")
        #expect(r.code == 503)
        #expect(r.text == "I am the leader, can not reinitialize")
        // A running primary that lost leadership is not reinitialized either.
        let lost = FakeBackend(APIFx.snapshot(member: APIFx.primaryStatus(), local: APIFx.runningPrimary, isLeader: false,
                                              raftLeader: "pg2"))
        #expect(await call(Self.api(lost), .POST, "/reinitialize").code == 503)
        let leaderless = FakeBackend(APIFx.replica(), memberName: "pg2")
        leaderless.state.withLockedValue { $0.snapshot?.raft.leader = nil }
        let r2 = await call(Self.api(leaderless), .POST, "/reinitialize")
        #expect(r2.code == 503)
        #expect(r2.text == "Cluster has no leader, can not reinitialize")
        #expect(backend.operations.isEmpty && lost.operations.isEmpty && leaderless.operations.isEmpty)
    }

    @Test func reinitializeOnAReplicaStarts() async {
        let backend = FakeBackend(APIFx.replica(), memberName: "pg2")
        let r = await call(Self.api(backend), .POST, "/reinitialize", body: #"{"force": true}"#)
        #expect(r.code == 200)
        #expect(r.text == "reinitialize started")
        for _ in 0..<200 where backend.operations.isEmpty { try? await Task.sleep(for: .milliseconds(10)) }
        #expect(backend.operations == [.reinitialize])
    }

    // MARK: Authentication and allowlist

    static var withAuth: RESTSettings {
        var s = RESTSettings()
        s.username = "admin"
        s.password = "s3cret"
        return s
    }

    static func basic(_ credentials: String) -> HTTPHeaders {
        ["Authorization": "Basic " + Data(credentials.utf8).base64EncodedString()]
    }

    @Test func noAuthorizationHeaderIs401() async {
        let backend = FakeBackend(APIFx.primary())
        let r = await call(Self.api(backend, settings: Self.withAuth), .POST, "/reload")
        #expect(r.code == 401)
        #expect(r.text == "no auth header received")
        #expect(r.headers.first(name: "WWW-Authenticate")?.hasPrefix("Basic realm=") == true)
        #expect(backend.operations.isEmpty)
    }

    @Test(arguments: ["admin:wrong", "admin:s3cre", "admin:s3cret ", "Admin:s3cret", "admin", ":s3cret"])
    func wrongCredentialsAre401(credentials: String) async {
        let backend = FakeBackend(APIFx.primary())
        let r = await call(Self.api(backend, settings: Self.withAuth), .POST, "/reload", headers: Self.basic(credentials))
        #expect(r.code == 401)
        #expect(r.text == "not authenticated")
        #expect(r.headers.first(name: "WWW-Authenticate")?.hasPrefix("Basic realm=") == true)
    }

    @Test func malformedAuthorizationIs401() async {
        let api = Self.api(FakeBackend(APIFx.primary()), settings: Self.withAuth)
        for value in ["Bearer abc", "Basic", "Basic !!!", "YWRtaW46czNjcmV0"] {
            #expect(await call(api, .POST, "/reload", headers: ["Authorization": value]).code == 401, "\(value)")
        }
    }

    @Test func rightCredentialsPass() async {
        let backend = FakeBackend(APIFx.primary())
        let api = Self.api(backend, settings: Self.withAuth)
        #expect(await call(api, .POST, "/reload", headers: Self.basic("admin:s3cret")).code == 202)
        #expect(await call(api, .PATCH, "/config", body: #"{"pause": true}"#, headers: Self.basic("admin:s3cret")).code == 200)
        #expect(await call(api, .DELETE, "/switchover", headers: Self.basic("admin:s3cret")).code == 404)
    }

    @Test func everyUnsafeActionNeedsAuth() async {
        let backend = FakeBackend(APIFx.primary())
        let api = Self.api(backend, settings: Self.withAuth)
        let unsafe: [(HTTPMethod, String)] = [(.POST, "/switchover"), (.POST, "/failover"), (.DELETE, "/switchover"),
                                              (.POST, "/restart"), (.POST, "/reload"), (.POST, "/reinitialize"),
                                              (.PATCH, "/config"), (.PUT, "/config")]
        for (method, path) in unsafe {
            #expect(await call(api, method, path, body: #"{"leader": "pg1", "pause": true}"#).code == 401, "\(method) \(path)")
        }
        #expect(backend.writeCount == 0 && backend.operations.isEmpty)
    }

    @Test func getNeverNeedsAuth() async {
        var settings = Self.withAuth
        settings.allowlist = [NetworkRange(parsing: "10.0.0.0/8")!]
        let api = Self.api(FakeBackend(APIFx.primary()), settings: settings)
        for (method, path) in [(HTTPMethod.GET, "/patroni"), (.GET, "/primary"), (.HEAD, "/primary"), (.OPTIONS, "/"),
                               (.GET, "/cluster"), (.GET, "/config"), (.GET, "/history"), (.GET, "/metrics")] {
            #expect(await call(api, method, path, remote: "192.168.1.1").code == 200, "\(method) \(path)")
        }
    }

    @Test func allowlist() async {
        var settings = Self.withAuth
        settings.allowlist = [NetworkRange(parsing: "10.0.0.0/8")!, NetworkRange(parsing: "::1")!]
        let backend = FakeBackend(APIFx.primary())
        let api = Self.api(backend, settings: settings)
        let outside = await call(api, .POST, "/reload", headers: Self.basic("admin:s3cret"), remote: "192.168.1.1")
        #expect(outside.code == 403)
        #expect(outside.text == "Access is denied")
        #expect(await call(api, .POST, "/reload", remote: "192.168.1.1").code == 403, "the allowlist comes before auth")
        #expect(await call(api, .POST, "/reload", headers: Self.basic("admin:s3cret"), remote: "10.20.30.40").code == 202)
        #expect(await call(api, .POST, "/reload", headers: Self.basic("admin:s3cret"), remote: "::1").code == 202)
        #expect(await call(api, .POST, "/reload", headers: Self.basic("admin:s3cret"), remote: "::ffff:10.1.1.1").code == 202)
        #expect(await call(api, .POST, "/reload", headers: Self.basic("admin:s3cret")).code == 403, "unknown peer")
        #expect(await call(api, .POST, "/reload", remote: "10.20.30.40").code == 401, "inside, but still needs auth")
    }

    @Test func allowlistIncludesMembers() async {
        var settings = RESTSettings()
        settings.allowlistIncludesMembers = true
        let backend = FakeBackend(APIFx.primary())
        backend.state.withLockedValue { $0.memberHosts = ["10.0.0.2", "10.0.0.3", "pg-host.example"] }
        let api = Self.api(backend)
        let member = Self.api(backend, settings: settings)
        #expect(await call(member, .POST, "/reload", remote: "10.0.0.2").code == 202)
        #expect(await call(member, .POST, "/reload", remote: "10.0.0.9").code == 403)
        #expect(await call(api, .POST, "/reload", remote: "10.0.0.9").code == 202, "no allowlist: everyone")
    }
}
