import Foundation
import HACore
import Testing
@testable import PGNode
#if canImport(Glibc)
import Glibc
#endif

/// The postmaster as the agent's child: what must not kill it, what must, and what is reported.
@Suite(.serialized, .enabled(if: PostgresTestEnvironment.available, PostgresTestEnvironment.reason))
struct PostgresControllerProcessTests {
    @Test func thePostmasterSurvivesItsRequestersThreadAndReloadsButNotAKillOrAFence() async throws {
        try await withPostgresNodes(["alpha"]) { nodes in
            let node = nodes[0]
            let a = node.controller
            _ = try await a.bootstrap()
            await a.stop(.fast, timeout: .seconds(10))
            #expect(a.process == .stopped)

            // Start from a thread that then ends. Linux sends the parent-death signal when the
            // *thread* that forked the child exits: a postmaster forked on this thread would die.
            let executor = ShortLivedThreadExecutor()
            try await withTaskExecutorPreference(executor) {
                try await a.start(.primary)
            }
            #expect(executor.jobCount > 0, "start ran on the short-lived thread")
            executor.finish()
            #expect(await eventually(timeout: .seconds(5)) { executor.threadFinished }, "the requesting thread ended")
            #expect(await a.waitUntilReady(timeout: .seconds(30)))
            #expect(a.process == .running)
            let pid = try #require(a.postmasterPID)
            #expect(PostmasterSpawner.shared.spawningThreads.count == 1, "every spawn came from the one spawner thread")

            // A reload, both ways, is not a restart.
            #expect(try await a.query("select pg_reload_conf()") == [["t"]])
            #expect(kill(pid, SIGHUP) == 0)
            try await Task.sleep(for: .milliseconds(1500))  // asserting something stays alive
            #expect(processExists(pid), "the postmaster outlived its requester's thread and the reloads")
            #expect(a.postmasterPID == pid && a.process == .running)
            #expect(try await a.query("select 1") == [["1"]])
            #expect(node.unexpectedExits.withLockedValue { $0 } == [])

            // The fence: gone within a second, not reported as a crash.
            let clock = ContinuousClock()
            let fencedAt = clock.now
            #expect(a.fenceNow())
            let gone = await eventually(timeout: .seconds(1)) { !processExists(pid) }
            #expect(gone, "the fenced postmaster exited within 1 s")
            print("fenceNow: postmaster \(pid) gone after \(clock.now - fencedAt)")
            #expect(a.process == .stopped)
            #expect(a.postmasterPID == nil)
            #expect(node.unexpectedExits.withLockedValue { $0 } == [], "a fence is not a crash")
            #expect(!a.fenceNow(), "nothing left to fence")

            // kill -9: a crash, reported once.
            try await node.startAndWait(.primary)
            let second = try #require(a.postmasterPID)
            #expect(second != pid)
            #expect(kill(second, SIGKILL) == 0)
            let crashed = await eventually(timeout: .seconds(5)) {
                if case .crashed = a.process { return node.unexpectedExits.withLockedValue { $0 } == [128 + SIGKILL] }
                return false
            }
            #expect(crashed, "kill -9 shows as .crashed and is reported with status 137; saw \(a.process), \(node.unexpectedExits.withLockedValue { $0 })")
            #expect(a.postmasterPID == nil)
            let seen = await a.observe()
            #expect(seen.running == nil)
            await a.stop(.fast, timeout: .seconds(1))
            #expect(a.process == .stopped, "stop clears a crash")
        }
    }

    @Test func startRefusesARunningPostmasterAndAnEmptyDirectory() async throws {
        try await withPostgresNodes(["alpha"]) { nodes in
            let a = nodes[0].controller
            await #expect {
                try await a.start(.primary)
            } throws: { error in
                (error as? PostgresError)?.kind == .startFailed
            }
            #expect(a.process == .stopped)
            _ = try await a.bootstrap()
            await #expect {
                try await a.start(.primary)
            } throws: { error in
                (error as? PostgresError)?.kind == .running
            }
            await #expect {
                _ = try await a.rewind(from: nodes[0].upstream)
            } throws: { error in
                (error as? PostgresError)?.kind == .running
            }
        }
    }
}
