import Foundation
import Testing
@testable import PGNode

/// The pure parts of the patronictl-style CLI: the member and history tables, the merge
/// patches of `edit-config`, the YAML bridge and the HAProxy configuration.
@Suite struct CLIFormattingTests {
    static let cluster: JSONValue = [
        "scope": "demo", "database_system_identifier": "7277694203142172922",
        "raft": ["term": 4, "leader": "pg1"],
        "members": [
            ["name": "pg1", "role": "leader", "state": "running", "api_url": "http://127.0.0.1:8038/patroni",
             "host": "127.0.0.1", "port": 15432, "timeline": 3],
            ["name": "pg2", "role": "replica", "state": "streaming", "api_url": "http://127.0.0.1:8039/patroni",
             "host": "127.0.0.1", "port": 15433, "timeline": 3,
             "receive_lsn": "0/4000060", "receive_lag": 0, "replay_lsn": "0/4000060", "replay_lag": 0, "lsn": "0/4000060", "lag": 0],
            ["name": "pg3", "role": "replica", "state": "stopped", "api_url": "http://127.0.0.1:8040/patroni",
             "host": "127.0.0.1", "port": 15434,
             "receive_lsn": "unknown", "receive_lag": "unknown", "replay_lsn": "0/3000000", "replay_lag": 17_825_792,
             "lsn": "0/3000000", "lag": 17_825_792, "tags": ["replicatefrom": "pg2"]],
        ],
    ]

    @Test func listTable() {
        let table = MemberTable(cluster: Self.cluster)
        #expect(table.pretty() == """
        + Cluster: demo (7277694203142172922), Raft term 4 ---+-----------+--------------------+
        | Member | Host            | Role    | State     | TL | Lag in MB | Tags               |
        +--------+-----------------+---------+-----------+----+-----------+--------------------+
        | pg1    | 127.0.0.1:15432 | Leader  | running   |  3 |           |                    |
        | pg2    | 127.0.0.1:15433 | Replica | streaming |  3 |         0 |                    |
        | pg3    | 127.0.0.1:15434 | Replica | stopped   |    |        17 | replicatefrom: pg2 |
        +--------+-----------------+---------+-----------+----+-----------+--------------------+
        """)
    }

    @Test func everyLineOfATableHasTheSameWidth() {
        for text in [MemberTable(cluster: Self.cluster).pretty(extended: true),
                     MemberTable(cluster: ["scope": "a-very-long-cluster-name-indeed", "members": []]).pretty()] {
            let widths = Set(text.split(separator: "\n").map(\.count))
            #expect(widths.count == 1, "\(text)")
        }
    }

    @Test func titleWithoutSystemIdentifierAndFooters() {
        var doc = Self.cluster
        if case .object(var o) = doc {
            o["database_system_identifier"] = nil
            o["pause"] = true
            o["scheduled_switchover"] = ["at": "2026-05-01T10:00:00+00:00", "from": "pg1", "to": "pg2"]
            doc = .object(o)
        }
        let lines = MemberTable(cluster: doc).pretty().split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("+ Cluster: demo (uninitialized), Raft term 4 "))
        #expect(Array(lines.suffix(4)) == [" Maintenance mode: on",
                                           " Switchover scheduled at: 2026-05-01T10:00:00+00:00",
                                           "                    from: pg1",
                                           "                      to: pg2"])
    }

    @Test func hostWithoutPortWhenAllUseTheDefault() {
        let doc: JSONValue = ["scope": "c", "members": [
            ["name": "a", "role": "leader", "state": "running", "host": "10.0.0.1", "port": 5432],
            ["name": "b", "role": "sync_standby", "state": "streaming", "host": "10.0.0.2", "port": 5432],
        ]]
        let rows = MemberTable(cluster: doc).rows
        #expect(rows.map(\.host) == ["10.0.0.1", "10.0.0.2"])
        #expect(rows.map(\.role) == ["Leader", "Sync Standby"])
    }

    @Test func recordsUsePatronisKeysAndOmitEmptyValues() throws {
        let records = try #require(MemberTable(cluster: Self.cluster).records().arrayValue)
        #expect(records[0] == ["Cluster": "demo", "Member": "pg1", "Host": "127.0.0.1:15432", "Role": "Leader", "State": "running", "TL": 3])
        #expect(records[2]["Receive LSN"] == "unknown")
        #expect(records[2]["Receive Lag"] == nil)
        #expect(records[2]["Replay Lag"] == 17)
        #expect(records[2]["Tags"] == ["replicatefrom": "pg2"])
    }

    @Test func topologyNestsCascadedReplicas() {
        let rows = MemberTable(cluster: Self.cluster).topologyRows
        #expect(rows.map(\.member) == ["pg1", "pg2", "pg3"])
        #expect(rows.map(\.depth) == [0, 1, 2])
        let text = MemberTable(cluster: Self.cluster).pretty(topology: true)
        #expect(text.contains("| + pg2  "))
        #expect(text.contains("|   + pg3 "))
    }

    @Test func historyTable() {
        let doc: JSONValue = [[1, 25_623_960, "no recovery target specified", "2019-09-23T16:57:57+02:00", "pg1"], [2, 25_624_344, "switchover"]]
        let h = HistoryTable(history: doc)
        #expect(h.pretty() == """
        +----+----------+------------------------------+---------------------------+------------+
        | TL |      LSN | Reason                       | Timestamp                 | New Leader |
        +----+----------+------------------------------+---------------------------+------------+
        |  1 | 25623960 | no recovery target specified | 2019-09-23T16:57:57+02:00 | pg1        |
        |  2 | 25624344 | switchover                   |                           |            |
        +----+----------+------------------------------+---------------------------+------------+
        """)
        #expect(h.records().arrayValue?[1] == ["TL": 2, "LSN": 25_624_344, "Reason": "switchover", "Timestamp": "", "New Leader": ""])
    }

    // MARK: edit-config

    @Test func setAndPgPairsBecomeAMergePatch() throws {
        let patch = try ConfigPatch.from(
            sets: ["ttl=30", "postgresql.use_pg_rewind=true", "loop_wait=1.5", "name='30'", "gone=null", "text=hello world", "empty="],
            pg: ["max_connections=200", "pg_stat_statements.track=all", "work_mem=64MB"])
        #expect(patch == [
            "ttl": 30, "loop_wait": .double(1.5), "name": "30", "gone": nil, "text": "hello world", "empty": "",
            "postgresql": ["use_pg_rewind": true,
                           "parameters": ["max_connections": 200, "pg_stat_statements.track": "all", "work_mem": "64MB"]],
        ])
    }

    @Test func laterPairsWin() throws {
        #expect(try ConfigPatch.from(sets: ["a.b=1", "a.b=2", "a.c=x"], pg: []) == ["a": ["b": 2, "c": "x"]])
    }

    @Test func badPairsAreRefused() {
        #expect(throws: ConfigPatchError.self) { try ConfigPatch.from(sets: ["ttl"], pg: []) }
        #expect(throws: ConfigPatchError.self) { try ConfigPatch.from(sets: ["=3"], pg: []) }
        #expect(throws: ConfigPatchError.self) { try ConfigPatch.from(sets: ["a..b=3"], pg: []) }
        #expect(throws: ConfigPatchError.self) { try ConfigPatch.from(sets: [], pg: ["max_connections"]) }
    }

    @Test func differenceIsAMergePatch() {
        let old: JSONValue = ["ttl": 30, "pause": false, "postgresql": ["parameters": ["a": 1, "b": 2]], "list": [1, 2]]
        let new: JSONValue = ["ttl": 20, "pause": false, "postgresql": ["parameters": ["a": 1, "c": 3]], "list": [1], "extra": "x"]
        let patch = ConfigPatch.difference(from: old, to: new)
        #expect(patch == ["ttl": 20, "postgresql": ["parameters": ["b": nil, "c": 3]], "list": [1], "extra": "x"])
        #expect(old.merged(with: patch) == new)
        #expect(ConfigPatch.isEmpty(ConfigPatch.difference(from: old, to: old)))
    }

    @Test func yamlRoundTrip() throws {
        let config: JSONValue = ["ttl": 30, "pause": false, "name": "true", "ratio": .double(0.5), "when": "2026-01-01",
                                 "postgresql": ["parameters": ["max_connections": 100]], "hosts": ["a", "b"]]
        let text = config.yamlText
        #expect(text.hasPrefix("hosts:\n"))
        #expect(text.contains("name: 'true'\n"))
        #expect(try JSONValue(yaml: text) == config)
        #expect(try JSONValue(yaml: "null") == .null)
        #expect(throws: YAMLValueError.self) { try JSONValue(yaml: "a: [") }
    }

    // MARK: HAProxy

    @Test func haproxyConfig() {
        var doc = Self.cluster
        if case .object(var o) = doc, case .array(var members)? = o["members"], case .object(var m)? = members.first {
            m["api_url"] = "https://127.0.0.1:8038/patroni"
            members[0] = .object(m)
            o["members"] = .array(members)
            doc = .object(o)
        }
        var config = HAProxyConfig(cluster: doc)
        (config.primaryPort, config.replicaPort, config.bind) = (6000, 6001, "0.0.0.0")
        let text = config.text
        #expect(text.contains("listen primary\n    bind 0.0.0.0:6000\n    option httpchk OPTIONS /primary\n    http-check expect status 200\n"
            + "    default-server inter 1000ms fall 2 rise 1 on-marked-down shutdown-sessions\n"))
        #expect(text.contains("listen replicas\n    bind 0.0.0.0:6001\n    option httpchk OPTIONS /replica\n"))
        #expect(text.contains("    server pg1 127.0.0.1:15432 maxconn 100 check check-ssl verify none port 8038\n"))
        #expect(text.contains("    server pg2 127.0.0.1:15433 maxconn 100 check port 8039\n"))
        #expect(text.contains("    mode tcp\n"))
        #expect(text.contains("    timeout check 2s\n"))
        #expect(text.components(separatedBy: "server pg3 ").count == 3)
    }
}
