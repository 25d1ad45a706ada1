import Foundation
import HACore
import Testing
@testable import ClusterStore

@Suite struct MemberStatusCodingTests {
    static let replica = MemberStatus(
        name: "pg2", raftID: 2, role: .replica, state: .running, host: "10.0.0.2", port: 5432,
        systemIdentifier: 7_301_234_567_890_123_457, timeline: 3, receivedLSN: LSN(0x3000060), replayedLSN: LSN(0x3000028),
        streaming: true, following: "pg1", tags: Tags(noFailover: true, failoverPriority: 0, other: ["zone": "east"]),
        serverVersion: 150_010, reportedAtUnixMs: 1_700_000_000_123)

    static let primary = MemberStatus(
        name: "pg1", raftID: 1, role: .primary, state: .running, host: "10.0.0.1", port: 5432,
        systemIdentifier: 7_301_234_567_890_123_457, timeline: 3, walPosition: LSN(0x1_0000_00A0),
        tags: Tags(failoverPriority: 5),
        replication: [ReplicationRow(applicationName: "pg2", clientAddress: "10.0.0.2", state: "streaming", syncState: "async",
                                     sentLSN: LSN(0x1_0000_00A0), writeLSN: LSN(0x1_0000_00A0), flushLSN: LSN(0x3000060),
                                     replayLSN: LSN(0x3000028))],
        serverVersion: 150_010, reportedAtUnixMs: 1_700_000_000_456)

    /// The encoded JSON as a dictionary.
    static func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test(arguments: [replica, primary])
    func roundTripsThroughTheStore(status: MemberStatus) {
        let (view, problems) = ClusterState.view(from: storeItems([("members/\(status.name)", ClusterState.encode(status))]),
                                                 nowUnixMs: status.reportedAtUnixMs + 1_000)
        #expect(problems.isEmpty)
        #expect(view.members == [status.name: status])
    }

    @Test func aReplicaIsWrittenWithPatronisNames() throws {
        let bytes = ClusterState.encode(Self.replica)
        let json = try Self.object(bytes)
        #expect(Set(json.keys) == ["name", "raft_id", "role", "state", "host", "port", "system_identifier", "timeline",
                                   "received_location", "replayed_location", "streaming", "following", "tags",
                                   "replication", "server_version", "reported_at_ms"], "absent optionals are left out")
        #expect(json["received_location"] as? String == "0/3000060")
        #expect(json["replayed_location"] as? String == "0/3000028")
        #expect(json["timeline"] as? Int == 3)
        #expect(json["role"] as? String == "replica" && json["state"] as? String == "running")
        #expect(json["reported_at_ms"] as? Int == 1_700_000_000_123)
        // All 19 digits, as an integer: a double would round it.
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\"system_identifier\":7301234567890123457"), "\(text)")

        let tags = try #require(json["tags"] as? [String: Any])
        #expect(tags["nofailover"] as? Bool == true)
        #expect(tags["failover_priority"] as? Int == 0)
        #expect(tags["noloadbalance"] as? Bool == false)
        #expect(tags["other"] as? [String: String] == ["zone": "east"])
    }

    @Test func aPrimaryWritesItsPositionAndReplicationRows() throws {
        let json = try Self.object(ClusterState.encode(Self.primary))
        #expect(json["wal_position"] as? String == "1/A0")
        #expect(json["received_location"] == nil && json["replayed_location"] == nil && json["following"] == nil)
        let rows = try #require(json["replication"] as? [[String: Any]])
        #expect(rows.count == 1)
        #expect(Set(rows[0].keys) == ["application_name", "client_addr", "state", "sync_state", "sent_lsn", "write_lsn",
                                      "flush_lsn", "replay_lsn"])
        #expect(rows[0]["flush_lsn"] as? String == "0/3000060" && rows[0]["sync_state"] as? String == "async")
    }

    @Test func lsnIsPostgresText() throws {
        let decoded = try JSONDecoder().decode(String.self, from: Data(ClusterState.encode(LSN(0x3000060))))
        #expect(decoded == "0/3000060")
        #expect(try JSONDecoder().decode(String.self, from: Data(ClusterState.encode(LSN(0x16_B374_D848)))) == "16/B374D848")
        #expect(try JSONDecoder().decode(LSN.self, from: Data(#""16/B374D848""#.utf8)) == LSN(0x16_B374_D848))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(LSN.self, from: Data(#""3000060""#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(LSN.self, from: Data("50331744".utf8)) }
    }

    @Test func statesUsePatronisSpellings() throws {
        let states: [(PostgresRunState, String)] = [(.creatingReplica, "creating replica"), (.initializing, "initializing new cluster"),
                                                     (.crashed, "crashed")]
        for (state, text) in states {
            let json = try Self.object(ClusterState.encode(Self.replica.with { $0.state = state; $0.role = .uninitialized }))
            #expect(json["state"] as? String == text && json["role"] as? String == "uninitialized")
        }
    }
}
