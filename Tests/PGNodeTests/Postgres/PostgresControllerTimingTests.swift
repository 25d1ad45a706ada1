import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import PGNode

/// DESIGN "Concurrency: heartbeats are never late": slow Postgres work in the controller must
/// not delay the Raft runtime or starve the Swift cooperative pool.
@Suite(.serialized, .enabled(if: PostgresTestEnvironment.available, PostgresTestEnvironment.reason))
struct PostgresControllerTimingTests {
    /// A three-node in-process Raft group at the agent's default timing (100 ms ticks: lease
    /// 600 ms, election timeout 1–2 s) keeps its leader and lease while the controller runs four
    /// `select pg_sleep(3)` at once and a pg_basebackup. Each controller has the pool the agent
    /// gives it (`PostgresController.recommendedThreadCount` = 4 threads: one long action, one
    /// observe, two for the API; here the four sleeps fill alpha's pool and the base backup
    /// runs on beta's). The lease is sampled every 50 ms from a task on the cooperative pool;
    /// if the controller blocked that pool (2 threads here), the samples would stall for seconds.
    @Test func heartbeatsStayOnTimeWhileTheControllerRunsSlowQueriesAndABaseBackup() async throws {
        let cluster = try RuntimeCluster(tick: .milliseconds(100))
        try await cluster.start()
        do {
            try await withPostgresNodes(["alpha", "beta"]) { nodes in
                let (a, b) = (nodes[0], nodes[1])
                _ = try await a.controller.bootstrap()
                _ = try await a.controller.query("create table filler as select generate_series(1, 200000) as x")
                let leader = try #require(await cluster.waitForLeader(timeout: .seconds(10)))
                let term = try #require(await leader.status()).term

                let clock = ContinuousClock()
                let loadDone = NIOLockedValueBox(false)
                let backupTime = NIOLockedValueBox<Duration?>(nil)
                let started = clock.now
                let load = Task {
                    defer { loadDone.withLockedValue { $0 = true } }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<4 {
                            group.addTask { _ = try await a.controller.query("select pg_sleep(3)") }
                        }
                        group.addTask {
                            let begin = clock.now
                            try await b.controller.rebuild(from: a.upstream)
                            backupTime.withLockedValue { $0 = clock.now - begin }
                        }
                        try await group.waitForAll()
                    }
                }
                var samples = 0, lapses = 0
                var longestGap = Duration.zero
                var last = clock.now
                while !loadDone.withLockedValue({ $0 }) {
                    if await leader.leaderLease()?.isValid() != true { lapses += 1 }
                    samples += 1
                    try await Task.sleep(for: .milliseconds(50))
                    let now = clock.now
                    longestGap = max(longestGap, now - last)
                    last = now
                }
                try await load.value
                let loadTime = clock.now - started
                let after = try #require(await leader.status())
                print("timing: load \(loadTime), pg_basebackup \(backupTime.withLockedValue { $0 }.map { "\($0)" } ?? "-"), \(samples) lease samples, \(lapses) lapses, longest gap between 50 ms samples \(longestGap)")
                #expect(loadTime >= .seconds(3), "the load ran (four pg_sleep(3))")
                #expect(lapses == 0, "the lease lapsed in \(lapses) of \(samples) samples")
                #expect(after.term == term && after.role == .leader, "no election during the load")
                #expect(longestGap < .milliseconds(500), "the cooperative pool kept running (longest gap \(longestGap))")
                guard case .initialized = await b.controller.inspectDataDirectory() else {
                    Issue.record("the base backup did not produce a data directory")
                    return
                }
            }
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}
