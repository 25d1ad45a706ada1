import HACore
import NIOConcurrencyHelpers
import RaftCore
import Testing
@testable import PGNode

@Suite struct AgentConfigTests {
    /// A complete file for member pg2 (node 2); peer 3 has no name, so it is `node3`.
    static let good = """
    cluster: demo
    node: 2
    name: pg2
    data_dir: /var/lib/pgha/raft
    secret: "0123456789abcdef-secret"
    peers:
      - { id: 1, name: pg1, raft: "10.0.0.1:7001", client: "10.0.0.1:7101" }
      - { id: 2, name: pg2, raft: "10.0.0.2:7001", client: "10.0.0.2:7101" }
      - { id: 3, raft: "10.0.0.3:7001", client: "10.0.0.3:7101" }
    postgresql:
      data_dir: /var/lib/pgha/pgdata
      listen: "10.0.0.2:5432"
      bin_dir: /usr/lib/postgresql/15/bin
      parameters: { shared_buffers: 1GB, max_connections: 200, hot_standby_feedback: on }
      superuser: { username: admin, password: "su-secret" }
      replication: { username: repl, password_file: /etc/pgha/pg-replication }
      pg_hba: [ "host all all 10.0.0.0/8 scram-sha-256" ]
    tags: { nofailover: false, noloadbalance: true, failover_priority: 3, zone: east }
    watchdog: { mode: required, device: /dev/watchdog1, safety_margin: 2 }
    ha: { loop_ms: 100, report_ms: 2000, status_round_ms: 300 }
    """

    /// The files `readFile` knows; any other path fails.
    static let files = ["/etc/pgha/pg-replication": "repl-secret\n", "/etc/pgha/pg-superuser": "  su-from-file \n"]

    struct NoSuchFile: Error {}

    /// `good` with each `(find, replace)` applied; every `find` must occur.
    static func edited(_ edits: [(String, String)]) -> String {
        var text = good
        for (find, replace) in edits {
            #expect(text.contains(find), "'\(find)' is not in the file")
            text = text.replacingOccurrences(of: find, with: replace)
        }
        return text
    }

    func parse(_ text: String, env: [String: String] = [:], isRoot: Bool = false,
               readFile: (String) throws -> String = { path in
                   guard let text = AgentConfigTests.files[path] else { throw NoSuchFile() }
                   return text
               }) throws(ConfigErrors) -> AgentConfig {
        try AgentConfig.parse(yaml: text, environment: env, isRoot: isRoot, readFile: readFile)
    }

    /// The problems parsing `text` reports (none if it parses).
    func problems(_ text: String, env: [String: String] = [:], isRoot: Bool = false) -> [ConfigError] {
        do {
            _ = try parse(text, env: env, isRoot: isRoot)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func aCompleteFileParses() throws {
        let c = try parse(Self.good)
        #expect(c.store.cluster == "demo" && c.store.node == 2 && c.store.peers.count == 3)
        #expect(c.name == "pg2")
        #expect(c.memberNames == [1: "pg1", 2: "pg2", 3: "node3"])

        let pg = c.postgres
        #expect(pg.dataDirectory == "/var/lib/pgha/pgdata")
        #expect(pg.listenHost == "10.0.0.2" && pg.port == 5432)
        #expect(pg.connectHost == "10.0.0.2" && pg.connectPort == 5432, "connect_address defaults to listen")
        #expect(pg.binDirectory == "/usr/lib/postgresql/15/bin")
        #expect(pg.runAs == nil)
        #expect(pg.socketDirectory == "/var/lib/pgha/run-pg2", "beside the data directory, named after the member")
        #expect(pg.logFile == "/var/lib/pgha/postgresql-pg2.log")
        #expect(pg.parameters == ["shared_buffers": "1GB", "max_connections": "200", "hot_standby_feedback": "on"])
        #expect(pg.superuserName == "admin" && pg.superuserPassword == "su-secret")
        #expect(pg.replicationName == "repl" && pg.replicationPassword == "repl-secret", "read from password_file, trimmed")
        #expect(pg.pgHba == ["host all all 10.0.0.0/8 scram-sha-256"])

        #expect(c.tags == Tags(noFailover: false, noLoadBalance: true, failoverPriority: 3, other: ["zone": "east"]))
        #expect(c.watchdog == WatchdogSettings(mode: .required, device: "/dev/watchdog1", safetyMarginSeconds: 2))
        #expect(c.ha == HATimings(loopMilliseconds: 100, reportMilliseconds: 2_000, statusRoundMilliseconds: 300))
    }

    @Test func omittedSectionsAndSettingsTakeTheirDefaults() throws {
        let c = try parse(Self.edited([
            ("name: pg2\n", ""),
            ("  bin_dir: /usr/lib/postgresql/15/bin\n", ""),
            ("  superuser: { username: admin, password: \"su-secret\" }\n", ""),
            ("  replication: { username: repl, password_file: /etc/pgha/pg-replication }\n", ""),
            ("tags: { nofailover: false, noloadbalance: true, failover_priority: 3, zone: east }\n", ""),
            ("watchdog: { mode: required, device: /dev/watchdog1, safety_margin: 2 }\n", ""),
            ("ha: { loop_ms: 100, report_ms: 2000, status_round_ms: 300 }", ""),
        ]))
        #expect(c.name == "pg2", "the name comes from this node's peer entry")
        #expect(c.postgres.binDirectory == nil)
        #expect(c.postgres.superuserName == "postgres" && c.postgres.superuserPassword == nil)
        #expect(c.postgres.replicationName == "replicator" && c.postgres.replicationPassword == nil)
        #expect(c.tags == Tags())
        #expect(c.watchdog == WatchdogSettings())
        #expect(c.ha == HATimings())
        #expect(c.ha.loopMilliseconds == 250 && c.ha.reportMilliseconds == 1_000 && c.ha.statusRoundMilliseconds == 400)
    }

    @Test func anUnnamedNodeIsNodeItsIDAndAnExplicitNameWins() throws {
        let unnamed = try parse(Self.edited([("node: 2", "node: 3"), ("name: pg2\n", "")]))
        #expect(unnamed.name == "node3" && unnamed.memberNames[3] == "node3")
        #expect(unnamed.postgres.socketDirectory == "/var/lib/pgha/run-node3")

        let named = try parse(Self.edited([("node: 2", "node: 3"), ("name: pg2\n", "name: pg3\n")]))
        #expect(named.name == "pg3")
        #expect(named.memberNames == [1: "pg1", 2: "pg2", 3: "pg3"])
    }

    @Test func explicitConnectAddressSocketDirAndLogFile() throws {
        let c = try parse(Self.edited([("  bin_dir:", """
              connect_address: "pg2.example.net:6432"
              socket_dir: /run/pgha
              log_file: /var/log/pgha/pg.log
              bin_dir:
            """)]))
        #expect(c.postgres.connectHost == "pg2.example.net" && c.postgres.connectPort == 6432)
        #expect(c.postgres.listenHost == "10.0.0.2" && c.postgres.port == 5432)
        #expect(c.postgres.socketDirectory == "/run/pgha" && c.postgres.logFile == "/var/log/pgha/pg.log")
    }

    // Each mistake alone: exactly one problem, naming the key.
    static let mistakes: [(find: String, replace: String, key: String)] = [
        ("cluster: demo", "cluster: demo\nbogus: 1", "bogus"),
        ("  bin_dir:", "  x: 1\n  bin_dir:", "postgresql.x"),
        ("listen: \"10.0.0.2:5432\"", "listen: \"10.0.0.2\"", "postgresql.listen"),
        ("listen: \"10.0.0.2:5432\"", "listen: \"10.0.0.2:99999\"", "postgresql.listen"),
        ("failover_priority: 3", "failover_priority: 1000001", "tags.failover_priority"),
        ("failover_priority: 3", "failover_priority: -1", "tags.failover_priority"),
        ("nofailover: false", "nofailover: maybe", "tags.nofailover"),
        ("max_connections: 200", "port: 5433", "postgresql.parameters.port"),
        ("max_connections: 200", "listen_addresses: '*'", "postgresql.parameters.listen_addresses"),
        ("shared_buffers: 1GB", "shared_buffers: { a: 1 }", "postgresql.parameters.shared_buffers"),
        ("mode: required", "mode: sometimes", "watchdog.mode"),
        ("mode: required", "mode: on", "watchdog.mode"),
        ("safety_margin: 2", "safety_margin: -1", "watchdog.safety_margin"),
        ("device: /dev/watchdog1", "device: watchdog1", "watchdog.device"),
        ("password: \"su-secret\"", "password: \"su-secret\", password_file: /etc/pgha/pg-superuser",
         "postgresql.superuser.password_file"),
        ("username: repl,", "username: \"bad name\",", "postgresql.replication.username"),
        ("listen: \"10.0.0.2:5432\"", "listen: \"0.0.0.0:5432\"", "postgresql.connect_address"),
        ("listen: \"10.0.0.2:5432\"", "listen: \"[::]:5432\"", "postgresql.connect_address"),
        ("data_dir: /var/lib/pgha/pgdata", "data_dir: pgdata", "postgresql.data_dir"),
        ("name: pg2\n", "name: pgX\n", "name"),
        ("name: pg2\n", "name: \"pg 2\"\n", "name"),
        ("{ id: 3, raft", "{ id: 3, name: pg1, raft", "peers"),
        ("{ id: 3, raft", "{ id: 3, zone: b, raft", "peers[2].zone"),
        ("loop_ms: 100", "loop_ms: 5", "ha.loop_ms"),
        ("loop_ms: 100", "loop_ms: 100, tick_ms: 1", "ha.tick_ms"),
    ]

    @Test(arguments: mistakes)
    func aMistakeIsNamedByItsKey(find: String, replace: String, key: String) {
        let found = problems(Self.edited([(find, replace)]))
        #expect(found.map(\.key) == [key], "\(found)")
    }

    @Test func fourMistakesAreReportedTogether() {
        let found = problems(Self.edited([
            ("cluster: demo", "cluster: demo\nbogus: 1"),
            ("  bin_dir:", "  x: 1\n  bin_dir:"),
            ("failover_priority: 3", "failover_priority: 1000001"),
            ("mode: required", "mode: sometimes"),
        ]))
        #expect(found.count == 4, "\(found)")
        #expect(Set(found.map(\.key)) == ["bogus", "postgresql.x", "tags.failover_priority", "watchdog.mode"])
    }

    @Test func agentMistakesAcrossSectionsAreReportedTogether() {
        let found = problems(Self.edited([
            ("name: pg2\n", "name: pgX\n"),
            ("{ id: 3, raft", "{ id: 3, name: pg1, raft"),
            ("listen: \"10.0.0.2:5432\"", "listen: \"0.0.0.0:5432\""),
            ("max_connections: 200", "port: 5433"),
            ("password: \"su-secret\"", "password: \"su-secret\", password_file: /etc/pgha/pg-superuser"),
            ("loop_ms: 100", "loop_ms: 5"),
        ]))
        #expect(Set(found.map(\.key)) == ["name", "peers", "postgresql.connect_address", "postgresql.parameters.port",
                                          "postgresql.superuser.password_file", "ha.loop_ms"], "\(found)")
        #expect(found.count == 6, "\(found)")
    }

    @Test func problemsSayWhatIsWrong() {
        let found = problems(Self.edited([("mode: required", "mode: sometimes"), ("name: pg2\n", "name: pgX\n")]))
        let byKey = Dictionary(found.map { ($0.key, $0.problem) }, uniquingKeysWith: { $1 })
        #expect(byKey["watchdog.mode"]?.contains("'sometimes'") == true, "\(found)")
        #expect(byKey["name"]?.contains("'pg2'") == true, "\(found)")
        #expect(found.allSatisfy { $0.description.hasPrefix("config: \($0.key) ") })
    }

    @Test func aMissingPostgresSectionIsAnError() {
        let text = Self.good.components(separatedBy: "\npostgresql:")[0] + "\n"
        #expect(problems(text).map(\.key) == ["postgresql"])
    }

    @Test func environmentOverridesTheFile() throws {
        let c = try parse(Self.good, env: [
            "PGHA_POSTGRESQL_DATA_DIR": "/srv/pg/data",
            "PGHA_POSTGRESQL_SUPERUSER_PASSWORD": "su-from-env",
            "PGHA_TAGS_NOFAILOVER": "true",
            "PGHA_HA_LOOP_MS": "50",
        ])
        #expect(c.postgres.dataDirectory == "/srv/pg/data")
        #expect(c.postgres.socketDirectory == "/srv/pg/run-pg2", "derived defaults follow the overridden data_dir")
        #expect(c.postgres.superuserPassword == "su-from-env")
        #expect(c.tags.noFailover && !c.tags.mayBePromoted)
        #expect(c.tags.failoverPriority == 3 && c.tags.noLoadBalance, "the rest of the section is kept")
        #expect(c.ha.loopMilliseconds == 50)
    }

    @Test func environmentNamesTheMember() throws {
        // One file for every node: the node and its name come from the environment.
        let c = try parse(Self.good, env: ["PGHA_NODE": "3", "PGHA_NAME": "pg3"])
        #expect(c.store.node == 3 && c.name == "pg3")
        #expect(c.memberNames == [1: "pg1", 2: "pg2", 3: "pg3"])
        // A name that contradicts this node's own peer entry is still an error.
        #expect(problems(Self.good, env: ["PGHA_NAME": "pgX"]).map(\.key) == ["name"])
        // A bad override is named by the setting it overrides.
        #expect(problems(Self.good, env: ["PGHA_TAGS_NOFAILOVER": "maybe"]).map(\.key) == ["tags.nofailover"])
    }

    @Test func aNameMayNotBeAnotherPeersName() {
        // Peer 3 has no name of its own; naming it after peer 1 would make two members
        // report under `members/pg1`.
        let found = problems(Self.edited([("node: 2", "node: 3"), ("name: pg2\n", "name: pg1\n")]))
        #expect(found.map(\.key) == ["name"], "\(found)")
        #expect(problems(Self.edited([("node: 2", "node: 3"), ("name: pg2\n", "")]), env: ["PGHA_NAME": "pg2"])
            .map(\.key) == ["name"])
    }

    @Test func anEnvironmentPasswordReplacesTheFilesPasswordFile() throws {
        // The file names a password_file (as the documented example does); the environment
        // supplies the password itself.
        let file = Self.edited([("password: \"su-secret\"", "password_file: /etc/pgha/pg-superuser")])
        #expect(try parse(file).postgres.superuserPassword == "su-from-file")
        let c = try parse(file, env: ["PGHA_POSTGRESQL_SUPERUSER_PASSWORD": "su-from-env"])
        #expect(c.postgres.superuserPassword == "su-from-env")
        let f = try parse(Self.good, env: ["PGHA_POSTGRESQL_SUPERUSER_PASSWORD_FILE": "/etc/pgha/pg-superuser"])
        #expect(f.postgres.superuserPassword == "su-from-file")
        // Both in the environment still conflict.
        let both = ["PGHA_POSTGRESQL_SUPERUSER_PASSWORD": "x", "PGHA_POSTGRESQL_SUPERUSER_PASSWORD_FILE": "/etc/pgha/pg-superuser"]
        #expect(problems(Self.good, env: both).map(\.key) == ["postgresql.superuser.password_file"])
    }

    static func withRunAs(_ user: String) -> String { edited([("  bin_dir:", "  run_as: \(user)\n  bin_dir:")]) }

    @Test func runAsDefaultsToPostgresOnlyForRoot() throws {
        #expect(try parse(Self.good, isRoot: true).postgres.runAs == "postgres")
        #expect(try parse(Self.good, isRoot: false).postgres.runAs == nil)
        #expect(try parse(Self.withRunAs("pgowner"), isRoot: true).postgres.runAs == "pgowner")
        // Not root: only the agent's own user is allowed, and it means "as myself".
        #expect(try parse(Self.withRunAs(PostgresSection.currentUserName()), isRoot: false).postgres.runAs == nil)
    }

    @Test func aNonRootAgentCannotRunPostgresAsSomeoneElse() {
        let other = "someoneelse"
        #expect(PostgresSection.currentUserName() != other)
        let found = problems(Self.withRunAs(other), isRoot: false)
        #expect(found.map(\.key) == ["postgresql.run_as"], "\(found)")
        #expect(found.first?.problem.contains("'\(other)'") == true)
        #expect(problems(Self.withRunAs("\"\""), isRoot: true).map(\.key) == ["postgresql.run_as"])
    }

    @Test func passwordFilesAreReadThroughReadFile() throws {
        let asked = NIOLockedValueBox<[String]>([])
        let c = try parse(Self.good) { path in
            asked.withLockedValue { $0.append(path) }
            return "  from-the-closure\n"
        }
        #expect(c.postgres.replicationPassword == "from-the-closure")
        #expect(asked.withLockedValue { $0 } == ["/etc/pgha/pg-replication"])
    }

    @Test func anUnreadablePasswordFileIsNamed() {
        struct Denied: Error, CustomStringConvertible { var description: String { "permission denied" } }
        do {
            _ = try parse(Self.good) { _ in throw Denied() }
            Issue.record("expected an error")
        } catch {
            #expect(error.problems.map(\.key) == ["postgresql.replication.password_file"])
            #expect(error.problems.first?.problem.contains("cannot be read") == true)
            #expect(error.problems.first?.problem.contains("permission denied") == true)
        }
    }

    @Test(arguments: [("off", WatchdogSettings.Mode.off), ("OFF", .off), ("\"off\"", .off), ("false", .off),
                      ("automatic", .automatic), ("required", .required)])
    func watchdogModeSpellings(yaml: String, expected: WatchdogSettings.Mode) throws {
        // YAML 1.1 reads a bare `off` as the boolean false: it still means off.
        let c = try parse(Self.edited([("mode: required", "mode: \(yaml)")]))
        #expect(c.watchdog.mode == expected)
        #expect(c.watchdog.device == "/dev/watchdog1" && c.watchdog.safetyMarginSeconds == 2)
    }
}
