import HACore
import Testing
@testable import PGNode

/// Settings validation, slot names and pg_controldata parsing, without Postgres.
@Suite struct PostgresSettingsTests {
    func settings(_ change: (inout PostgresSettings) -> Void = { _ in }) -> PostgresSettings {
        var s = PostgresSettings(memberName: "db1", dataDirectory: "/srv/pg/data", socketDirectory: "/run/pgha",
                                 logFile: "/var/log/pgha/pg.log", runAs: "postgres")
        change(&s)
        return s
    }

    @Test func defaultsAreValid() {
        #expect(PostgresSettings.validate(settings()) == [])
        #expect(settings().binDirectory == "/usr/lib/postgresql/15/bin")
        #expect(settings().superuser.user == "postgres" && settings().replication.user == "replicator")
    }

    @Test func reservedParametersAreRefusedByName() {
        for key in ["port", "PORT", "listen_addresses", "unix_socket_directories", "hba_file", "primary_conninfo",
                    "primary_slot_name", "hot_standby"] {
            let problems = PostgresSettings.validate(settings { $0.parameters = [key: "x"] })
            #expect(problems.count == 1 && problems[0].contains("parameters.\(key)") && problems[0].contains("pgha"), "\(key): \(problems)")
        }
        #expect(PostgresSettings.validate(settings { $0.parameters = ["max_wal_senders": "20", "auto_explain.log_min_duration": "1s"] }) == [])
        #expect(PostgresSettings.validate(settings { $0.parameters = ["bad key": "1"] }).count == 1)
    }

    @Test func badValuesAreNamed() {
        let problems = PostgresSettings.validate(settings {
            $0.memberName = ""
            $0.dataDirectory = "relative/data"
            $0.port = 70000
            $0.runAs = "root"
            $0.socketDirectory = "/" + String(repeating: "s", count: 100)
            $0.pgHba = ["host all all\nlocal all all trust"]
        })
        for fragment in ["memberName", "dataDirectory", "port 70000", "runAs", "socketDirectory", "pgHba[0]"] {
            #expect(problems.contains { $0.contains(fragment) }, "no problem names \(fragment): \(problems)")
        }
    }

    @Test func slotNamesAreSanitizedAndIdempotent() {
        #expect(PostgresController.slotName(for: "DB-1.eu") == "db_1_eu")
        #expect(PostgresController.slotName(for: "") == "_")
        #expect(PostgresController.slotName(for: "é") == "_")
        let long = PostgresController.slotName(for: String(repeating: "a", count: 100))
        #expect(long.count == 63)
        for name in ["DB-1.eu", "x y", long] {
            let once = PostgresController.slotName(for: name)
            #expect(PostgresController.slotName(for: once) == once)
        }
    }

    @Test func pgControlDataOutputIsParsed() {
        let text = """
            pg_control version number:            1300
            Catalog version number:               202209061
            Database system identifier:           7312345678901234567
            Database cluster state:               shut down in recovery
            Latest checkpoint's TimeLineID:       3
            Latest checkpoint's PrevTimeLineID:   2
            """
        let control = ControlData(pgControlDataOutput: text)
        #expect(control == ControlData(systemIdentifier: 7312345678901234567, timeline: 3, state: .shutDownInRecovery))
        #expect(ControlData(pgControlDataOutput: "Database cluster state: in production") == nil)
    }

    @Test func errorsSayWhatWhereAndWhatToDo() {
        let e = PostgresError(.toolFailed, what: "pg_rewind from db2 failed (status 1)", location: "/srv/pg/data",
                              detail: "pg_rewind: error: could not connect\nsecond line", remedy: "rebuild from db2")
        #expect(e.description == "pg_rewind from db2 failed (status 1) (/srv/pg/data): rebuild from db2\n    pg_rewind: error: could not connect\n    second line")
    }
}
