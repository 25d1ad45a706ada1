import HACore
import Testing
@testable import PGNode

/// The files pgha renders, without Postgres.
@Suite struct PostgresConfigurationTests {
    let settings = PostgresSettings(
        memberName: "db-1", dataDirectory: "/srv/pg/data", listenHost: "10.0.0.1", port: 5433,
        socketDirectory: "/run/pgha/db-1", logFile: "/var/log/pgha/postgres.log",
        parameters: ["work_mem": "8MB", "max_wal_senders": "20"],
        superuser: PostgresCredentials(user: "postgres", password: "a:b\\c"),
        replication: PostgresCredentials(user: "replicator", password: "it's"),
        pgHba: ["host all app 10.0.0.0/8 scram-sha-256"], runAs: "postgres")

    @Test func aPrimaryConfigurationIncludesTheBaseThenPghaThenTheUsersSettings() {
        let text = PostgresConfiguration(settings: settings).postgresqlConf(standbyOf: nil)
        let lines = text.split(separator: "\n").map(String.init)
        let include = lines.firstIndex(of: "include 'postgresql.base.conf'")!
        let pghaSenders = lines.firstIndex(of: "max_wal_senders = '10'")!
        let userSenders = lines.firstIndex(of: "max_wal_senders = '20'")!
        #expect(include < pghaSenders && pghaSenders < userSenders, "later lines win: the user's override pgha's defaults")
        for expected in ["listen_addresses = '10.0.0.1'", "port = '5433'", "unix_socket_directories = '/run/pgha/db-1'",
                         "hba_file = '/srv/pg/data/pg_hba.conf'", "wal_level = 'replica'", "hot_standby = 'on'",
                         "wal_log_hints = 'on'", "max_replication_slots = '10'", "wal_keep_size = '128MB'",
                         "hot_standby_feedback = 'on'", "primary_conninfo = ''", "primary_slot_name = ''", "work_mem = '8MB'"] {
            #expect(lines.contains(expected), "missing: \(expected)")
        }
        #expect(PostgresConfiguration.following(inRenderedConf: text) == nil)
    }

    @Test func aStandbyConfigurationNamesItsUpstreamSlotAndPassfile() {
        let upstream = PostgresUpstream(member: "db-2", host: "10.0.0.2", port: 5432)
        let text = PostgresConfiguration(settings: settings).postgresqlConf(standbyOf: upstream)
        #expect(text.contains("primary_conninfo = 'host=''10.0.0.2'' port=''5432'' user=''replicator'' application_name=''db-1'' passfile=''/run/pgha/db-1/pgha.pgpass'' connect_timeout=''2'''"))
        #expect(text.contains("primary_slot_name = 'db_1'"))
        #expect(PostgresConfiguration.following(inRenderedConf: text) == "db-2")
    }

    @Test func dynamicParametersComeBeforeTheFilesAndSynchronousStandbyNamesLast() {
        var runtime = PostgresRuntimeConfiguration()
        runtime.dynamicParameters = ["work_mem": "4MB", "maintenance_work_mem": "64MB"]
        runtime.synchronousStandbyNames = "FIRST 1 (\"db-2\")"
        let lines = PostgresConfiguration(settings: settings, runtime: runtime).postgresqlConf(standbyOf: nil)
            .split(separator: "\n").map(String.init)
        let dynamic = lines.firstIndex(of: "work_mem = '4MB'")!
        let file = lines.firstIndex(of: "work_mem = '8MB'")!
        #expect(dynamic < file, "the member's own file overrides the cluster's dynamic parameters")
        #expect(lines.contains("maintenance_work_mem = '64MB'"))
        #expect(lines.last == "synchronous_standby_names = 'FIRST 1 (\"db-2\")'")
    }

    @Test func aCascadingStandbyStreamsWithoutASlot() {
        let upstream = PostgresUpstream(member: "db-3", host: "10.0.0.3", port: 5432, usesSlot: false)
        let text = PostgresConfiguration(settings: settings).postgresqlConf(standbyOf: upstream)
        #expect(text.contains("primary_slot_name = ''"))
        #expect(PostgresConfiguration.following(inRenderedConf: text) == "db-3")
    }

    @Test func quotingSurvivesQuotesAndBackslashes() {
        #expect(PostgresConfiguration.confValue("it's a\\b") == "'it''s a\\\\b'")
        #expect(PostgresConfiguration.conninfo([("password", "it's a\\b"), ("host", "h")]) == "password='it\\'s a\\\\b' host='h'")
        #expect(PostgresConfiguration.pgpass(settings) == "*:*:*:replicator:it's\n*:*:*:postgres:a\\:b\\\\c\n")
    }

    @Test func hbaPutsPghaRulesFirstThenTheUsersLines() {
        let lines = PostgresConfiguration(settings: settings).hbaConf().split(separator: "\n").map(String.init)
        let rules = lines.filter { !$0.hasPrefix("#") && !$0.isEmpty }
        #expect(rules.count == 4)
        #expect(rules[0].split(separator: " ") == ["local", "all", "all", "trust"])
        #expect(rules[1].split(separator: " ") == ["host", "replication", "\"replicator\"", "all", "scram-sha-256"])
        #expect(rules[2].split(separator: " ") == ["host", "all", "\"postgres\"", "all", "scram-sha-256"])
        #expect(rules[3] == "host all app 10.0.0.0/8 scram-sha-256")
    }
}

extension PostgresConfiguration {
    static func pgpass(_ settings: PostgresSettings) -> String { PostgresConfiguration(settings: settings).pgpass() }
}
