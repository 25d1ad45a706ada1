import Testing
import RaftCore
@testable import PGNode

@Suite struct StoreNodeConfigTests {
    let good = """
    cluster: demo
    node: 2
    data_dir: /tmp/pgha-2
    secret: "0123456789abcdef-secret"
    raft: { tick_ms: 50, election_ticks: 12, lease_ticks: 7 }
    peers:
      - { id: 1, raft: "127.0.0.1:7001", client: "127.0.0.1:7101" }
      - { id: 2, raft: "127.0.0.1:7002", client: "127.0.0.1:7102" }
      - { id: 3, raft: "[::1]:7003", client: "[::1]:7103" }
    """

    func parse(_ text: String, env: [String: String] = [:]) throws(ConfigError) -> StoreNodeConfig {
        try StoreNodeConfig.parse(yaml: text, environment: env) { path in
            if path == "/secret" { return "from-a-file-0123456789\n" }
            struct Missing: Error {}
            throw Missing()
        }
    }

    @Test func aGoodFileParses() throws {
        let c = try parse(good)
        #expect(c.cluster == "demo" && c.node == 2 && c.me.raft == PeerAddress(host: "127.0.0.1", port: 7002))
        #expect(c.peers[2].raft == PeerAddress(host: "::1", port: 7003))
        #expect(c.tickMilliseconds == 50 && c.electionTicks == 12 && c.leaseTicks == 7 && c.heartbeatTicks == 1)
        #expect(c.runtimeConfig.bootstrapMembership == Membership(voters: [1, 2, 3]))
        #expect(c.runtimeConfig.tickInterval == .milliseconds(50))
    }

    @Test func environmentOverrides() throws {
        let c = try parse(good, env: ["PGHA_SECRET": "another-secret-of-16+", "PGHA_NODE": "3", "PGHA_DATA_DIR": "/srv/x"])
        #expect(c.node == 3 && c.dataDirectory == "/srv/x" && c.secret == Array("another-secret-of-16+".utf8))
        let f = try parse(good.replacingOccurrences(of: "secret: \"0123456789abcdef-secret\"", with: "secret_file: /secret"))
        #expect(f.secret == Array("from-a-file-0123456789".utf8))
    }

    @Test(arguments: [
        ("node: 2", "node: 9", "node"),
        ("node: 2", "node: two", "node"),
        ("tick_ms: 50", "tick_ms: 0", "raft.tick_ms"),
        ("lease_ticks: 7", "lease_ticks: 12", "raft.lease_ticks"),
        ("election_ticks: 12", "election_ticks: 12, bogus: 1", "raft.bogus"),
        ("\"127.0.0.1:7101\"", "\"127.0.0.1\"", "peers[0].client"),
        ("{ id: 3,", "{ id: 2,", "peers[2].id"),
        ("cluster: demo", "cluster: \"bad name!\"", "cluster"),
        ("secret: \"0123456789abcdef-secret\"", "secret: short", "secret"),
        ("secret: \"0123456789abcdef-secret\"", "secret_file: /nope", "secret_file"),
        ("data_dir: /tmp/pgha-2", "datadir: /tmp/pgha-2", "datadir"),
    ])
    func badSettingsNameTheKey(find: String, replace: String, key: String) {
        let text = good.replacingOccurrences(of: find, with: replace)
        #expect(text != good)
        do {
            _ = try parse(text)
            Issue.record("expected an error for \(key)")
        } catch {
            #expect(error.key == key, "\(error)")
        }
    }

    @Test func garbageIsAClearError() {
        #expect(throws: ConfigError.self) { try parse("") }
        #expect(throws: ConfigError.self) { try parse("- a\n- b") }
        #expect(throws: ConfigError.self) { try parse("cluster: [unclosed") }
    }
}
