import Testing
@testable import HACore

/// `ClusterView`'s reading of `history`, and how a primary completes it.
@Suite struct ClusterViewTests {
    static func row(_ timeline: UInt32, parent: UInt32?, primary: String = "a") -> HistoryRow {
        HistoryRow(timeline: timeline, lsn: LSN(UInt64(timeline) * 100), atUnixMs: 0, reason: "failover",
                   oldPrimary: nil, newPrimary: primary, parent: parent)
    }

    @Test func anAncestryIsRecordedWhenEveryParentDownToTimelineOneHasARow() {
        let view = ClusterView(history: [Self.row(2, parent: 1), Self.row(4, parent: 2), Self.row(6, parent: 5)])
        #expect(view.recordsAncestry(of: 1), "timeline 1 needs no row")
        #expect(view.recordsAncestry(of: 4))
        #expect(!view.recordsAncestry(of: 6), "timeline 5 has no row")
        #expect(!view.recordsAncestry(of: 3), "no row at all")
        #expect(ClusterView(history: [Self.row(3, parent: nil)]).recordsAncestry(of: 3), "rows without parents end the path")
    }

    @Test func completingAddsTheOwnRowAndEveryMissingAncestorInTimelineOrder() {
        let own = Self.row(6, parent: 5, primary: "c")
        let switches: [UInt32: TimelineSwitch] = [2: TimelineSwitch(parent: 1, lsn: LSN(200)), 5: TimelineSwitch(parent: 2, lsn: LSN(500)),
                                                 6: TimelineSwitch(parent: 5, lsn: LSN(600))]
        let stored = [Self.row(3, parent: 1, primary: "b"), Self.row(2, parent: 1)]
        let rows = try! #require(HistoryRow.completed(stored, own: own, switches: switches))
        #expect(rows.map(\.timeline) == [2, 3, 5, 6])
        let five = try! #require(rows.first { $0.timeline == 5 })
        #expect(five.parent == 2 && five.lsn == LSN(500) && five.newPrimary == HistoryRow.unknownPrimary)
        #expect(rows.last == own)
        #expect(HistoryRow.completed(rows, own: own, switches: switches) == nil, "nothing left to add")
    }
}
