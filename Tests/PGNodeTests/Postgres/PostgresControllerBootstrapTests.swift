import Foundation
import HACore
import Testing
@testable import PGNode
#if canImport(Glibc)
import Glibc
#endif

/// bootstrap(): a new cluster runs as a primary on timeline 1 and the agent can query it.
@Suite(.serialized, .enabled(if: PostgresTestEnvironment.available, PostgresTestEnvironment.reason))
struct PostgresControllerBootstrapTests {
    @Test func bootstrapStartsAPrimaryOnTimelineOneWithTheReplicationRole() async throws {
        try await withPostgresNodes(["alpha"]) { nodes in
            let a = nodes[0].controller
            #expect(await a.inspectDataDirectory() == .empty)
            #expect(await a.observe() == LocalPostgres(dataDirectory: .empty, process: .stopped))

            let systemID = try await a.bootstrap()
            let seen = await a.observe()
            #expect(seen.process == .running)
            #expect(seen.isRunningPrimary)
            #expect(seen.running?.timeline == 1)
            #expect(seen.running?.walPosition != nil)
            #expect(seen.running?.following == nil)
            #expect((150000..<160000).contains(seen.running?.serverVersion ?? 0))
            #expect(seen.dataDirectory.systemIdentifier == systemID)
            guard case .initialized(let control) = await a.inspectDataDirectory() else {
                Issue.record("the data directory is not initialized after bootstrap")
                return
            }
            #expect(control.systemIdentifier == systemID)
            #expect(control.timeline == 1)
            #expect(control.state == .inProduction)

            #expect(try await a.query("select 40 + 2, null::text") == [["42", nil]])
            #expect(try await a.query("select rolcanlogin, rolreplication from pg_roles where rolname = 'replicator'") == [["t", "t"]])
            #expect(try await a.query("show data_checksums") == [["on"]])
            #expect(try await a.query("show shared_buffers") == [["16MB"]], "user parameters apply")

            // pgha's layout: initdb's configuration kept as the base, ours includes it.
            let data = a.settings.dataDirectory
            let conf = try String(contentsOfFile: data + "/postgresql.conf", encoding: .utf8)
            #expect(conf.hasPrefix("# Written by pgha"))
            #expect(conf.contains("include 'postgresql.base.conf'"))
            #expect(FileManager.default.fileExists(atPath: data + "/postgresql.base.conf"))
            #expect(!FileManager.default.fileExists(atPath: data + "/standby.signal"))
            if geteuid() == 0 {
                let postgres = try PostgresOSUser.resolve("postgres")
                for path in [data, a.settings.socketDirectory] {
                    var info = stat()
                    #expect(stat(path, &info) == 0)
                    #expect(info.st_uid == postgres.uid, "\(path) is owned by postgres")
                    #expect(info.st_mode & 0o777 == 0o700, "\(path) has mode 0700")
                }
                var pgpass = stat()
                #expect(stat(a.settings.passfile, &pgpass) == 0 && pgpass.st_uid == postgres.uid && pgpass.st_mode & 0o777 == 0o600)
            }

            // A second bootstrap refuses the directory.
            await #expect {
                _ = try await a.bootstrap()
            } throws: { error in
                (error as? PostgresError)?.kind == .dataDirectoryNotEmpty
            }
            await a.stop(.fast, timeout: .seconds(10))
            #expect(a.process == .stopped)
            #expect(a.postmasterPID == nil)
            guard case .initialized(let stopped) = await a.inspectDataDirectory() else {
                Issue.record("the data directory is not initialized after a stop")
                return
            }
            #expect(stopped.state == .shutDown)
        }
    }
}
