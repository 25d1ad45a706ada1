import Foundation
import HACore
import Testing
@testable import PGNode

/// The settings issue 10 added to the agent's file: tags, callbacks, `pre_promote`, `bootstrap.dcs`.
@Suite struct AgentConfigSyncTests {
    let base = AgentConfigTests()

    @Test func newTagsParse() throws {
        let c = try base.parse(AgentConfigTests.edited([("zone: east }", "zone: east, nosync: true, sync_priority: 5, clonefrom: yes, replicatefrom: pg1 }")]))
        #expect(c.tags.noSync)
        #expect(c.tags.syncPriority == 5)
        #expect(c.tags.cloneFrom)
        #expect(c.tags.replicateFrom == "pg1")
        #expect(c.tags.other == ["zone": "east"])
    }

    @Test func badTagsAreNamed() {
        let p = base.problems(AgentConfigTests.edited([("zone: east }", "zone: east, sync_priority: -1, replicatefrom: 'a b' }")]))
        #expect(p.contains { $0.key == "tags.sync_priority" })
        #expect(p.contains { $0.key == "tags.replicatefrom" })
    }

    @Test func callbacksAndPrePromoteParse() throws {
        let c = try base.parse(AgentConfigTests.edited([("  pg_hba:", """
              callbacks: { on_role_change: /etc/pgha/role.sh, on_start: [/usr/bin/logger, -t, pgha] }
              pre_promote: /etc/pgha/fence.sh --hard
              callback_timeout_ms: 5000
              pg_hba:
            """)]))
        #expect(c.postgres.callbacks.scripts[.onRoleChange] == ["/etc/pgha/role.sh"])
        #expect(c.postgres.callbacks.scripts[.onStart] == ["/usr/bin/logger", "-t", "pgha"])
        #expect(c.postgres.callbacks.prePromote == ["/etc/pgha/fence.sh", "--hard"])
        #expect(c.postgres.callbacks.timeout == .milliseconds(5000))
    }

    @Test func badCallbacksAreNamed() {
        let p = base.problems(AgentConfigTests.edited([("  pg_hba:", """
              callbacks: { on_failover: /x.sh, on_stop: relative.sh }
              pre_promote: 7
              pg_hba:
            """)]))
        #expect(p.contains { $0.key == "postgresql.callbacks.on_failover" && $0.problem.contains("on_role_change") })
        #expect(p.contains { $0.key == "postgresql.callbacks.on_stop" && $0.problem.contains("absolute path") })
        #expect(p.contains { $0.key == "postgresql.pre_promote" })
    }

    @Test func bootstrapDcsIsKeptAsJSONAndValidated() throws {
        let c = try base.parse(AgentConfigTests.good + "\nbootstrap:\n  dcs: { synchronous_mode: quorum, synchronous_node_count: 2, postgresql: { parameters: { work_mem: 8MB } } }\n")
        let dcs = try #require(c.bootstrapDynamicConfig)
        let config = try JSONDecoder().decode(DynamicConfig.self, from: Data(dcs.bytes))
        #expect(config.synchronousMode == .quorum)
        #expect(config.synchronousNodeCount == 2)
        #expect(config.postgresql.parameters == ["work_mem": "8MB"])
        let bad = base.problems(AgentConfigTests.good + "\nbootstrap:\n  dcs: { synchronous_mode: maybe }\n")
        #expect(bad.contains { $0.key == "bootstrap.dcs" && $0.problem.contains("off, on or quorum") })
        let reserved = base.problems(AgentConfigTests.good + "\nbootstrap:\n  dcs: { postgresql: { parameters: { port: 6000 } } }\n")
        #expect(reserved.contains { $0.key == "bootstrap.dcs.postgresql.parameters.port" })
        let unknown = base.problems(AgentConfigTests.good + "\nbootstrap:\n  initdb: [data-checksums]\n")
        #expect(unknown.contains { $0.key == "bootstrap.initdb" })
    }

    @Test func synchronousStandbyNamesIsPghas() {
        let p = base.problems(AgentConfigTests.edited([("max_connections: 200", "max_connections: 200, synchronous_standby_names: '*'")]))
        #expect(p.contains { $0.key == "postgresql.parameters.synchronous_standby_names" })
    }
}
