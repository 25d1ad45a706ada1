import Foundation
import HACore
import Testing
@testable import ClusterStore

/// Store items as `list(prefix: "")` returns them, for `ClusterState.view(from:)`.
func storeItems(_ pairs: [(String, [UInt8])]) -> [(key: String, value: VersionedValue)] {
    pairs.enumerated().map { i, pair in
        (pair.0, VersionedValue(value: pair.1, createRevision: UInt64(i + 1), modRevision: UInt64(i + 1), version: 1))
    }
}

extension [UInt8] {
    /// The UTF-8 bytes of `text` (a value as stored).
    static func text(_ text: String) -> [UInt8] { Array(text.utf8) }
}

@Suite struct ClusterStateTests {
    static let now: UInt64 = 1_700_000_010_000

    static func member(_ name: String, reportedAgoMs: UInt64) -> MemberStatus {
        MemberStatus(name: name, raftID: 1, role: .replica, state: .running, host: "10.0.0.1", port: 5432,
                     receivedLSN: LSN(0x3000060), reportedAtUnixMs: now - reportedAgoMs)
    }

    static func view(_ pairs: [(String, [UInt8])], staleAfterMs: UInt64 = ClusterState.defaultStaleAfterMs)
        -> (view: ClusterView, problems: [String]) {
        ClusterState.view(from: storeItems(pairs), nowUnixMs: now, staleAfterMs: staleAfterMs)
    }

    @Test func oldReportsAreStaleAndFreshOnesAreMembers() {
        let fresh = Self.member("pg1", reportedAgoMs: 1_000)
        let edge = Self.member("pg2", reportedAgoMs: ClusterState.defaultStaleAfterMs)
        let old = Self.member("pg3", reportedAgoMs: ClusterState.defaultStaleAfterMs + 1)
        let (view, problems) = Self.view([("members/pg1", ClusterState.encode(fresh)), ("members/pg2", ClusterState.encode(edge)),
                                          ("members/pg3", ClusterState.encode(old))])
        #expect(problems.isEmpty)
        #expect(view.members == ["pg1": fresh, "pg2": edge], "a report exactly staleAfterMs old still counts")
        #expect(view.staleMembers == ["pg3": old])
        #expect(ClusterState.defaultStaleAfterMs == 5_000)

        let strict = Self.view([("members/pg1", ClusterState.encode(fresh))], staleAfterMs: 500).view
        #expect(strict.members.isEmpty && strict.staleMembers == ["pg1": fresh])
    }

    @Test func aReportFromTheFutureIsFresh() {
        // Another host's wall clock ahead of ours must not underflow into "stale".
        let ahead = Self.member("pg1", reportedAgoMs: 0).with { $0.reportedAtUnixMs = Self.now + 60_000 }
        #expect(Self.view([("members/pg1", ClusterState.encode(ahead))]).view.members["pg1"] == ahead)
    }

    @Test func initializeIsDecimalText() {
        let (view, problems) = Self.view([("initialize", .text("7301234567890123457"))])
        #expect(problems.isEmpty)
        #expect(view.systemIdentifier == 7_301_234_567_890_123_457)
        #expect(Self.view([]).view.systemIdentifier == nil)
    }

    @Test func statusSetsTheLastPrimaryAndItsPosition() {
        let status = PrimaryPosition(lsn: LSN(0x1_0500_0028), timeline: 4, member: "pg1")
        let (view, problems) = Self.view([("status", ClusterState.encode(status))])
        #expect(problems.isEmpty)
        #expect(view.lastPrimaryLSN == LSN(0x1_0500_0028) && view.lastPrimary == "pg1")
        let json = String(decoding: ClusterState.encode(status), as: UTF8.self)
        #expect(json.contains("\"lsn\":\"1\\/5000028\"") && json.contains("\"timeline\":4"), "\(json)")
    }

    @Test func historyRoundTrips() {
        let rows = [HistoryRow(timeline: 1, lsn: .zero, atUnixMs: 1, reason: "bootstrap", oldPrimary: nil, newPrimary: "pg1"),
                    HistoryRow(timeline: 2, lsn: LSN(0x3000060), atUnixMs: 2, reason: "failover", oldPrimary: "pg1", newPrimary: "pg2")]
        let (view, problems) = Self.view([("history", ClusterState.encode(rows))])
        #expect(problems.isEmpty)
        #expect(view.history == rows && view.latestTimeline == 2)
        let json = String(decoding: ClusterState.encode(rows), as: UTF8.self)
        #expect(json.contains("\"old_primary\":\"pg1\"") && json.contains("\"new_primary\":\"pg2\"") && json.contains("\"at_ms\":2"))
    }

    @Test func historyRowsAreInTimelineOrderWhateverTheStoredOrder() {
        let rows = [HistoryRow(timeline: 3, lsn: LSN(0x3000100), atUnixMs: 1, reason: "failover", oldPrimary: "pg1", newPrimary: "pg3"),
                    HistoryRow(timeline: 2, lsn: LSN(0x3000060), atUnixMs: 2, reason: "recorded by the primary", oldPrimary: "pg3", newPrimary: "pg1")]
        let (view, _) = Self.view([("history", ClusterState.encode(rows))])
        #expect(view.history.map(\.timeline) == [2, 3] && view.latestTimeline == 3)
    }

    @Test func aPartialConfigKeepsTheDefaultsForTheRest() {
        let partial = Self.view([("config", .text(#"{"maximum_lag_on_failover": 0, "use_pg_rewind": false}"#))])
        #expect(partial.problems.isEmpty)
        var expected = DynamicConfig()
        expected.maximumLagOnFailover = 0
        expected.usePgRewind = false
        #expect(partial.view.config == expected)
        #expect(partial.view.config.primaryStartTimeoutMs == 300_000 && partial.view.config.transferTimeoutMs == 3_000)
        #expect(partial.view.config.rebuildOnRewindFailure)

        #expect(Self.view([("config", .text("{}"))]).view.config == DynamicConfig())
        #expect(Self.view([("config", .text(#"{"some_future_setting": 1}"#))]).view.config == DynamicConfig())
        var custom = DynamicConfig()
        custom.transferTimeoutMs = 10_000
        custom.rebuildOnRewindFailure = false
        #expect(Self.view([("config", ClusterState.encode(custom))]).view.config == custom)
    }

    @Test func malformedValuesAreSkippedAndNamed() {
        let good = Self.member("pg1", reportedAgoMs: 100)
        var badLSN = String(decoding: ClusterState.encode(Self.member("pg2", reportedAgoMs: 100)), as: UTF8.self)
        for written in [#""0\/3000060""#, #""0/3000060""#] { badLSN = badLSN.replacingOccurrences(of: written, with: #""3000060""#) }
        #expect(badLSN.contains(#""3000060""#))
        let (view, problems) = Self.view([
            ("initialize", .text("not-a-number")),
            ("members/pg1", ClusterState.encode(good)),
            ("members/pg2", .text(badLSN)),
            ("members/pg3", .text("{")),
            ("history", .text("[1]")),
            ("status", .text("{}")),
            ("config", .text(#"{"use_pg_rewind": "yes"}"#)),
            ("failover", .text("?")),
            ("sync", .text("?")),
            // Not part of the view: ignored without complaint.
            ("raft-members/2", .text("?")),
            ("somewhere/else", .text("?")), ("members/", .text("?")),
        ])
        #expect(problems.count == 8, "\(problems)")
        for key in ["initialize", "members/pg2", "members/pg3", "history", "status", "config", "failover", "sync"] {
            #expect(problems.contains { $0.hasPrefix(key + ": ") }, "\(key) is not named in \(problems)")
        }
        #expect(problems.contains("initialize: not a system identifier"))
        #expect(view.systemIdentifier == nil && view.history.isEmpty && view.lastPrimaryLSN == nil && view.lastPrimary == nil)
        #expect(view.config == DynamicConfig())
        #expect(view.members == ["pg1": good], "the good report is kept")
        #expect(view.staleMembers.isEmpty)
    }
}

/// Timeline numbers: each promotion reserves one above everything seen.
@Suite struct TimelineReservationTests {
    @Test func theNextNumberIsAboveTheReservationTheHistoryAndTheCandidatesOwn() {
        let row = { (tl: UInt32) in HistoryRow(timeline: tl, lsn: LSN(1), atUnixMs: 0, reason: "failover", oldPrimary: nil, newPrimary: "a") }
        #expect(TimelineReservation.next(after: nil, history: [], own: 1) == 2)
        #expect(TimelineReservation.next(after: nil, history: [row(2), row(3)], own: 1) == 4,
                "a standby that never saw timelines 2 and 3 skips them")
        #expect(TimelineReservation.next(after: TimelineReservation(timeline: 5, member: "b"), history: [row(3)], own: 3) == 6,
                "a reserved number is never reused, even if its promotion never happened")
        #expect(TimelineReservation.next(after: nil, history: [], own: 7) == 8)
        #expect(TimelineReservation.next(after: nil, history: [row(4), row(2)], own: 1) == 5,
                "rows out of timeline order (a late recording) still count")
    }

    @Test func theTimelineKeyIsPartOfTheLayoutButNotOfTheView() {
        #expect(ClusterKey(path: "timeline") == .timeline)
        #expect(ClusterKey.timeline.path == "timeline")
        let value = VersionedValue(value: ClusterState.encode(TimelineReservation(timeline: 3, member: "a")), createRevision: 1, modRevision: 1, version: 1)
        var reader = ClusterState.Reader()
        #expect(reader.view(from: [("timeline", value)], nowUnixMs: 0).problems.isEmpty)
    }
}

extension MemberStatus {
    /// A copy changed by `change`.
    func with(_ change: (inout MemberStatus) -> Void) -> MemberStatus {
        var copy = self
        change(&copy)
        return copy
    }
}
