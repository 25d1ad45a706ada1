import Foundation
import HACore
import Testing
@testable import PGNode

/// Standbys built with pg_basebackup, replication slots, promotion, and the old primary's
/// return through pg_rewind.
@Suite(.serialized, .enabled(if: PostgresTestEnvironment.available, PostgresTestEnvironment.reason))
struct PostgresControllerReplicationTests {
    @Test func aRebuiltStandbyStreamsAndPromotesToTimelineTwo() async throws {
        try await withPostgresNodes(["alpha", "beta"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            _ = try await a.controller.bootstrap()
            _ = try await a.controller.query("select pg_create_physical_replication_slot('ghost')")
            try await b.controller.rebuild(from: a.upstream)
            #expect(FileManager.default.fileExists(atPath: b.controller.settings.dataDirectory + "/standby.signal"))
            guard case .initialized = await b.controller.inspectDataDirectory() else {
                Issue.record("the rebuilt directory is not initialized")
                return
            }

            // Slots: the standby's is created, the stray one dropped.
            try await a.controller.syncSlots([PostgresController.slotName(for: b.name)])
            #expect(await a.controller.observe().running?.slots == ["beta"])

            try await b.startAndWait(.standby(following: a.upstream))
            let streaming = await eventually { await b.controller.observe().running?.streaming == true }
            #expect(streaming, "the standby streams")
            let standby = await b.controller.observe()
            #expect(standby.isRunningReplica)
            #expect(standby.running?.following == "alpha")
            #expect(standby.running?.timeline == 1)
            #expect(standby.running?.receivedLSN != nil)
            #expect(standby.dataDirectory.systemIdentifier == (await a.controller.inspectDataDirectory()).systemIdentifier)

            _ = try await a.controller.query("create table t (x int); insert into t values (7)")
            let replicated = await eventually { (try? await b.controller.query("select x from t")) == [["7"]] }
            #expect(replicated, "a row written on the primary is readable on the standby")
            let listed = await eventually {
                await a.controller.observe().running?.replication.contains { $0.applicationName == "beta" && $0.state == "streaming" } == true
            }
            #expect(listed, "pg_stat_replication on the primary lists the standby by member name")

            // An active slot is never dropped.
            try await a.controller.syncSlots([])
            #expect(await a.controller.observe().running?.slots == ["beta"])

            let (timeline, lsn) = try await b.controller.promote(waitSeconds: 30)
            #expect(timeline == 2)
            #expect(lsn > .zero)
            let promoted = await b.controller.observe()
            #expect(promoted.isRunningPrimary)
            #expect(promoted.running?.timeline == 2)
            #expect(promoted.running?.following == nil)
            #expect(!FileManager.default.fileExists(atPath: b.controller.settings.dataDirectory + "/standby.signal"))
            _ = try await b.controller.query("insert into t values (8)")
        }
    }

    @Test func aDivergedOldPrimaryIsRewoundAndFollowsTheNewTimeline() async throws {
        try await withPostgresNodes(["alpha", "beta"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            try await makeStreamingPair(primary: a, standby: b)
            _ = try await b.controller.promote(waitSeconds: 30)
            _ = try await b.controller.query("create table after_failover (x int); insert into after_failover values (2)")
            // The old primary keeps writing on timeline 1: it diverges.
            _ = try await a.controller.query("create table diverged (x int); insert into diverged select generate_series(1, 1000)")
            await a.controller.stop(.immediate, timeout: .seconds(10))
            guard case .initialized(let control) = await a.controller.inspectDataDirectory() else {
                Issue.record("the old primary's directory is not initialized")
                return
            }
            #expect(control.lastRanAsPrimary)

            #expect(try await a.controller.rewind(from: b.upstream) == .rewound)
            try await b.controller.syncSlots([PostgresController.slotName(for: a.name)])
            try await a.startAndWait(.standby(following: b.upstream))
            let onTimeline2 = await eventually {
                let seen = await a.controller.observe()
                return seen.running?.streaming == true && seen.running?.timeline == 2
            }
            #expect(onTimeline2, "the rewound member streams on timeline 2")
            #expect(await a.controller.observe().running?.following == "beta")
            let caughtUp = await eventually { (try? await a.controller.query("select x from after_failover")) == [["2"]] }
            #expect(caughtUp, "the rewound member has the new primary's rows")
            #expect(try await a.controller.query("select to_regclass('diverged') is null") == [["t"]], "the diverged rows are gone")

            // Rewinding a member that already follows the new timeline finds nothing to do.
            _ = try await b.controller.query("checkpoint")
            await a.controller.stop(.fast, timeout: .seconds(10))
            #expect(try await a.controller.rewind(from: b.upstream) == .notNeeded)

            // A rebuild sets the old directory aside, keeps it until asked, and survives a
            // failed pg_basebackup by moving the old directory back.
            let refused = PostgresUpstream(member: "nobody", host: "127.0.0.1", port: try freeTCPPort())
            await #expect {
                try await a.controller.rebuild(from: refused)
            } throws: { error in
                let e = error as? PostgresError
                return e?.kind == .toolFailed && e?.detail?.contains("connection") == true
            }
            guard case .initialized(let kept) = await a.controller.inspectDataDirectory() else {
                Issue.record("a failed rebuild did not put the old directory back")
                return
            }
            #expect(kept.systemIdentifier == control.systemIdentifier)
            #expect(await a.controller.removeSetAsideDirectories() == [])
            try await a.controller.rebuild(from: b.upstream)
            let removed = await a.controller.removeSetAsideDirectories()
            #expect(removed.count == 1 && removed.first?.hasPrefix(a.controller.settings.dataDirectory + ".pgha-old-") == true)
            try await a.startAndWait(.standby(following: b.upstream))
            #expect(await eventually { await a.controller.observe().running?.streaming == true })
        }
    }

    /// A promotion that reserved timeline 4 starts timeline 4 (the numbers 2 and 3 taken by
    /// other members' promotions, which this standby never saw); a diverged old primary is
    /// rewound across the skipped numbers and streams on it.
    @Test func aPromotionStartsItsReservedTimelineAndTheOldPrimaryRewindsOntoIt() async throws {
        try await withPostgresNodes(["alpha", "beta"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            try await makeStreamingPair(primary: a, standby: b)
            let wal = b.controller.settings.dataDirectory + "/pg_wal/"
            let (timeline, lsn) = try await b.controller.promote(waitSeconds: 30, timeline: 4)
            #expect(timeline == 4)
            #expect(await b.controller.observe().running?.timeline == 4)
            #expect(!FileManager.default.fileExists(atPath: wal + "00000002.history"), "placeholders are removed")
            #expect(!FileManager.default.fileExists(atPath: wal + "00000003.history"))
            let fork = try #require(b.controller.switchPoint(of: 4))
            #expect(fork.parent == 1, "timeline 4 forked from 1: the numbers 2 and 3 were only skipped")
            #expect(fork.lsn <= lsn)
            #expect(b.controller.switchPoint(of: 3) == nil)

            _ = try await b.controller.query("create table after_failover (x int); insert into after_failover values (4)")
            _ = try await a.controller.query("create table diverged (x int); insert into diverged select generate_series(1, 1000)")
            await a.controller.stop(.immediate, timeout: .seconds(10))
            #expect(try await a.controller.rewind(from: b.upstream) == .rewound)
            try await b.controller.syncSlots([PostgresController.slotName(for: a.name)])
            try await a.startAndWait(.standby(following: b.upstream))
            let onTimeline4 = await eventually {
                let seen = await a.controller.observe()
                return seen.running?.streaming == true && seen.running?.timeline == 4
            }
            #expect(onTimeline4, "the rewound member streams on timeline 4")
            #expect(await eventually { (try? await a.controller.query("select x from after_failover")) == [["4"]] })
        }
    }

    @Test func aTimelineHistoryFilesSwitchPointIsItsLastEntrys() {
        #expect(PostgresController.switchPoint(inHistory: "1\t0/3000158\tno recovery target specified\n\n2\t0/5000000\tx\n")
                == TimelineSwitch(parent: 2, lsn: LSN(parsing: "0/5000000")!))
        #expect(PostgresController.switchPoint(inHistory: "# pgha: placeholder\n") == nil)
        #expect(PostgresController.switchPoint(inHistory: "garbage") == nil)
    }

    @Test func aTimelineHistoryFileNamesEveryAncestorsSwitchPoint() {
        let text = "1\t0/3000158\tno recovery target specified\n\n4\t0/5000000\tx\n"
        #expect(PostgresController.switchPoints(inHistory: text, of: 6) == [
            4: TimelineSwitch(parent: 1, lsn: LSN(parsing: "0/3000158")!),
            6: TimelineSwitch(parent: 4, lsn: LSN(parsing: "0/5000000")!)])
        #expect(PostgresController.switchPoints(inHistory: "# pgha: placeholder\n", of: 3).isEmpty)
    }

    @Test func followRepointsARunningStandbyWithoutARestart() async throws {
        try await withPostgresNodes(["alpha", "beta", "gamma"]) { nodes in
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            try await makeStreamingPair(primary: a, standby: b)
            try await c.controller.rebuild(from: a.upstream)
            try await a.controller.syncSlots(["beta", "gamma"])
            try await c.startAndWait(.standby(following: a.upstream))
            #expect(await eventually { await c.controller.observe().running?.streaming == true })
            // Promote b; repoint c at it with a reload.
            _ = try await b.controller.promote(waitSeconds: 30)
            try await b.controller.syncSlots(["gamma"])
            let pid = c.controller.postmasterPID
            try await c.controller.follow(b.upstream)
            let moved = await eventually {
                let seen = await c.controller.observe()
                return seen.running?.following == "beta" && seen.running?.streaming == true && seen.running?.timeline == 2
            }
            #expect(moved, "the standby streams from the new primary on timeline 2")
            #expect(c.controller.postmasterPID == pid, "follow reloads, never restarts")
            // A primary refuses to follow.
            await #expect {
                try await b.controller.follow(c.upstream)
            } throws: { error in
                (error as? PostgresError)?.kind == .running
            }
        }
    }
}
